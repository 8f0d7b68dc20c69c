//! The demo agent's JSONL transcript: the structured channel the `demo`
//! provider plugin reads. One JSON object per line, `"type"` first and `"ts"`
//! (milliseconds since the Unix epoch) second, each line written with one
//! `write` call and flushed at once.

use serde::Serialize;
use serde_json::Value;
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

/// One transcript record (without its `ts`, which is added when written).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The agent started in `cwd`.
    SessionStart {
        /// Absolute working directory.
        cwd: String,
        /// Transcript format version, `"1"`.
        version: &'static str,
    },
    /// A user message was read.
    User {
        /// Turn number, from 1.
        turn: u64,
        /// The message as typed.
        text: String,
    },
    /// One streamed word of the reply (with its trailing space, except the last).
    AssistantDelta {
        /// Turn number.
        turn: u64,
        /// The word.
        text: String,
    },
    /// The agent calls a tool.
    ToolCall {
        /// Turn number.
        turn: u64,
        /// `call_<turn>_<k>`.
        id: String,
        /// `list_files`, `read_file`, `run_command`, `write_file` or `sleep`.
        name: &'static str,
        /// The tool's arguments.
        input: Value,
    },
    /// A tool finished.
    ToolResult {
        /// Turn number.
        turn: u64,
        /// The id of the matching `tool_call`.
        id: String,
        /// What the tool printed or the error.
        output: String,
        /// Whether the call failed (including denied or aborted).
        is_error: bool,
    },
    /// The agent waits for the user to allow a tool call.
    PermissionRequest {
        /// Turn number.
        turn: u64,
        /// `perm_<turn>_<k>`.
        id: String,
        /// The tool asking, e.g. `write_file`.
        tool: &'static str,
        /// E.g. `write_file hello.txt (9 bytes)`.
        description: String,
    },
    /// The user's answer to a permission request.
    PermissionAnswer {
        /// Turn number.
        turn: u64,
        /// The id of the matching `permission_request`.
        id: String,
        /// `allow`, `deny` or `always`.
        decision: &'static str,
    },
    /// A file was written.
    FileEdit {
        /// Turn number.
        turn: u64,
        /// Path relative to the working directory, as the user gave it.
        path: String,
        /// E.g. `created hello.txt (9 bytes)`.
        description: String,
        /// Unified diff of the change.
        diff: String,
    },
    /// The whole reply, after streaming finished.
    AssistantMessage {
        /// Turn number.
        turn: u64,
        /// The full reply.
        text: String,
    },
    /// Token accounting of a finished turn.
    Usage {
        /// Turn number.
        turn: u64,
        /// Input tokens.
        input_tokens: u64,
        /// Output tokens.
        output_tokens: u64,
    },
    /// A turn finished normally (`status` is `done`).
    TurnEnd {
        /// Turn number.
        turn: u64,
        /// Always `done`.
        status: &'static str,
    },
    /// A turn was aborted by Ctrl-C.
    TurnAborted {
        /// Turn number.
        turn: u64,
    },
}

impl Event {
    /// Serialise as one JSONL line (with the trailing newline): `type`, then
    /// `ts`, then the event's fields in declaration order.
    pub fn to_line(&self, ts: u64) -> String {
        let json = serde_json::to_string(self).expect("transcript events always serialise");
        // Internally tagged enums put the tag first: `{"type":"<kind>"` then
        // either `,<fields>}` or `}`. Splice `ts` in right after the tag.
        let tag_end = json[9..].find('"').map(|i| 9 + i + 1).expect("tag is first");
        debug_assert!(json.starts_with("{\"type\":\""));
        format!("{},\"ts\":{ts}{}\n", &json[..tag_end], &json[tag_end..])
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Where transcript lines go; disabled when no path was given. A write error
/// is reported once on stderr and disables the transcript (the agent goes on).
pub struct Transcript {
    sink: Option<Box<dyn Write + Send>>,
}

impl Transcript {
    /// A transcript that records nothing.
    pub fn disabled() -> Self {
        Transcript { sink: None }
    }

    /// A transcript writing to `sink` (an append-mode file in production).
    /// The sink should be unbuffered: each line is written with one call.
    pub fn new(sink: Box<dyn Write + Send>) -> Self {
        Transcript { sink: Some(sink) }
    }

    /// Open (create or append to) the transcript file at `path`.
    pub fn open(path: &std::path::Path) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Transcript::new(Box::new(file)))
    }

    /// Append one record stamped with the current time, and flush.
    pub fn record(&mut self, event: Event) {
        let Some(sink) = self.sink.as_mut() else { return };
        let line = event.to_line(now_ms());
        if let Err(e) = sink.write_all(line.as_bytes()).and_then(|()| sink.flush()) {
            eprintln!("demo agent: transcript write failed, transcript disabled: {e}");
            self.sink = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_then_ts_then_fields() {
        let line = Event::User {
            turn: 3,
            text: "hi \"there\"".into(),
        }
        .to_line(42);
        assert_eq!(
            line,
            "{\"type\":\"user\",\"ts\":42,\"turn\":3,\"text\":\"hi \\\"there\\\"\"}\n"
        );
        let line = Event::TurnAborted { turn: 1 }.to_line(7);
        assert_eq!(line, "{\"type\":\"turn_aborted\",\"ts\":7,\"turn\":1}\n");
    }

    #[test]
    fn every_line_parses() {
        let e = Event::ToolCall {
            turn: 1,
            id: "call_1_1".into(),
            name: "run_command",
            input: serde_json::json!({"command": "ls\n"}),
        };
        let v: Value = serde_json::from_str(e.to_line(5).trim_end()).unwrap();
        assert_eq!(v["type"], "tool_call");
        assert_eq!(v["ts"], 5);
        assert_eq!(v["input"]["command"], "ls\n");
    }
}
