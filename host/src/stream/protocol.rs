//! Messages of the terminal stream protocol.

use serde::{Deserialize, Serialize};

use crate::events::StateInfo;
use crate::terminal::Snapshot;

/// Client → server messages.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Start (or restart) delivery after `lastSeq` (`null`: everything retained).
    Resume {
        /// Last seq the client holds.
        #[serde(rename = "lastSeq")]
        last_seq: Option<u64>,
        /// Optional: the epoch the cursor belongs to; a different epoch
        /// replays from the first retained chunk.
        #[serde(default)]
        epoch: Option<String>,
    },
    /// Ask for a screen snapshot.
    SnapshotRequest {},
    /// Type text literally.
    Input {
        /// The text.
        data: String,
    },
    /// Press tmux keys.
    Keys {
        /// Key names.
        keys: Vec<String>,
    },
    /// Resize the pane.
    Resize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// Answer a permission request.
    PermissionAnswer {
        /// The request.
        #[serde(rename = "permissionId")]
        permission_id: String,
        /// `allow`, `deny` or `always`.
        decision: String,
    },
}

/// Server → client text messages.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage {
    /// Sent first on connect.
    SessionMeta(SessionMeta),
    /// The agent state, sent on connect and on every change.
    State(StateInfo),
    /// Chunks `from..=to` were dropped by retention.
    Gap {
        /// First missing seq.
        from: u64,
        /// Last missing seq.
        to: u64,
    },
    /// A request failed; the connection stays open.
    Error {
        /// Machine-readable code (`bad_message`, `bad_cursor`, …).
        code: String,
        /// What went wrong.
        message: String,
    },
    /// The session ended; a close frame follows.
    Exit {
        /// The agent's exit code, if it exited by itself.
        code: Option<i32>,
    },
    /// The screen, answering `snapshot-request`.
    Snapshot(Snapshot),
}

impl ServerMessage {
    /// An [`ServerMessage::Error`].
    pub fn error(code: &str, message: impl Into<String>) -> ServerMessage {
        ServerMessage::Error {
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// The JSON text of the message.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

/// The body of `session-meta`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionMeta {
    /// Session name.
    pub name: String,
    /// Provider.
    pub provider: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// Width.
    pub cols: u16,
    /// Height.
    pub rows: u16,
    /// Log epoch.
    pub epoch: String,
    /// First retained seq.
    pub first_seq: u64,
    /// Last seq.
    pub last_seq: u64,
}

/// RFC 3339 time of `ms` since the epoch.
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_messages_keep_their_wire_shape() {
        let v = |m: ServerMessage| serde_json::from_str::<serde_json::Value>(&m.to_json()).unwrap();
        assert_eq!(
            v(ServerMessage::Gap { from: 1, to: 9 }),
            json!({"type": "gap", "from": 1, "to": 9})
        );
        assert_eq!(
            v(ServerMessage::Exit { code: None }),
            json!({"type": "exit", "code": null})
        );
        assert_eq!(
            v(ServerMessage::error("bad_message", "no")),
            json!({"type": "error", "code": "bad_message", "message": "no"})
        );
        let state = StateInfo {
            value: crate::events::AgentState::Idle,
            source: crate::events::StateSource::Screen,
            tool: None,
            ts: 5,
        };
        assert_eq!(
            v(ServerMessage::State(state)),
            json!({"type": "state", "value": "idle", "source": "screen", "tool": null, "ts": 5})
        );
        let meta = SessionMeta {
            name: "a".into(),
            provider: "shell".into(),
            created_at: rfc3339(0),
            cols: 80,
            rows: 24,
            epoch: "e".into(),
            first_seq: 1,
            last_seq: 0,
        };
        assert_eq!(
            v(ServerMessage::SessionMeta(meta)),
            json!({"type": "session-meta", "name": "a", "provider": "shell", "createdAt": "1970-01-01T00:00:00Z",
                   "cols": 80, "rows": 24, "epoch": "e", "firstSeq": 1, "lastSeq": 0})
        );
    }
}
