//! Event JSON back to the WIT types adapters receive.

use serde_json::Value;

use crate::plugins::adapter_stream::{MessageOutcome, PermissionResolution, StreamEvent, StreamItem};
use crate::plugins::bindings::types::{
    AgentEvent, AgentState, Extension, FileEdit, PermissionRequest, StateChange, StateSource, TaskComplete,
    TerminalOutput, TokenCount, ToolCall, ToolResult,
};

use super::Event;

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

/// JSON that was embedded from a plugin's JSON text, back to text.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        other => other.to_string(),
    }
}

fn state_of(value: &str) -> AgentState {
    match value {
        "starting" => AgentState::Starting,
        "idle" => AgentState::Idle,
        "working" => AgentState::Working,
        "waiting-permission" => AgentState::WaitingPermission,
        "exited" => AgentState::Exited,
        o => AgentState::Other(o.to_string()),
    }
}

fn source_of(value: &str) -> StateSource {
    match value {
        "protocol" => StateSource::Protocol,
        "transcript" => StateSource::Transcript,
        "screen" => StateSource::Screen,
        "process" => StateSource::Process,
        o => StateSource::Other(o.to_string()),
    }
}

fn outcome(v: &Value) -> MessageOutcome {
    MessageOutcome {
        id: s(v, "id"),
        response: v["response"].as_str().map(str::to_string),
        error: v["error"].as_str().map(str::to_string),
    }
}

/// The typed item of an event.
pub fn item(e: &Event) -> StreamItem {
    let v = &e.value;
    let agent = |a: AgentEvent| StreamItem::Agent(a);
    match e.kind.as_str() {
        "message" => agent(AgentEvent::Message(s(v, "message"))),
        "reasoning" => agent(AgentEvent::Reasoning(s(v, "message"))),
        "thinking" => agent(AgentEvent::Thinking(s(v, "text"))),
        "tool-call" => agent(AgentEvent::ToolCall(ToolCall {
            call_id: s(v, "callId"),
            name: s(v, "name"),
            input: text_of(&v["input"]),
        })),
        "tool-result" => agent(AgentEvent::ToolResult(ToolResult {
            call_id: s(v, "callId"),
            output: text_of(&v["output"]),
            is_error: v["isError"].as_bool().unwrap_or(false),
        })),
        "file-edit" => agent(AgentEvent::FileEdit(FileEdit {
            file_path: s(v, "filePath"),
            description: s(v, "description"),
            diff: v["diff"].as_str().map(str::to_string),
        })),
        "terminal-output" => agent(AgentEvent::TerminalOutput(TerminalOutput {
            data: s(v, "data"),
            call_id: v["callId"].as_str().map(str::to_string),
        })),
        "task-started" => agent(AgentEvent::TaskStarted),
        "task-complete" => agent(AgentEvent::TaskComplete(TaskComplete {
            exit_code: v["exitCode"].as_i64().map(|c| c as i32),
            summary: v["summary"].as_str().map(str::to_string),
        })),
        "turn-aborted" => agent(AgentEvent::TurnAborted),
        "permission-request" => agent(AgentEvent::PermissionRequest(PermissionRequest {
            permission_id: s(v, "permissionId"),
            tool_name: s(v, "toolName"),
            description: s(v, "description"),
            options: v["options"]
                .as_array()
                .map(|a| a.iter().filter_map(|o| o.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
        })),
        "token-count" => agent(AgentEvent::TokenCount(TokenCount {
            input: v["input"].as_u64().unwrap_or(0),
            output: v["output"].as_u64().unwrap_or(0),
            cache_read: v["cacheRead"].as_u64().unwrap_or(0),
            cache_creation: v["cacheCreation"].as_u64().unwrap_or(0),
        })),
        "state" => StreamItem::State(StateChange {
            state: state_of(v["value"].as_str().unwrap_or_default()),
            source: source_of(v["source"].as_str().unwrap_or_default()),
            tool: v["tool"].as_str().map(str::to_string),
        }),
        "message-queued" => StreamItem::MessageQueued(s(v, "id")),
        "message-started" => StreamItem::MessageStarted(s(v, "id")),
        "message-done" => StreamItem::MessageDone(outcome(v)),
        "message-failed" => StreamItem::MessageFailed(outcome(v)),
        "permission-resolved" => StreamItem::PermissionResolved(PermissionResolution {
            permission_id: s(v, "permissionId"),
            decision: s(v, "decision"),
        }),
        other => StreamItem::Other(Extension {
            kind: other.to_string(),
            data: v.to_string(),
        }),
    }
}

/// The WIT stream event of `e` for session `session`.
pub fn stream_event(session: &str, e: &Event) -> StreamEvent {
    StreamEvent {
        seq: e.seq,
        session: session.to_string(),
        ts_ms: e.ts,
        json: e.json(),
        item: item(e),
    }
}
