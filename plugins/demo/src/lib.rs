//! The `demo` provider: runs `wasmux demo-agent` in the pane and turns its
//! JSONL transcript (written to the session directory) into events and
//! states. Prompts are typed at its `demo>` prompt; permission answers are
//! `y`, `n` or `a` at its `allow?` question; Ctrl-C interrupts.

use serde_json::Value;
use wasmux_sdk::*;

struct Demo;

impl Provider for Demo {
    type Session = DemoSession;

    fn launch(req: LaunchRequest) -> Result<LaunchSpec, PluginError> {
        let mut command: Vec<String> = ["{wasmux}", "demo-agent", "--transcript", "{session-dir}/demo.jsonl"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        command.extend(req.args);
        let mut spec = launch_spec(command);
        spec.env = vec![(
            "DEMO_AGENT_SPEED_MS".into(),
            config::get("speed_ms").unwrap_or_else(|| "15".into()),
        )];
        spec.transcript = Some(TranscriptSpec {
            pattern: "{session-dir}/demo.jsonl".into(),
        });
        Ok(spec)
    }
}

struct DemoSession;

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

fn with_state(mut u: Update, s: AgentState, tool: Option<String>) -> Update {
    let mut change = state(s, StateSource::Transcript);
    change.tool = tool;
    u.state = Some(change);
    u
}

impl ProviderSession for DemoSession {
    fn new(_req: LaunchRequest) -> Self {
        DemoSession
    }

    fn feed_transcript(&mut self, line: &str) -> Update {
        let mut u = empty_update();
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            debug("demo: skipping a line that is not JSON");
            return u;
        };
        match v["type"].as_str().unwrap_or_default() {
            "session_start" => return with_state(u, AgentState::Idle, None),
            "user" => {
                u.events.push(AgentEvent::TaskStarted);
                return with_state(u, AgentState::Working, None);
            }
            "assistant_message" => u.events.push(AgentEvent::Message(text(&v, "text"))),
            "tool_call" => {
                let name = text(&v, "name");
                u.events.push(AgentEvent::ToolCall(ToolCall {
                    call_id: text(&v, "id"),
                    name: name.clone(),
                    input: v["input"].to_string(),
                }));
                return with_state(u, AgentState::Working, Some(name));
            }
            "tool_result" => {
                u.events.push(AgentEvent::ToolResult(ToolResult {
                    call_id: text(&v, "id"),
                    output: v["output"].to_string(),
                    is_error: v["is_error"].as_bool().unwrap_or(false),
                }));
                return with_state(u, AgentState::Working, None);
            }
            "permission_request" => {
                let tool = text(&v, "tool");
                u.events.push(AgentEvent::PermissionRequest(PermissionRequest {
                    permission_id: text(&v, "id"),
                    tool_name: tool.clone(),
                    description: text(&v, "description"),
                    options: vec!["allow".into(), "deny".into(), "always".into()],
                }));
                return with_state(u, AgentState::WaitingPermission, Some(tool));
            }
            "permission_answer" => return with_state(u, AgentState::Working, None),
            "file_edit" => u.events.push(AgentEvent::FileEdit(FileEdit {
                file_path: text(&v, "path"),
                description: text(&v, "description"),
                diff: v["diff"].as_str().map(str::to_string),
            })),
            "usage" => u.events.push(AgentEvent::TokenCount(TokenCount {
                input: v["input_tokens"].as_u64().unwrap_or(0),
                output: v["output_tokens"].as_u64().unwrap_or(0),
                cache_read: 0,
                cache_creation: 0,
            })),
            "turn_end" => {
                u.events.push(AgentEvent::TaskComplete(TaskComplete {
                    exit_code: None,
                    summary: None,
                }));
                return with_state(u, AgentState::Idle, None);
            }
            "turn_aborted" => {
                u.events.push(AgentEvent::TurnAborted);
                return with_state(u, AgentState::Idle, None);
            }
            _ => {}
        }
        u
    }

    fn encode_prompt(&mut self, text: &str) -> Result<Vec<InputAction>, PluginError> {
        let line = text.replace(['\r', '\n'], " ");
        if line.trim().is_empty() {
            return Err(error(
                ErrorKind::InvalidInput,
                "the demo agent needs a non-empty message",
            ));
        }
        Ok(vec![InputAction::Text(line), InputAction::Keys(vec!["Enter".into()])])
    }

    fn encode_permission(&mut self, _id: &str, decision: PermissionDecision) -> Result<Vec<InputAction>, PluginError> {
        let key = match decision {
            PermissionDecision::Allow => "y",
            PermissionDecision::Deny => "n",
            PermissionDecision::Always => "a",
            PermissionDecision::Other(o) => {
                return Err(error(ErrorKind::InvalidInput, format!("unknown decision {o}")));
            }
        };
        Ok(vec![
            InputAction::Text(key.into()),
            InputAction::Keys(vec!["Enter".into()]),
        ])
    }
}

wasmux_sdk::provider!(Demo);
