//! Messages of the terminal stream protocol.

use serde::{Deserialize, Serialize};

/// Client → server messages.
#[derive(Debug, Deserialize)]
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

/// `session-meta`, sent first on connect.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionMeta {
    /// Always `session-meta`.
    #[serde(rename = "type")]
    pub kind: &'static str,
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

/// An error message (the connection stays open).
pub fn error(code: &str, message: impl Into<String>) -> String {
    serde_json::json!({"type": "error", "code": code, "message": message.into()}).to_string()
}

/// RFC 3339 time of `ms` since the epoch.
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)).to_string()
}
