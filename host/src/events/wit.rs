//! The one conversion each way between the WIT types plugins speak and
//! [`Event`]: agent events and state changes in from providers, stream items
//! out to adapters.

use serde_json::Value;

use super::{AgentState, Envelope, Event, StateSource};
use crate::plugins::adapter_stream::{MessageOutcome, PermissionResolution, StreamEvent, StreamItem};
use crate::plugins::bindings::types as wit;

/// JSON text from a plugin: embedded as JSON if it parses, else as a string.
fn json_or_string(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
}

/// Embedded JSON back to the text a plugin gave.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        other => other.to_string(),
    }
}

impl From<&wit::AgentEvent> for Event {
    fn from(e: &wit::AgentEvent) -> Event {
        use wit::AgentEvent as W;
        match e {
            W::Message(m) => Event::Message { message: m.clone() },
            W::Reasoning(m) => Event::Reasoning { message: m.clone() },
            W::Thinking(t) => Event::Thinking { text: t.clone() },
            W::ToolCall(c) => Event::ToolCall {
                call_id: c.call_id.clone(),
                name: c.name.clone(),
                input: json_or_string(&c.input),
            },
            W::ToolResult(r) => Event::ToolResult {
                call_id: r.call_id.clone(),
                output: json_or_string(&r.output),
                is_error: r.is_error,
            },
            W::FileEdit(f) => Event::FileEdit {
                file_path: f.file_path.clone(),
                description: f.description.clone(),
                diff: f.diff.clone(),
            },
            W::TerminalOutput(t) => Event::TerminalOutput {
                data: t.data.clone(),
                call_id: t.call_id.clone(),
            },
            W::TaskStarted => Event::TaskStarted,
            W::TaskComplete(t) => Event::TaskComplete {
                exit_code: t.exit_code,
                summary: t.summary.clone(),
            },
            W::TurnAborted => Event::TurnAborted,
            W::PermissionRequest(p) => Event::PermissionRequest {
                permission_id: p.permission_id.clone(),
                tool_name: p.tool_name.clone(),
                description: p.description.clone(),
                options: p.options.clone(),
            },
            W::TokenCount(t) => Event::TokenCount {
                input: t.input,
                output: t.output,
                cache_read: t.cache_read,
                cache_creation: t.cache_creation,
            },
            W::Extension(x) => Event::Extension {
                kind: x.kind.clone(),
                data: json_or_string(&x.data),
            },
        }
    }
}

impl From<&wit::AgentState> for AgentState {
    fn from(s: &wit::AgentState) -> AgentState {
        match s {
            wit::AgentState::Starting => AgentState::Starting,
            wit::AgentState::Idle => AgentState::Idle,
            wit::AgentState::Working => AgentState::Working,
            wit::AgentState::WaitingPermission => AgentState::WaitingPermission,
            wit::AgentState::Exited => AgentState::Exited,
            wit::AgentState::Other(o) => AgentState::from(o.clone()),
        }
    }
}

impl From<&AgentState> for wit::AgentState {
    fn from(s: &AgentState) -> wit::AgentState {
        match s {
            AgentState::Starting => wit::AgentState::Starting,
            AgentState::Idle => wit::AgentState::Idle,
            AgentState::Working => wit::AgentState::Working,
            AgentState::WaitingPermission => wit::AgentState::WaitingPermission,
            AgentState::Exited => wit::AgentState::Exited,
            AgentState::Other(o) => wit::AgentState::Other(o.clone()),
        }
    }
}

impl From<&wit::StateSource> for StateSource {
    fn from(s: &wit::StateSource) -> StateSource {
        match s {
            wit::StateSource::Protocol => StateSource::Protocol,
            wit::StateSource::Transcript => StateSource::Transcript,
            wit::StateSource::Screen => StateSource::Screen,
            wit::StateSource::Process => StateSource::Process,
            wit::StateSource::Other(o) => StateSource::from(o.clone()),
        }
    }
}

impl From<&StateSource> for wit::StateSource {
    fn from(s: &StateSource) -> wit::StateSource {
        match s {
            StateSource::Protocol => wit::StateSource::Protocol,
            StateSource::Transcript => wit::StateSource::Transcript,
            StateSource::Screen => wit::StateSource::Screen,
            StateSource::Process => wit::StateSource::Process,
            StateSource::Other(o) => wit::StateSource::Other(o.clone()),
        }
    }
}

impl From<&wit::StateChange> for super::StateInfo {
    fn from(s: &wit::StateChange) -> super::StateInfo {
        super::StateInfo::new((&s.state).into(), (&s.source).into(), s.tool.clone())
    }
}

/// The adapter's typed item for `event` (`json`: the whole stored event,
/// the data of items adapters get as `other`).
pub fn stream_item(event: &Event, json: &str) -> StreamItem {
    use wit::AgentEvent as W;
    let agent = StreamItem::Agent;
    let outcome = |id: &str, response: Option<&str>, error: Option<&str>| MessageOutcome {
        id: id.to_string(),
        response: response.map(str::to_string),
        error: error.map(str::to_string),
    };
    match event {
        Event::Message { message } => agent(W::Message(message.clone())),
        Event::Reasoning { message } => agent(W::Reasoning(message.clone())),
        Event::Thinking { text } => agent(W::Thinking(text.clone())),
        Event::ToolCall { call_id, name, input } => agent(W::ToolCall(wit::ToolCall {
            call_id: call_id.clone(),
            name: name.clone(),
            input: text_of(input),
        })),
        Event::ToolResult {
            call_id,
            output,
            is_error,
        } => agent(W::ToolResult(wit::ToolResult {
            call_id: call_id.clone(),
            output: text_of(output),
            is_error: *is_error,
        })),
        Event::FileEdit {
            file_path,
            description,
            diff,
        } => agent(W::FileEdit(wit::FileEdit {
            file_path: file_path.clone(),
            description: description.clone(),
            diff: diff.clone(),
        })),
        Event::TerminalOutput { data, call_id } => agent(W::TerminalOutput(wit::TerminalOutput {
            data: data.clone(),
            call_id: call_id.clone(),
        })),
        Event::TaskStarted => agent(W::TaskStarted),
        Event::TaskComplete { exit_code, summary } => agent(W::TaskComplete(wit::TaskComplete {
            exit_code: *exit_code,
            summary: summary.clone(),
        })),
        Event::TurnAborted => agent(W::TurnAborted),
        Event::PermissionRequest {
            permission_id,
            tool_name,
            description,
            options,
        } => agent(W::PermissionRequest(wit::PermissionRequest {
            permission_id: permission_id.clone(),
            tool_name: tool_name.clone(),
            description: description.clone(),
            options: options.clone(),
        })),
        Event::TokenCount {
            input,
            output,
            cache_read,
            cache_creation,
        } => agent(W::TokenCount(wit::TokenCount {
            input: *input,
            output: *output,
            cache_read: *cache_read,
            cache_creation: *cache_creation,
        })),
        Event::Extension { kind, data } => agent(W::Extension(wit::Extension {
            kind: kind.clone(),
            data: text_of(data),
        })),
        Event::State { value, source, tool } => StreamItem::State(wit::StateChange {
            state: value.into(),
            source: source.into(),
            tool: tool.clone(),
        }),
        Event::MessageQueued { id, .. } => StreamItem::MessageQueued(id.clone()),
        Event::MessageStarted { id } => StreamItem::MessageStarted(id.clone()),
        Event::MessageDone { id, response } => StreamItem::MessageDone(outcome(id, Some(response), None)),
        Event::MessageFailed { id, error, .. } => StreamItem::MessageFailed(outcome(id, None, Some(error))),
        Event::PermissionResolved {
            permission_id,
            decision,
            ..
        } => StreamItem::PermissionResolved(PermissionResolution {
            permission_id: permission_id.clone(),
            decision: decision.to_string(),
        }),
        Event::Steer { .. } | Event::OutputLost { .. } | Event::Unknown => StreamItem::Other(wit::Extension {
            kind: serde_json::from_str::<Value>(json)
                .ok()
                .and_then(|v| v["type"].as_str().map(str::to_string))
                .unwrap_or_else(|| event.kind().to_string()),
            data: json.to_string(),
        }),
    }
}

/// The WIT stream event of `e` in session `session`.
pub fn stream_event(session: &str, e: &Envelope) -> StreamEvent {
    StreamEvent {
        seq: e.seq,
        session: session.to_string(),
        ts_ms: e.ts,
        json: e.json().to_string(),
        item: stream_item(&e.event, e.json()),
    }
}
