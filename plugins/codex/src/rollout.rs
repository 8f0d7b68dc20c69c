//! Codex's session rollout file, one JSONL record at a time.
//!
//! The Codex CLI records every session in
//! `~/.codex/sessions/YYYY/MM/DD/rollout-<timestamp>-<id>.jsonl`; each line is
//! `{"timestamp", "type", "payload"}` with `type` one of:
//!
//! * `session_meta` — id, cwd, CLI version (first line);
//! * `turn_context` — model and policies of a turn (nothing to report);
//! * `response_item` — what went to and came from the model: `message`
//!   (role `assistant` → `message`; `user`/`developer` are prompts and
//!   injected context), `reasoning` (its `summary` → `reasoning`),
//!   `function_call{name, arguments, call_id}`, `custom_tool_call{name,
//!   input, call_id}` (e.g. `apply_patch`), `local_shell_call`, and their
//!   `*_output{call_id, output}`;
//! * `event_msg` — `task_started` / `task_complete` (the turn's bounds;
//!   persisted by newer CLIs, which also accept `turn_started` /
//!   `turn_complete`), `turn_aborted`, `user_message`, `token_count`
//!   (`info.last_token_usage`), and `agent_message` / `agent_reasoning`,
//!   which repeat the response items and are not reported twice.
//!
//! Older CLIs persist no `task_started`/`task_complete`: a `user_message`
//! starts the turn then, and the screen ends it (see [`Rollout::maybe_done`]).

use serde_json::Value;
use wasmux_sdk::*;

use crate::patch;

pub use wasmux_sdk::tui::Turn;

/// A tool call waiting for its output; `patch` when it applies one.
struct PendingTool {
    call_id: String,
    name: String,
    patch: Option<String>,
}

/// Parser state for one session's rollout.
pub struct Rollout {
    /// Where the conversation is.
    pub turn: Turn,
    /// This CLI persists `task_started`/`task_complete`; the rollout alone
    /// bounds turns.
    pub marks_turns: bool,
    /// The last item was an answer that may have ended the turn (only
    /// consulted when the CLI does not mark turns).
    pub maybe_done: bool,
    pending: Vec<PendingTool>,
    /// `total_tokens` of the last usage reported: Codex repeats the last
    /// usage (with rate limits) at the start of a turn, which is no new usage.
    last_total: Option<u64>,
    cwd: String,
}

impl Rollout {
    /// A parser for a session launched in `cwd`.
    pub fn new(cwd: &str) -> Rollout {
        Rollout {
            turn: Turn::Unknown,
            marks_turns: false,
            maybe_done: false,
            pending: Vec::new(),
            last_total: None,
            cwd: cwd.trim_end_matches('/').to_string(),
        }
    }

    /// The tool whose call is waiting for its output, if any.
    pub fn pending_tool(&self) -> Option<&str> {
        self.pending.last().map(|p| p.name.as_str())
    }

    /// Read one record, appending its events to `out`.
    pub fn feed(&mut self, line: &str, out: &mut Vec<AgentEvent>) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            debug("codex: skipping a rollout line that is not JSON");
            return;
        };
        let payload = &v["payload"];
        match v["type"].as_str().unwrap_or_default() {
            "session_meta" => self.session_meta(payload),
            "event_msg" => self.event(payload, out),
            "response_item" => self.item(payload, out),
            _ => {}
        }
    }

    /// The screen shows the idle composer after a possible last answer: end
    /// the turn (CLIs that do not mark turns). Returns whether it did.
    pub fn close_from_screen(&mut self, out: &mut Vec<AgentEvent>) -> bool {
        if self.marks_turns || !self.maybe_done || !matches!(self.turn, Turn::Open(_)) {
            return false;
        }
        self.close(out);
        true
    }

    fn session_meta(&mut self, p: &Value) {
        let cwd = p["cwd"].as_str().unwrap_or_default().trim_end_matches('/');
        if !cwd.is_empty() && cwd != self.cwd {
            warn(&format!(
                "codex: the rollout being read belongs to a session in {cwd}, not {}; another Codex may have started at the same time",
                self.cwd
            ));
        }
    }

    fn event(&mut self, p: &Value, out: &mut Vec<AgentEvent>) {
        match p["type"].as_str().unwrap_or_default() {
            "task_started" | "turn_started" => {
                self.marks_turns = true;
                if !matches!(self.turn, Turn::Open(_)) {
                    self.open(out);
                }
            }
            "user_message" if !matches!(self.turn, Turn::Open(_)) => self.open(out),
            "task_complete" | "turn_complete" => self.close(out),
            "turn_aborted" => {
                if matches!(self.turn, Turn::Open(_)) {
                    out.push(AgentEvent::TurnAborted);
                }
                self.end();
            }
            "token_count" => {
                let last = &p["info"]["last_token_usage"];
                let total = p["info"]["total_token_usage"]["total_tokens"].as_u64();
                if last.is_object() && (total.is_none() || total != self.last_total) {
                    self.last_total = total;
                    let n = |k: &str| last[k].as_u64().unwrap_or(0);
                    // Codex counts cached input inside input_tokens.
                    out.push(AgentEvent::TokenCount(TokenCount {
                        input: n("input_tokens").saturating_sub(n("cached_input_tokens")),
                        output: n("output_tokens"),
                        cache_read: n("cached_input_tokens"),
                        cache_creation: 0,
                    }));
                }
            }
            _ => {}
        }
    }

    fn item(&mut self, p: &Value, out: &mut Vec<AgentEvent>) {
        let text = |k: &str| p[k].as_str().unwrap_or_default().to_string();
        match p["type"].as_str().unwrap_or_default() {
            "message" if p["role"] == "assistant" => {
                let answer = texts(&p["content"], "output_text");
                if !answer.trim().is_empty() {
                    self.ensure_open(out);
                    out.push(AgentEvent::Message(answer));
                    self.maybe_done = self.pending.is_empty();
                }
            }
            "reasoning" => {
                let summary = texts(&p["summary"], "summary_text");
                if !summary.trim().is_empty() {
                    out.push(AgentEvent::Reasoning(summary));
                }
            }
            "function_call" => {
                let input = serde_json::from_str(&text("arguments")).unwrap_or(Value::String(text("arguments")));
                self.call(text("call_id"), text("name"), input, out);
            }
            "custom_tool_call" => self.call(text("call_id"), text("name"), Value::String(text("input")), out),
            "local_shell_call" => self.call(text("call_id"), "local_shell".into(), p["action"].clone(), out),
            "function_call_output" | "custom_tool_call_output" => self.output(&text("call_id"), &p["output"], out),
            _ => {}
        }
    }

    fn call(&mut self, call_id: String, name: String, input: Value, out: &mut Vec<AgentEvent>) {
        self.ensure_open(out);
        out.push(AgentEvent::ToolCall(ToolCall {
            call_id: call_id.clone(),
            name: name.clone(),
            input: input.to_string(),
        }));
        self.pending.push(PendingTool {
            call_id,
            name: name.clone(),
            patch: patch::find(&input),
        });
        self.turn = Turn::Open(Some(name));
        self.maybe_done = false;
    }

    fn output(&mut self, call_id: &str, output: &Value, out: &mut Vec<AgentEvent>) {
        let (json, is_error) = tool_output(output);
        out.push(AgentEvent::ToolResult(ToolResult {
            call_id: call_id.to_string(),
            output: json,
            is_error,
        }));
        if let Some(at) = self.pending.iter().position(|p| p.call_id == call_id) {
            let call = self.pending.remove(at);
            if let (Some(patch), false) = (call.patch, is_error) {
                out.extend(patch::file_edits(&patch).into_iter().map(AgentEvent::FileEdit));
            }
        }
        if matches!(self.turn, Turn::Open(_)) {
            self.turn = Turn::Open(self.pending_tool().map(str::to_string));
        }
        self.maybe_done = false;
    }

    fn ensure_open(&mut self, out: &mut Vec<AgentEvent>) {
        if !matches!(self.turn, Turn::Open(_)) {
            self.open(out);
        }
    }

    fn open(&mut self, out: &mut Vec<AgentEvent>) {
        out.push(AgentEvent::TaskStarted);
        self.turn = Turn::Open(None);
        self.pending.clear();
        self.maybe_done = false;
    }

    fn close(&mut self, out: &mut Vec<AgentEvent>) {
        if matches!(self.turn, Turn::Open(_)) {
            out.push(AgentEvent::TaskComplete(TaskComplete {
                exit_code: None,
                summary: None,
            }));
        }
        self.end();
    }

    fn end(&mut self) {
        self.turn = Turn::Closed;
        self.pending.clear();
        self.maybe_done = false;
    }
}

/// The `text` of every `kind` item in `content`, joined by blank lines.
fn texts(content: &Value, kind: &str) -> String {
    content
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"] == kind)
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// A tool output as JSON text and whether it failed. Codex writes a string:
/// either JSON `{"output", "metadata": {"exit_code"}}` (older CLIs) or text
/// with a `Process exited with code N` / `Exit code: N` line (newer); some
/// versions write `{"content", "success"}` objects.
fn tool_output(output: &Value) -> (String, bool) {
    match output {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => {
                let failed = v["metadata"]["exit_code"].as_i64().is_some_and(|c| c != 0);
                (v.to_string(), failed)
            }
            _ => (Value::String(s.clone()).to_string(), text_failed(s)),
        },
        Value::Object(o) => {
            let content = o.get("content").and_then(Value::as_str).unwrap_or_default();
            let failed = o.get("success").and_then(Value::as_bool) == Some(false);
            (
                Value::String(content.to_string()).to_string(),
                failed || text_failed(content),
            )
        }
        other => (other.to_string(), false),
    }
}

/// Whether plain-text tool output reports a non-zero exit status, or that
/// the user refused the call, in its header lines (Codex 0.17x: a patch's
/// `aborted by user after 3.2s`; a command's `Wall time: 0.4 seconds`
/// then `aborted by user`).
fn text_failed(s: &str) -> bool {
    s.lines().take(8).any(|l| {
        let l = l.trim_start();
        let refused = l.starts_with("aborted by user") || l.starts_with("rejected by user");
        let code = l
            .strip_prefix("Process exited with code ")
            .or_else(|| l.strip_prefix("Exit code: "));
        refused || code.and_then(|c| c.trim().parse::<i64>().ok()).is_some_and(|c| c != 0)
    })
}
