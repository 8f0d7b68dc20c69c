//! A queued message's status, and the moves between statuses the queue
//! allows: a pure state machine the store enforces on every update.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// Waiting its turn.
    Queued,
    /// Delivered; the turn runs.
    Running,
    /// The turn completed.
    Done,
    /// The turn failed (timeout, agent exit, delivery error, daemon restart).
    Failed,
    /// The turn was interrupted.
    Aborted,
    /// Removed before it started.
    Cancelled,
}

/// A move the queue does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a message cannot go from {from} to {to}")]
pub struct Illegal {
    /// Where it was.
    pub from: MessageStatus,
    /// Where it was asked to go.
    pub to: MessageStatus,
}

impl MessageStatus {
    /// Every status.
    pub const ALL: [MessageStatus; 6] = [
        MessageStatus::Queued,
        MessageStatus::Running,
        MessageStatus::Done,
        MessageStatus::Failed,
        MessageStatus::Aborted,
        MessageStatus::Cancelled,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Running => "running",
            MessageStatus::Done => "done",
            MessageStatus::Failed => "failed",
            MessageStatus::Aborted => "aborted",
            MessageStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the message has left the queue for good.
    pub fn is_final(self) -> bool {
        !matches!(self, MessageStatus::Queued | MessageStatus::Running)
    }

    /// Whether the queue allows `from` → `to`:
    /// queued → running (its turn starts), cancelled (cancel, reset) or
    /// failed (the agent exited first); running → done, failed, aborted, or
    /// queued again (re-delivery after a daemon restart). Final statuses
    /// never change.
    pub fn transition(from: MessageStatus, to: MessageStatus) -> Result<(), Illegal> {
        use MessageStatus::*;
        match (from, to) {
            (Queued, Running | Cancelled | Failed) | (Running, Done | Failed | Aborted | Queued) => Ok(()),
            _ => Err(Illegal { from, to }),
        }
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for MessageStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        MessageStatus::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown message status {s:?}"))
    }
}

impl ToSql for MessageStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for MessageStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = value.as_str()?;
        s.parse().map_err(|e: String| FromSqlError::Other(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::MessageStatus::*;
    use super::*;

    #[test]
    fn every_legal_and_illegal_move() {
        let legal = [
            (Queued, Running),
            (Queued, Cancelled),
            (Queued, Failed),
            (Running, Done),
            (Running, Failed),
            (Running, Aborted),
            (Running, Queued),
        ];
        for from in MessageStatus::ALL {
            for to in MessageStatus::ALL {
                let ok = MessageStatus::transition(from, to).is_ok();
                assert_eq!(ok, legal.contains(&(from, to)), "{from} -> {to}");
            }
        }
        for s in MessageStatus::ALL {
            assert_eq!(s.is_final(), !matches!(s, Queued | Running));
        }
    }

    #[test]
    fn names_round_trip_through_sql_and_json() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for s in MessageStatus::ALL {
            let back: MessageStatus = conn.query_row("SELECT ?1", [s], |r| r.get(0)).unwrap();
            assert_eq!(back, s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        let bad: rusqlite::Result<MessageStatus> = conn.query_row("SELECT 'lost'", [], |r| r.get(0));
        assert!(bad.is_err());
    }
}
