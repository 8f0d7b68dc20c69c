//! Queued messages: one FIFO per session, ordered by insertion (rowid).

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{MessageStatus, Store, StoreError};
use crate::events::StoredEvent;

/// A message as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageRow {
    /// Id (`msg_…`).
    pub id: String,
    /// Session name.
    pub session: String,
    /// The text.
    pub text: String,
    /// Metadata (a JSON object).
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// queued, running, done, failed, aborted or cancelled.
    pub status: MessageStatus,
    /// Dedupe key, if given.
    pub idempotency_key: Option<String>,
    /// Where it came from (`api`, `steer`, `webhook:<plugin>`, …).
    pub source: String,
    /// When queued (ms).
    pub created_at: u64,
    /// When delivered (ms).
    pub started_at: Option<u64>,
    /// When finished (ms).
    pub finished_at: Option<u64>,
    /// The agent's answer, when done.
    pub response: Option<String>,
    /// Why it failed, was aborted or cancelled.
    pub error: Option<String>,
}

const COLS: &str = "id, session, text, metadata, status, idempotency_key, source, created_at, started_at, finished_at, response, error";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
    let meta: String = r.get(3)?;
    Ok(MessageRow {
        id: r.get(0)?,
        session: r.get(1)?,
        text: r.get(2)?,
        metadata: serde_json::from_str(&meta).unwrap_or(serde_json::Value::Null),
        status: r.get(4)?,
        idempotency_key: r.get(5)?,
        source: r.get(6)?,
        created_at: r.get::<_, i64>(7)? as u64,
        started_at: r.get::<_, Option<i64>>(8)?.map(|v| v as u64),
        finished_at: r.get::<_, Option<i64>>(9)?.map(|v| v as u64),
        response: r.get(10)?,
        error: r.get(11)?,
    })
}

/// Outcome of an enqueue.
#[derive(Debug, Clone)]
pub enum Enqueued {
    /// A new message, at this 1-based queue position.
    New(MessageRow, usize),
    /// The idempotency key matched an existing message.
    Existing(MessageRow),
    /// The queue is at its cap.
    Full(usize),
}

/// A new message to enqueue.
pub struct NewMessage<'a> {
    /// Id to use.
    pub id: &'a str,
    /// Session.
    pub session: &'a str,
    /// Text.
    pub text: &'a str,
    /// Metadata JSON object.
    pub metadata: &'a serde_json::Value,
    /// Dedupe key.
    pub idempotency_key: Option<&'a str>,
    /// Source tag.
    pub source: &'a str,
    /// Queue cap.
    pub cap: usize,
}

impl Store {
    /// Insert a queued message (committed before returning), deduping by key
    /// and enforcing the cap, in one transaction.
    /// `event` builds the `message-queued` event row for a new message; it
    /// is inserted in the same transaction, so the message and its event
    /// commit together (one fsync).
    pub fn message_enqueue(
        &self,
        m: &NewMessage<'_>,
        event: impl FnOnce(&MessageRow, usize) -> StoredEvent,
    ) -> Result<Enqueued, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if let Some(key) = m.idempotency_key {
            let existing = tx
                .query_row(
                    &format!("SELECT {COLS} FROM messages WHERE session = ?1 AND idempotency_key = ?2"),
                    params![m.session, key],
                    row,
                )
                .optional()?;
            if let Some(e) = existing {
                return Ok(Enqueued::Existing(e));
            }
        }
        let cached = self.queued().get(m.session).copied();
        let queued: usize = match cached {
            Some(n) => n,
            None => tx.query_row(
                "SELECT count(*) FROM messages WHERE session = ?1 AND status = ?2",
                params![m.session, MessageStatus::Queued],
                |r| r.get(0),
            )?,
        };
        self.queued().insert(m.session.to_string(), queued);
        if queued >= m.cap {
            return Ok(Enqueued::Full(queued));
        }
        let now = crate::util::now_ms() as i64;
        tx.execute(
            "INSERT INTO messages (id, session, text, metadata, status, idempotency_key, source, created_at)
             VALUES (?1, ?2, ?3, ?4, ?8, ?5, ?6, ?7)",
            params![
                m.id,
                m.session,
                m.text,
                m.metadata.to_string(),
                m.idempotency_key,
                m.source,
                now,
                MessageStatus::Queued,
            ],
        )?;
        let inserted = tx.query_row(
            &format!("SELECT {COLS} FROM messages WHERE id = ?1"),
            params![m.id],
            row,
        )?;
        let e = event(&inserted, queued + 1);
        tx.execute(
            "INSERT INTO events (session, seq, ts, type, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![m.session, e.seq as i64, e.ts as i64, e.kind, e.body],
        )?;
        tx.commit()?;
        self.queued().insert(m.session.to_string(), queued + 1);
        Ok(Enqueued::New(inserted, queued + 1))
    }

    /// One message of `session`.
    pub fn message_get(&self, session: &str, id: &str) -> Result<Option<MessageRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLS} FROM messages WHERE session = ?1 AND id = ?2"),
                params![session, id],
                row,
            )
            .optional()?)
    }

    /// The oldest queued message of `session`.
    pub fn message_next(&self, session: &str) -> Result<Option<MessageRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLS} FROM messages WHERE session = ?1 AND status = ?2 ORDER BY rowid LIMIT 1"),
                params![session, MessageStatus::Queued],
                row,
            )
            .optional()?)
    }

    /// Queued messages of `session`, oldest first.
    pub fn message_queue(&self, session: &str) -> Result<Vec<MessageRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLS} FROM messages WHERE session = ?1 AND status = ?2 ORDER BY rowid"
        ))?;
        let rows = stmt.query_map(params![session, MessageStatus::Queued], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The last `limit` messages of `session` that left the queue, oldest first.
    pub fn message_history(&self, session: &str, limit: usize) -> Result<Vec<MessageRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLS} FROM (SELECT rowid AS r, * FROM messages WHERE session = ?1 AND status != ?3 ORDER BY rowid DESC LIMIT ?2) ORDER BY r"
        ))?;
        let rows = stmt.query_map(params![session, limit as i64, MessageStatus::Queued], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Move `id` from `from` to `to` (with timestamps, response, error);
    /// false if it was not in `from`. A move the queue does not allow
    /// ([`MessageStatus::transition`]) is an error, whatever the row says.
    pub fn message_transition(
        &self,
        id: &str,
        from: MessageStatus,
        to: MessageStatus,
        response: Option<&str>,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        MessageStatus::transition(from, to)?;
        let now = crate::util::now_ms() as i64;
        let started = (to == MessageStatus::Running).then_some(now);
        let finished = to.is_final().then_some(now);
        let conn = self.conn();
        let session: Option<String> = conn
            .query_row(
                "UPDATE messages SET status = ?3,
                 started_at = CASE WHEN ?8 THEN NULL ELSE coalesce(?4, started_at) END,
                 finished_at = coalesce(?5, finished_at),
                 response = coalesce(?6, response), error = coalesce(?7, error)
             WHERE id = ?1 AND status = ?2 RETURNING session",
                params![
                    id,
                    from,
                    to,
                    started,
                    finished,
                    response,
                    error,
                    to == MessageStatus::Queued
                ],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(s) = &session
            && (from == MessageStatus::Queued) != (to == MessageStatus::Queued)
        {
            let mut q = self.queued();
            if let Some(n) = q.get_mut(s) {
                *n = if to == MessageStatus::Queued {
                    *n + 1
                } else {
                    n.saturating_sub(1)
                };
            }
        }
        Ok(session.is_some())
    }

    /// Cancel every queued message of `session`; the ids actually cancelled
    /// (one that started meanwhile is not among them).
    pub fn message_cancel_all(&self, session: &str, reason: &str) -> Result<Vec<String>, StoreError> {
        let mut cancelled = Vec::new();
        for m in self.message_queue(session)? {
            if self.message_transition(
                &m.id,
                MessageStatus::Queued,
                MessageStatus::Cancelled,
                None,
                Some(reason),
            )? {
                cancelled.push(m.id);
            }
        }
        Ok(cancelled)
    }

    /// After a restart: running messages become queued again (re-delivery),
    /// or failed (`daemon restarted`) unless their session is one of
    /// `alive` (its agent still runs: the session reconciles the turn).
    /// Returns how many changed.
    pub fn message_recover_running(&self, redeliver: bool, alive: &[String]) -> Result<usize, StoreError> {
        use MessageStatus::{Failed, Queued, Running};
        let to = if redeliver { Queued } else { Failed };
        MessageStatus::transition(Running, to)?;
        let conn = self.conn();
        let n = if redeliver {
            conn.execute(
                "UPDATE messages SET status = ?1, started_at = NULL WHERE status = ?2",
                params![to, Running],
            )?
        } else {
            let alive = serde_json::to_string(alive).unwrap_or_else(|_| "[]".into());
            conn.execute(
                "UPDATE messages SET status = ?3, error = 'daemon restarted', finished_at = ?1
                 WHERE status = ?4 AND session NOT IN (SELECT value FROM json_each(?2))",
                params![crate::util::now_ms() as i64, alive, to, Running],
            )?
        };
        drop(conn);
        self.queued().clear();
        Ok(n)
    }

    /// The running message of `session`, if one is.
    pub fn message_running(&self, session: &str) -> Result<Option<MessageRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLS} FROM messages WHERE session = ?1 AND status = ?2 ORDER BY rowid LIMIT 1"),
                params![session, MessageStatus::Running],
                row,
            )
            .optional()?)
    }

    /// Queue depth per session (for metrics).
    pub fn message_counts(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT session, status, count(*) FROM messages GROUP BY session, status")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
