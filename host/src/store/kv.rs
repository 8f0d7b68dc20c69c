//! Per-plugin key-value data.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// Longest key accepted, in bytes.
pub const KV_MAX_KEY: usize = 512;
/// Largest value accepted, in bytes.
pub const KV_MAX_VALUE: usize = 1 << 20;

impl Store {
    /// The value of `key` in `plugin`'s namespace.
    pub fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT value FROM kv WHERE plugin = ?1 AND key = ?2",
                params![plugin, key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Set `key` in `plugin`'s namespace.
    pub fn kv_set(&self, plugin: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if key.len() > KV_MAX_KEY {
            return Err(StoreError::Limit(format!(
                "key is {} bytes; the limit is {KV_MAX_KEY}",
                key.len()
            )));
        }
        if value.len() > KV_MAX_VALUE {
            return Err(StoreError::Limit(format!(
                "value is {} bytes; the limit is {KV_MAX_VALUE}",
                value.len()
            )));
        }
        self.conn().execute(
            "INSERT INTO kv (plugin, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value",
            params![plugin, key, value],
        )?;
        Ok(())
    }

    /// Delete `key`; whether it existed.
    pub fn kv_delete(&self, plugin: &str, key: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .execute("DELETE FROM kv WHERE plugin = ?1 AND key = ?2", params![plugin, key])?
            > 0)
    }

    /// Keys of `plugin` starting with `prefix`, sorted, at most `limit`.
    pub fn kv_list(&self, plugin: &str, prefix: &str, limit: u32) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT key FROM kv WHERE plugin = ?1 AND substr(key, 1, length(?2)) = ?2 ORDER BY key LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![plugin, prefix, limit.min(10_000)], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_private() {
        let s = Store::in_memory().unwrap();
        s.kv_set("a", "k", b"1").unwrap();
        s.kv_set("b", "k", b"2").unwrap();
        s.kv_set("a", "k2", b"3").unwrap();
        assert_eq!(s.kv_get("a", "k").unwrap().unwrap(), b"1");
        assert_eq!(s.kv_get("b", "k").unwrap().unwrap(), b"2");
        assert_eq!(s.kv_list("a", "k", 10).unwrap(), vec!["k", "k2"]);
        assert!(s.kv_delete("a", "k").unwrap());
        assert!(!s.kv_delete("a", "k").unwrap());
        assert!(s.kv_set("a", &"x".repeat(600), b"").is_err());
    }
}
