//! One prompt turn: `session/update` notifications become events as they
//! arrive; message and thought chunks are accumulated and published whole
//! (at the next tool call, and at the end of the turn).

use std::collections::BTreeMap;

use serde_json::Value;
use wasmux_sdk::*;

use crate::content::{block_text, diffs, tool_output, unified};
use crate::session::set_state;

/// A tool call of this turn.
struct Tool {
    /// Its title (the name wasmux shows).
    title: String,
    /// Its result was published.
    done: bool,
}

/// How a turn ended.
pub enum Ending<'a> {
    /// The `session/prompt` response's `stopReason`.
    Stop(&'a str),
    /// The `session/prompt` request failed with this message.
    Error(String),
}

/// Accumulators of the turn under way.
#[derive(Default)]
pub struct Turn {
    /// `task-started` was published and no end yet.
    pub active: bool,
    text: String,
    thought: String,
    tools: BTreeMap<String, Tool>,
}

fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

impl Turn {
    /// Publish `task-started` (and state `working`) unless the turn already began.
    pub fn begin(&mut self, u: &mut Update) {
        if !self.active {
            self.active = true;
            u.events.push(AgentEvent::TaskStarted);
            set_state(u, AgentState::Working, None);
        }
    }

    fn flush_thought(&mut self, u: &mut Update) {
        let t = std::mem::take(&mut self.thought);
        if !t.trim().is_empty() {
            u.events.push(AgentEvent::Reasoning(t));
        }
    }

    fn flush_text(&mut self, u: &mut Update) {
        let t = std::mem::take(&mut self.text);
        if !t.trim().is_empty() {
            u.events.push(AgentEvent::Message(t));
        }
    }

    /// The title of tool call `id`, if this turn saw it.
    pub fn tool_title(&self, id: &str) -> Option<String> {
        self.tools.get(id).map(|t| t.title.clone())
    }

    /// Publish whatever was accumulated (before a permission request).
    pub fn flush(&mut self, u: &mut Update) {
        self.flush_thought(u);
        self.flush_text(u);
    }

    /// One `session/update` notification's `update` object.
    pub fn update(&mut self, update: &Value, u: &mut Update) {
        match update["sessionUpdate"].as_str().unwrap_or_default() {
            "agent_message_chunk" => {
                self.begin(u);
                self.flush_thought(u);
                self.text.push_str(&block_text(&update["content"]));
            }
            "agent_thought_chunk" => {
                self.begin(u);
                self.thought.push_str(&block_text(&update["content"]));
            }
            "tool_call" => {
                self.begin(u);
                self.flush(u);
                let id = string(&update["toolCallId"]);
                let title = update["title"].as_str().unwrap_or("tool").to_string();
                let input = match update.get("rawInput").filter(|r| !r.is_null()) {
                    Some(raw) => raw.to_string(),
                    None => "{}".to_string(),
                };
                u.events.push(AgentEvent::ToolCall(ToolCall {
                    call_id: id.clone(),
                    name: title.clone(),
                    input,
                }));
                self.tools.insert(id, Tool { title: title.clone(), done: false });
                set_state(u, AgentState::Working, Some(title));
                self.tool_status(update, u);
            }
            "tool_call_update" => {
                self.begin(u);
                let id = string(&update["toolCallId"]);
                if let (Some(tool), Some(title)) = (self.tools.get_mut(&id), update["title"].as_str()) {
                    tool.title = title.to_string();
                }
                self.tool_status(update, u);
            }
            "plan" => {
                self.begin(u);
                u.events.push(AgentEvent::Extension(Extension {
                    kind: "acp:plan".into(),
                    data: update["entries"].to_string(),
                }));
            }
            "current_mode_update" => u.events.push(AgentEvent::Extension(Extension {
                kind: "acp:mode".into(),
                data: update["currentModeId"].to_string(),
            })),
            "usage_update" => u.events.push(AgentEvent::Extension(Extension {
                kind: "acp:usage".into(),
                data: update.to_string(),
            })),
            // available_commands_update, user_message_chunk (history replay),
            // session_info_update, config_option_update: nothing to show.
            _ => {}
        }
    }

    /// A tool call's status: running sets the state; completed or failed
    /// publishes its file edits and result (once).
    fn tool_status(&mut self, update: &Value, u: &mut Update) {
        let id = string(&update["toolCallId"]);
        let title = self.tool_title(&id).unwrap_or_else(|| "tool".into());
        match update["status"].as_str() {
            Some("in_progress") => set_state(u, AgentState::Working, Some(title)),
            Some(status @ ("completed" | "failed")) => {
                let tool = self.tools.entry(id.clone()).or_insert(Tool {
                    title: title.clone(),
                    done: false,
                });
                if tool.done {
                    return;
                }
                tool.done = true;
                for (path, old, new) in diffs(update) {
                    u.events.push(AgentEvent::FileEdit(FileEdit {
                        description: format!("{title}: {}", if old.is_some() { "edited" } else { "created" }),
                        diff: Some(unified(&path, old.as_deref(), &new)),
                        file_path: path,
                    }));
                }
                u.events.push(AgentEvent::ToolResult(ToolResult {
                    call_id: id,
                    output: tool_output(update),
                    is_error: status == "failed",
                }));
                set_state(u, AgentState::Working, None);
            }
            _ => {}
        }
    }

    /// End the turn: publish what is left, usage, and `task-complete` (or
    /// `turn-aborted` for `cancelled`); state `idle`.
    pub fn finish(&mut self, ending: Ending<'_>, usage: &Value, u: &mut Update) {
        self.begin(u);
        self.flush(u);
        if usage.is_object() {
            let n = |k: &str| usage[k].as_u64().unwrap_or(0);
            u.events.push(AgentEvent::TokenCount(TokenCount {
                input: n("inputTokens"),
                output: n("outputTokens"),
                cache_read: n("cachedReadTokens"),
                cache_creation: n("cachedWriteTokens"),
            }));
        }
        u.events.push(match ending {
            Ending::Stop("cancelled") => AgentEvent::TurnAborted,
            Ending::Stop(reason) => AgentEvent::TaskComplete(TaskComplete {
                exit_code: None,
                summary: (reason != "end_turn").then(|| reason.to_string()),
            }),
            Ending::Error(message) => AgentEvent::TaskComplete(TaskComplete {
                exit_code: None,
                summary: Some(format!("error: {message}")),
            }),
        });
        *self = Turn::default();
        set_state(u, AgentState::Idle, None);
    }
}
