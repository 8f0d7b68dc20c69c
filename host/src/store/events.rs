//! Stored events: per session, numbered from 1.

use rusqlite::params;

use super::{Store, StoreError};
use crate::events::{Envelope, Event, StateInfo, StoredEvent};

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

    /// Insert events in one transaction.
    pub fn event_insert(&self, session: &str, events: &[StoredEvent]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt =
                tx.prepare_cached("INSERT INTO events (session, seq, ts, type, body) VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for e in events {
                stmt.execute(params![session, e.seq as i64, e.ts as i64, e.kind, e.body])?;
            }
            if let Some(last) = events.last().map(|e| e.seq)
                && last % 1000 == 0
                && last > EVENTS_KEPT
            {
                tx.execute(
                    "DELETE FROM events WHERE session = ?1 AND seq <= ?2",
                    params![session, (last - EVENTS_KEPT) as i64],
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
    /// Whether `session` has a stored event of type `kind`.
    pub fn event_has_type(&self, session: &str, kind: &str) -> Result<bool, StoreError> {
        Ok(self.conn().query_row(
            "SELECT EXISTS (SELECT 1 FROM events WHERE session = ?1 AND type = ?2)",
            params![session, kind],
            |r| r.get(0),
        )?)
    }

    /// The seq of the last `message-started` of message `id` in `session`.
    pub fn event_message_started(&self, session: &str, id: &str) -> Result<Option<u64>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT max(seq) FROM events WHERE session = ?1 AND type = ?3
                 AND json_extract(body, '$.id') = ?2",
                params![session, id, Event::MessageStarted { id: String::new() }.kind()],
                |r| r.get::<_, Option<i64>>(0),
            )?
            .map(|v| v as u64))
    }

    /// The state of the last stored `state` event of `session`, if any.
    pub fn event_last_state(&self, session: &str) -> Result<Option<StateInfo>, StoreError> {
        use rusqlite::OptionalExtension;
        let body: Option<String> = self
            .conn()
            .query_row(
                "SELECT body FROM events WHERE session = ?1 AND type = ?2 ORDER BY seq DESC LIMIT 1",
                params![session, Event::state(&StateInfo::starting()).kind()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(body.and_then(|b| match Envelope::parse(0, b) {
            Envelope {
                event: Event::State { value, source, tool },
                ts,
                ..
            } => Some(StateInfo {
                value,
                source,
                tool,
                ts,
            }),
            _ => None,
        }))
    }
}
