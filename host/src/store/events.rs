//! Stored events: per session, numbered from 1.

use rusqlite::params;

use super::{Store, StoreError};

/// Events kept per session; older ones are pruned.
pub const EVENTS_KEPT: u64 = 20_000;

impl Store {
    /// The highest event seq of `session` (0 if none).
    pub fn event_last_seq(&self, session: &str) -> Result<u64, StoreError> {
        Ok(self.conn().query_row(
            "SELECT coalesce(max(seq), 0) FROM events WHERE session = ?1",
            params![session],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Insert events (seq, ts, type, JSON body) in one transaction.
    pub fn event_insert(&self, session: &str, events: &[(u64, u64, &str, String)]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt =
                tx.prepare_cached("INSERT INTO events (session, seq, ts, type, body) VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for (seq, ts, kind, body) in events {
                stmt.execute(params![session, *seq as i64, *ts as i64, kind, body])?;
            }
            if let Some((last, ..)) = events.last()
                && last % 1000 == 0
                && *last > EVENTS_KEPT
            {
                tx.execute(
                    "DELETE FROM events WHERE session = ?1 AND seq <= ?2",
                    params![session, (*last - EVENTS_KEPT) as i64],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Event bodies of `session` with seq > `after`, at most `limit`.
    pub fn event_after(&self, session: &str, after: u64, limit: usize) -> Result<Vec<(u64, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT seq, body FROM events WHERE session = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")?;
        let rows = stmt.query_map(params![session, after as i64, limit as i64], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The oldest retained event seq of `session` (None if none).
    pub fn event_first_seq(&self, session: &str) -> Result<Option<u64>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT min(seq) FROM events WHERE session = ?1",
                params![session],
                |r| r.get::<_, Option<i64>>(0),
            )?
            .map(|v| v as u64))
    }
}

impl Store {
    /// The last stored `state` event of `session`, if any.
    pub fn event_last_state(&self, session: &str) -> Result<Option<serde_json::Value>, StoreError> {
        use rusqlite::OptionalExtension;
        let body: Option<String> = self
            .conn()
            .query_row(
                "SELECT body FROM events WHERE session = ?1 AND type = 'state' ORDER BY seq DESC LIMIT 1",
                params![session],
                |r| r.get(0),
            )
            .optional()?;
        Ok(body.and_then(|b| serde_json::from_str(&b).ok()))
    }
}
