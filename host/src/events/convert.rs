//! WIT `agent-event` and `state-change` to event JSON fields.

use serde_json::{Value, json};

use crate::plugins::bindings::types::{AgentEvent, AgentState, StateChange, StateSource};

/// JSON text from a plugin: embedded as JSON if it parses, else as a string.
fn json_or_string(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
}

/// `(type, fields)` of an agent event.
pub fn agent_event(e: &AgentEvent) -> (&'static str, Value) {
    match e {
        AgentEvent::Message(m) => ("message", json!({"message": m})),
        AgentEvent::Reasoning(m) => ("reasoning", json!({"message": m})),
        AgentEvent::Thinking(t) => ("thinking", json!({"text": t})),
        AgentEvent::ToolCall(c) => (
            "tool-call",
            json!({"callId": c.call_id, "name": c.name, "input": json_or_string(&c.input)}),
        ),
        AgentEvent::ToolResult(r) => (
            "tool-result",
            json!({"callId": r.call_id, "output": json_or_string(&r.output), "isError": r.is_error}),
        ),
        AgentEvent::FileEdit(f) => (
            "file-edit",
            json!({"filePath": f.file_path, "description": f.description, "diff": f.diff}),
        ),
        AgentEvent::TerminalOutput(t) => ("terminal-output", json!({"data": t.data, "callId": t.call_id})),
        AgentEvent::TaskStarted => ("task-started", json!({})),
        AgentEvent::TaskComplete(t) => ("task-complete", json!({"exitCode": t.exit_code, "summary": t.summary})),
        AgentEvent::TurnAborted => ("turn-aborted", json!({})),
        AgentEvent::PermissionRequest(p) => (
            "permission-request",
            json!({"permissionId": p.permission_id, "toolName": p.tool_name, "description": p.description, "options": p.options}),
        ),
        AgentEvent::TokenCount(t) => (
            "token-count",
            json!({"input": t.input, "output": t.output, "cacheRead": t.cache_read, "cacheCreation": t.cache_creation}),
        ),
        AgentEvent::Extension(x) => ("extension", json!({"kind": x.kind, "data": json_or_string(&x.data)})),
    }
}

/// The names of a state change: (value, source).
pub fn state_names(s: &StateChange) -> (String, String) {
    let value = match &s.state {
        AgentState::Starting => "starting".to_string(),
        AgentState::Idle => "idle".to_string(),
        AgentState::Working => "working".to_string(),
        AgentState::WaitingPermission => "waiting-permission".to_string(),
        AgentState::Exited => "exited".to_string(),
        AgentState::Other(o) => o.clone(),
    };
    let source = match &s.source {
        StateSource::Protocol => "protocol".to_string(),
        StateSource::Transcript => "transcript".to_string(),
        StateSource::Screen => "screen".to_string(),
        StateSource::Process => "process".to_string(),
        StateSource::Other(o) => o.clone(),
    };
    (value, source)
}

/// `(type, fields)` of a state event.
pub fn state_event(value: &str, source: &str, tool: Option<&str>) -> (&'static str, Value) {
    ("state", json!({"value": value, "source": source, "tool": tool}))
}
