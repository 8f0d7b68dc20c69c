//! Claude Code's session transcript, one JSONL record at a time.
//!
//! Claude Code appends every conversation record to
//! `~/.claude/projects/<cwd-slug>/<session-id>.jsonl`. The records read here:
//!
//! * `user` — a prompt (`message.content` is a string or `text` items), the
//!   results of tool calls (`tool_result{tool_use_id, content, is_error}`,
//!   with the structured outcome in the top-level `toolUseResult`), or the
//!   marker `[Request interrupted by user…]` after Esc or a refused
//!   permission. `isMeta` records are context Claude Code injects itself.
//! * `assistant` — `message.content[]` items `text`, `thinking` and
//!   `tool_use{id, name, input}`; `message.usage` carries token counts. Newer
//!   versions (2.1.x) write one record per content item, all sharing
//!   `message.id` and each carrying the whole message's `stop_reason` and
//!   `usage`: usage is counted once per message id (one `token-count` per
//!   model call), and `end_turn` ends the turn only after the message's last
//!   record (at the next record that is not part of it, e.g.
//!   `turn_duration`), so a reply that opens with a thinking block is not
//!   cut short. Records of model `<synthetic>` (written on an interrupt,
//!   with zero usage) are no model output and are skipped.
//! * `system` with `subtype: "turn_duration"` — written when a turn ends
//!   (Claude Code 2.x).
//! * `summary`, `file-history-snapshot`, `attachment`, … — nothing to report.
//!
//! Records of sub-agents (`isSidechain: true`) are skipped: they belong to a
//! `Task` tool call whose result arrives in the main conversation.

use serde_json::Value;
use wasmux_sdk::*;

use crate::edits;

pub use wasmux_sdk::tui::Turn;

/// Token usage of one assistant message, held until the message is complete.
struct Usage {
    message_id: String,
    counts: [u64; 4],
}

/// A tool call waiting for its result.
struct PendingTool {
    id: String,
    name: String,
    input: Value,
}

/// Parser state for one session's transcript.
pub struct Transcript {
    /// Where the conversation is.
    pub turn: Turn,
    /// The last record was assistant text that may have ended the turn
    /// without saying so (versions that write neither `stop_reason` nor
    /// `turn_duration`); the screen decides then.
    pub maybe_done: bool,
    pending: Vec<PendingTool>,
    usage: Option<Usage>,
    /// The message id whose usage was last counted.
    counted: Option<String>,
    /// The id of a message that said `end_turn`: the turn ends after its
    /// last record.
    ending: Option<String>,
}

impl Transcript {
    /// A parser that has seen nothing.
    pub fn new() -> Transcript {
        Transcript {
            turn: Turn::Unknown,
            maybe_done: false,
            pending: Vec::new(),
            usage: None,
            counted: None,
            ending: None,
        }
    }

    /// The tool whose call is waiting for a result, if any.
    pub fn pending_tool(&self) -> Option<&str> {
        self.pending.last().map(|p| p.name.as_str())
    }

    /// Read one record, appending its events to `out`.
    pub fn feed(&mut self, line: &str, out: &mut Vec<AgentEvent>) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            debug("claude-code: skipping a transcript line that is not JSON");
            return;
        };
        if v["isSidechain"] == true {
            return;
        }
        let kind = v["type"].as_str().unwrap_or_default();
        if let Some(id) = &self.ending {
            let same = kind == "assistant" && v["message"]["id"].as_str() == Some(id.as_str());
            if !same {
                self.close(out);
            }
        }
        match kind {
            "assistant" => self.assistant(&v, out),
            "user" => {
                self.flush_usage(out);
                self.user(&v, out);
            }
            "system" => {
                self.flush_usage(out);
                if v["subtype"] == "turn_duration" {
                    self.close(out);
                }
            }
            _ => {}
        }
    }

    /// The screen shows the idle prompt after a possible last answer: end
    /// the turn. Returns whether it did.
    pub fn close_from_screen(&mut self, out: &mut Vec<AgentEvent>) -> bool {
        if !self.maybe_done || !matches!(self.turn, Turn::Open(_)) {
            return false;
        }
        self.close(out);
        true
    }

    fn assistant(&mut self, v: &Value, out: &mut Vec<AgentEvent>) {
        let msg = &v["message"];
        if msg["model"] == "<synthetic>" {
            return;
        }
        let id = msg["id"].as_str().unwrap_or_default();
        if self.usage.as_ref().is_some_and(|u| u.message_id != id) {
            self.flush_usage(out);
        }
        if !matches!(self.turn, Turn::Open(_)) {
            // A turn Claude Code started without a typed prompt (a custom
            // slash command, a hook): it is a turn all the same.
            self.open(out);
        }
        let (mut text, mut tool_used) = (false, false);
        let items = match &msg["content"] {
            Value::String(s) => vec![serde_json::json!({"type": "text", "text": s})],
            Value::Array(a) => a.clone(),
            _ => Vec::new(),
        };
        for item in &items {
            let body = |key: &str| item[key].as_str().unwrap_or_default().to_string();
            match item["type"].as_str().unwrap_or_default() {
                "text" if !body("text").trim().is_empty() => {
                    text = true;
                    out.push(AgentEvent::Message(body("text")));
                }
                "thinking" if !body("thinking").trim().is_empty() => {
                    out.push(AgentEvent::Thinking(body("thinking")));
                }
                "tool_use" => {
                    tool_used = true;
                    out.push(AgentEvent::ToolCall(ToolCall {
                        call_id: body("id"),
                        name: body("name"),
                        input: item["input"].to_string(),
                    }));
                    self.pending.push(PendingTool {
                        id: body("id"),
                        name: body("name"),
                        input: item["input"].clone(),
                    });
                    self.turn = Turn::Open(Some(body("name")));
                }
                _ => {}
            }
        }
        if msg["usage"].is_object() && self.counted.as_deref() != Some(id) {
            let n = |k: &str| msg["usage"][k].as_u64().unwrap_or(0);
            self.usage = Some(Usage {
                message_id: id.to_string(),
                counts: [
                    n("input_tokens"),
                    n("output_tokens"),
                    n("cache_read_input_tokens"),
                    n("cache_creation_input_tokens"),
                ],
            });
        }
        let stop = msg["stop_reason"].as_str();
        self.maybe_done = text && !tool_used && self.pending.is_empty() && stop != Some("tool_use");
        if stop == Some("end_turn") && !tool_used && self.pending.is_empty() {
            self.ending = Some(id.to_string());
        }
    }

    fn user(&mut self, v: &Value, out: &mut Vec<AgentEvent>) {
        if v["isMeta"] == true || v["isCompactSummary"] == true {
            return;
        }
        let mut texts: Vec<&str> = Vec::new();
        let mut results = false;
        match &v["message"]["content"] {
            Value::String(s) => texts.push(s),
            Value::Array(items) => {
                for item in items {
                    match item["type"].as_str().unwrap_or_default() {
                        "tool_result" => {
                            results = true;
                            self.tool_result(item, &v["toolUseResult"], out);
                        }
                        "text" => texts.push(item["text"].as_str().unwrap_or_default()),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        for text in texts {
            if text.starts_with("[Request interrupted by user") {
                self.abort(out);
            } else if !results && !local_command(text) && !matches!(self.turn, Turn::Open(_)) {
                self.open(out);
            }
        }
    }

    fn tool_result(&mut self, item: &Value, outcome: &Value, out: &mut Vec<AgentEvent>) {
        let id = item["tool_use_id"].as_str().unwrap_or_default();
        let is_error = item["is_error"].as_bool().unwrap_or(false);
        out.push(AgentEvent::ToolResult(ToolResult {
            call_id: id.to_string(),
            output: Value::String(result_text(&item["content"])).to_string(),
            is_error,
        }));
        if let Some(at) = self.pending.iter().position(|p| p.id == id) {
            let call = self.pending.remove(at);
            if !is_error && let Some(edit) = edits::file_edit(&call.name, &call.input, outcome) {
                out.push(AgentEvent::FileEdit(edit));
            }
        }
        if matches!(self.turn, Turn::Open(_)) {
            self.turn = Turn::Open(self.pending_tool().map(str::to_string));
        }
        self.maybe_done = false;
    }

    fn open(&mut self, out: &mut Vec<AgentEvent>) {
        out.push(AgentEvent::TaskStarted);
        self.turn = Turn::Open(None);
        self.pending.clear();
        self.maybe_done = false;
    }

    fn close(&mut self, out: &mut Vec<AgentEvent>) {
        self.ending = None;
        self.flush_usage(out);
        if matches!(self.turn, Turn::Open(_)) {
            out.push(AgentEvent::TaskComplete(TaskComplete {
                exit_code: None,
                summary: None,
            }));
        }
        self.turn = Turn::Closed;
        self.pending.clear();
        self.maybe_done = false;
    }

    fn abort(&mut self, out: &mut Vec<AgentEvent>) {
        self.ending = None;
        self.flush_usage(out);
        if matches!(self.turn, Turn::Open(_)) {
            out.push(AgentEvent::TurnAborted);
        }
        self.turn = Turn::Closed;
        self.pending.clear();
        self.maybe_done = false;
    }

    fn flush_usage(&mut self, out: &mut Vec<AgentEvent>) {
        if let Some(Usage {
            counts: [i, o, r, c],
            message_id,
        }) = self.usage.take()
        {
            self.counted = Some(message_id);
            out.push(AgentEvent::TokenCount(TokenCount {
                input: i,
                output: o,
                cache_read: r,
                cache_creation: c,
            }));
        }
    }
}

/// A prompt that runs no model turn: a local slash command or `!` shell
/// input, recorded as tagged text.
fn local_command(text: &str) -> bool {
    [
        "<command-name>",
        "<command-message>",
        "<local-command-",
        "<bash-input>",
        "<bash-stdout>",
    ]
    .iter()
    .any(|tag| text.trim_start().starts_with(tag))
}

/// A tool result's content as plain text (`content` is a string or a list of
/// `text`/`image` blocks).
fn result_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| match b["type"].as_str() {
                Some("text") => b["text"].as_str().unwrap_or_default().to_string(),
                Some(other) => format!("[{other}]"),
                None => b.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
