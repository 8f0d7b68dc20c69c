//! One prompt turn: `session/update` notifications become events as they
//! arrive; message and thought chunks are accumulated and published whole
//! (at the next tool call, and at the end of the turn).

use std::collections::BTreeMap;

use serde_json::Value;
use wasmux_sdk::*;

use crate::content::{Diff, block_text, diffs, tool_output, unified};

/// A tool call of this turn.
struct Tool {
    /// Its title (the name wasmux shows).
    title: String,
    /// Its `rawInput` as JSON text, if the agent gave one.
    input: Option<String>,
    /// Its result was published.
    done: bool,
    /// The user refused its permission request.
    refused: bool,
    /// The last `diff` content seen for it (OpenCode puts the diff only in
    /// the permission request; its completion carries just a text).
    diffs: Vec<Diff>,
    /// Files an `edit`-kind call named in its `locations` (an OpenCode
    /// write allowed always reports no diff at all).
    edits: Vec<String>,
}

/// The paths of an `edit`-kind call's `locations`.
fn edited_paths(call: &Value) -> Vec<String> {
    if call["kind"] != "edit" {
        return Vec::new();
    }
    call["locations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["path"].as_str().map(str::to_string))
        .collect()
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
    /// The last state published was `waiting-permission`: the next update
    /// after the answer means the agent moved on.
    pub waiting: bool,
    /// Tool calls with an open permission request: while there is one the
    /// state stays `waiting-permission` whatever else the agent reports
    /// (OpenCode sends an `in_progress` update right after asking). A
    /// request ends when its call completes or fails, the agent speaks
    /// again, or the turn ends (what the agent reports, so a replay of its
    /// log decides the same).
    pub asking: std::collections::BTreeSet<String>,
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
            self.working(u, None);
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

    /// State `working` (with `tool` in flight), unless a permission
    /// request is open.
    fn working(&self, u: &mut Update, tool: Option<String>) {
        if self.asking.is_empty() {
            set_state(u, AgentState::Working, StateSource::Protocol, tool);
        }
    }

    /// The title of tool call `id`, if this turn saw it.
    pub fn tool_title(&self, id: &str) -> Option<String> {
        self.tools.get(id).map(|t| t.title.clone())
    }

    /// The `rawInput` of tool call `id`, if this turn saw one.
    pub fn tool_input(&self, id: &str) -> Option<String> {
        self.tools.get(id).and_then(|t| t.input.clone())
    }

    /// Publish whatever was accumulated (before a permission request).
    pub fn flush(&mut self, u: &mut Update) {
        self.flush_thought(u);
        self.flush_text(u);
    }

    /// One `session/update` notification's `update` object.
    pub fn update(&mut self, update: &Value, u: &mut Update) {
        let kind = update["sessionUpdate"].as_str().unwrap_or_default();
        if matches!(kind, "agent_message_chunk" | "agent_thought_chunk") {
            // The agent speaks again: it is past its question (Gemini CLI
            // reports nothing for a refused call).
            self.asking.clear();
        }
        if self.asking.is_empty() && std::mem::take(&mut self.waiting) {
            self.working(u, None);
        }
        match kind {
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
                self.announce(update, u);
                self.tool_status(update, u);
            }
            "tool_call_update" => {
                self.begin(u);
                self.announce(update, u);
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

    /// Make sure tool call `call` (a `tool_call`, a `tool_call_update` or
    /// the `toolCall` of a permission request) is known: the first time its
    /// id is seen, publish `tool-call` (some agents, e.g. Gemini CLI, send no
    /// `tool_call` before asking permission); later, take a new title.
    pub fn announce(&mut self, call: &Value, u: &mut Update) {
        let id = string(&call["toolCallId"]);
        let title = call["title"].as_str();
        let seen = diffs(call);
        if let Some(tool) = self.tools.get_mut(&id) {
            if let Some(t) = title {
                tool.title = t.to_string();
            }
            if !seen.is_empty() {
                tool.diffs = seen;
            }
            let paths = edited_paths(call);
            if !paths.is_empty() {
                tool.edits = paths;
            }
            return;
        }
        self.flush(u);
        let title = title.or(call["kind"].as_str()).unwrap_or("tool").to_string();
        let raw = call.get("rawInput").filter(|r| !r.is_null()).map(Value::to_string);
        u.events.push(AgentEvent::ToolCall(ToolCall {
            call_id: id.clone(),
            name: title.clone(),
            input: raw.clone().unwrap_or_else(|| "{}".into()),
        }));
        let tool = Tool {
            title: title.clone(),
            input: raw,
            done: false,
            refused: false,
            diffs: seen,
            edits: edited_paths(call),
        };
        self.tools.insert(id, tool);
        self.working(u, Some(title));
    }

    /// A tool call's status: running sets the state; completed or failed
    /// publishes its file edits and result (once).
    fn tool_status(&mut self, update: &Value, u: &mut Update) {
        let id = string(&update["toolCallId"]);
        let title = self.tool_title(&id).unwrap_or_else(|| "tool".into());
        match update["status"].as_str() {
            Some("in_progress") => self.working(u, Some(title)),
            Some(status @ ("completed" | "failed")) => {
                self.asking.remove(&id);
                let Some(tool) = self.tools.get_mut(&id) else { return };
                if tool.done {
                    return;
                }
                tool.done = true;
                // A completed call applied the diff it was announced (or
                // asked permission) with, unless it reports its own.
                let mut applied = diffs(update);
                if applied.is_empty() && status == "completed" {
                    applied = std::mem::take(&mut tool.diffs);
                }
                if applied.is_empty() && status == "completed" {
                    // No diff anywhere: the file changed, how is unknown.
                    for path in std::mem::take(&mut tool.edits) {
                        u.events.push(AgentEvent::FileEdit(FileEdit {
                            description: format!("{title}: edited"),
                            diff: None,
                            file_path: path,
                        }));
                    }
                }
                for (path, old, new) in applied {
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
                self.working(u, None);
            }
            _ => {}
        }
    }

    /// Remember that the user refused tool call `id`.
    pub fn refuse(&mut self, id: &str) {
        if let Some(tool) = self.tools.get_mut(id) {
            tool.refused = true;
        }
    }

    /// End the turn: a failed `tool-result` for every call the agent left
    /// without one (Gemini CLI reports nothing for a refused call), what is
    /// left of the text, usage, and `task-complete` (or `turn-aborted` for
    /// `cancelled`); state `idle`.
    pub fn finish(&mut self, ending: Ending<'_>, usage: &Value, u: &mut Update) {
        self.begin(u);
        for (id, tool) in self.tools.iter().filter(|(_, t)| !t.done) {
            let why = if tool.refused {
                "permission refused"
            } else {
                "no result before the turn ended"
            };
            u.events.push(AgentEvent::ToolResult(ToolResult {
                call_id: id.clone(),
                output: Value::String(why.into()).to_string(),
                is_error: true,
            }));
        }
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
        set_state(u, AgentState::Idle, StateSource::Protocol, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn edits(u: &Update) -> Vec<String> {
        u.events
            .iter()
            .filter_map(|e| match e {
                AgentEvent::FileEdit(f) => Some(f.file_path.clone()),
                _ => None,
            })
            .collect()
    }

    /// OpenCode 1.18: the diff comes only with the permission request's
    /// `toolCall`; the completion carries a text.
    fn asked_with_a_diff(turn: &mut Turn, u: &mut Update) {
        turn.update(
            &json!({"sessionUpdate": "tool_call", "toolCallId": "c1", "title": "write", "status": "pending"}),
            u,
        );
        turn.announce(
            &json!({"toolCallId": "c1", "title": "/p/hello.py",
                "content": [{"type": "diff", "path": "/p/hello.py", "oldText": "a\n", "newText": "b\n"}]}),
            u,
        );
    }

    #[test]
    fn a_completed_call_publishes_the_diff_it_asked_permission_with() {
        let (mut turn, mut u) = (Turn::default(), empty_update());
        asked_with_a_diff(&mut turn, &mut u);
        turn.update(
            &json!({"sessionUpdate": "tool_call_update", "toolCallId": "c1", "status": "completed",
                "content": [{"type": "content", "content": {"type": "text", "text": "Wrote file successfully."}}]}),
            &mut u,
        );
        assert_eq!(edits(&u), ["/p/hello.py"]);
    }

    fn working(u: &Update) -> bool {
        u.state.as_ref().is_some_and(|s| matches!(s.state, AgentState::Working))
    }

    #[test]
    fn an_open_permission_request_keeps_the_state_until_it_is_answered() {
        let (mut turn, mut u) = (Turn::default(), empty_update());
        asked_with_a_diff(&mut turn, &mut u);
        turn.asking.insert("c1".into());
        turn.waiting = true;
        let mut during = empty_update();
        let running = json!({"sessionUpdate": "tool_call_update", "toolCallId": "c1", "status": "in_progress"});
        turn.update(&running, &mut during);
        assert!(during.state.is_none(), "the state stays waiting-permission");
        turn.asking.clear();
        let mut after = empty_update();
        turn.update(&running, &mut after);
        assert!(working(&after));
    }

    #[test]
    fn a_request_ends_when_its_call_completes() {
        let (mut turn, mut u) = (Turn::default(), empty_update());
        asked_with_a_diff(&mut turn, &mut u);
        turn.asking.insert("c1".into());
        let mut done = empty_update();
        turn.update(
            &json!({"sessionUpdate": "tool_call_update", "toolCallId": "c1", "status": "completed"}),
            &mut done,
        );
        assert!(turn.asking.is_empty());
        assert!(working(&done));
    }

    #[test]
    fn a_completed_edit_without_any_diff_still_names_its_file() {
        // OpenCode 1.18, a write allowed always: no permission request, no diff.
        let (mut turn, mut u) = (Turn::default(), empty_update());
        turn.update(
            &json!({"sessionUpdate": "tool_call", "toolCallId": "c2", "title": "write", "kind": "edit",
                "status": "pending", "locations": []}),
            &mut u,
        );
        turn.update(
            &json!({"sessionUpdate": "tool_call_update", "toolCallId": "c2", "status": "in_progress", "kind": "edit",
                "locations": [{"path": "/p/hello.py"}]}),
            &mut u,
        );
        turn.update(
            &json!({"sessionUpdate": "tool_call_update", "toolCallId": "c2", "status": "completed"}),
            &mut u,
        );
        assert_eq!(edits(&u), ["/p/hello.py"]);
    }

    #[test]
    fn a_failed_call_publishes_no_diff_it_only_asked_with() {
        let (mut turn, mut u) = (Turn::default(), empty_update());
        asked_with_a_diff(&mut turn, &mut u);
        turn.update(
            &json!({"sessionUpdate": "tool_call_update", "toolCallId": "c1", "status": "failed"}),
            &mut u,
        );
        assert!(edits(&u).is_empty());
    }
}
