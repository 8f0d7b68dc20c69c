//! pi's stdout lines (responses and agent events) to wasmux events.

use serde_json::{Value, json};
use wasmux_sdk::*;

use crate::session::{PiSession, READY_PROBE_ID};

/// Interpret one JSON line pi printed.
pub fn on_line(s: &mut PiSession, v: &Value) -> Update {
    let mut u = empty_update();
    let kind = v["type"].as_str().unwrap_or_default();
    if kind != "response" && kind != "extension_ui_request" && std::mem::take(&mut s.waiting) {
        set_state(&mut u, AgentState::Working, StateSource::Protocol, None);
    }
    match kind {
        "response" => response(s, v, &mut u),
        "agent_start" => {
            s.running = true;
            s.run_since_probe = true;
            s.aborted = false;
            s.failed = None;
            s.streamed.clear();
            u.events.push(AgentEvent::TaskStarted);
            set_state(&mut u, AgentState::Working, StateSource::Protocol, None);
        }
        "message_end" => assistant_message(s, &v["message"], &mut u),
        "tool_execution_start" => {
            let name = text(&v["toolName"]);
            u.events.push(AgentEvent::ToolCall(ToolCall {
                call_id: text(&v["toolCallId"]),
                name: name.clone(),
                input: v["args"].to_string(),
            }));
            set_state(&mut u, AgentState::Working, StateSource::Protocol, Some(name));
        }
        "tool_execution_update" => tool_progress(s, v, &mut u),
        "tool_execution_end" => {
            let call_id = text(&v["toolCallId"]);
            s.streamed.remove(&call_id);
            u.events.push(AgentEvent::ToolResult(ToolResult {
                call_id,
                output: result_output(&v["result"]),
                is_error: v["isError"].as_bool().unwrap_or(false),
            }));
            set_state(&mut u, AgentState::Working, StateSource::Protocol, None);
        }
        "agent_end" => {
            s.running = false;
            if s.aborted {
                u.events.push(AgentEvent::TurnAborted);
            } else {
                u.events.push(AgentEvent::TaskComplete(TaskComplete {
                    exit_code: None,
                    summary: s.failed.take().map(|e| format!("error: {e}")),
                }));
            }
            s.aborted = false;
            set_state(&mut u, AgentState::Idle, StateSource::Protocol, None);
        }
        "auto_compaction_start" | "auto_compaction_end" | "auto_retry_start" | "auto_retry_end" | "extension_error" => {
            extension(&mut u, kind, v.clone())
        }
        "extension_ui_request" => crate::ui::request(s, v, &mut u),
        // turn_start/turn_end, message_start, message_update: the full
        // message arrives at message_end.
        _ => {}
    }
    u
}

/// A string field, or empty.
fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// An `extension` event `pi:<kind>` carrying `data`.
fn extension(u: &mut Update, kind: &str, data: Value) {
    u.events.push(AgentEvent::Extension(Extension {
        kind: format!("pi:{kind}"),
        data: data.to_string(),
    }));
}

/// Command responses: the readiness probe's answer and failures.
fn response(s: &mut PiSession, v: &Value, u: &mut Update) {
    let command = v["command"].as_str().unwrap_or_default();
    if v["success"] == false {
        let message = text(&v["error"]);
        warn(&format!("pi refused `{command}`: {message}"));
        extension(u, "error", json!({"command": command, "message": message}));
        if command == "prompt" && !s.running {
            // No run will start for this prompt: end the turn here.
            u.events.push(AgentEvent::TaskComplete(TaskComplete {
                exit_code: None,
                summary: Some(format!("error: {message}")),
            }));
            set_state(u, AgentState::Idle, StateSource::Protocol, None);
        }
        return;
    }
    if command == "get_state" && v["id"] == READY_PROBE_ID && !s.run_since_probe {
        s.running = v["data"]["isStreaming"] == true;
        let now = if s.running {
            AgentState::Working
        } else {
            AgentState::Idle
        };
        set_state(u, now, StateSource::Protocol, None);
    }
}

/// A finished message: assistant text, thinking and usage; errors and aborts
/// are remembered for `agent_end`.
fn assistant_message(s: &mut PiSession, m: &Value, u: &mut Update) {
    if m["role"] != "assistant" {
        return; // user, toolResult and custom messages: reported elsewhere or not at all
    }
    let blocks = m["content"].as_array().map(Vec::as_slice).unwrap_or_default();
    let join = |kind: &str, field: &str| -> String {
        blocks
            .iter()
            .filter(|b| b["type"] == kind)
            .filter_map(|b| b[field].as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    };
    let thinking = join("thinking", "thinking");
    if !thinking.trim().is_empty() {
        u.events.push(AgentEvent::Thinking(thinking));
    }
    let said = join("text", "text");
    if !said.trim().is_empty() {
        u.events.push(AgentEvent::Message(said));
    }
    let n = |k: &str| m["usage"][k].as_u64().unwrap_or(0);
    let count = TokenCount {
        input: n("input"),
        output: n("output"),
        cache_read: n("cacheRead"),
        cache_creation: n("cacheWrite"),
    };
    // An aborted or failed call reports all zeros: nothing was counted.
    if count.input + count.output + count.cache_read + count.cache_creation > 0 {
        u.events.push(AgentEvent::TokenCount(count));
    }
    match m["stopReason"].as_str() {
        Some("aborted") => s.aborted = true,
        Some("error") => {
            let message = m["errorMessage"]
                .as_str()
                .unwrap_or("the model call failed")
                .to_string();
            extension(u, "error", json!({"message": message}));
            s.failed = Some(message);
        }
        _ => {}
    }
}

/// Streaming tool output: the part of the accumulated text not yet published.
fn tool_progress(s: &mut PiSession, v: &Value, u: &mut Update) {
    let call_id = text(&v["toolCallId"]);
    let so_far = content_text(&v["partialResult"]["content"]);
    let seen = s.streamed.get(&call_id).copied().unwrap_or(0);
    if so_far.len() > seen && so_far.is_char_boundary(seen) {
        u.events.push(AgentEvent::TerminalOutput(TerminalOutput {
            data: so_far[seen..].to_string(),
            call_id: Some(call_id.clone()),
        }));
        s.streamed.insert(call_id, so_far.len());
    }
}

/// The text blocks of a content array, concatenated.
fn content_text(content: &Value) -> String {
    content
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect()
}

/// A tool result as JSON text: its text content as a JSON string, or the
/// whole result when it has no text.
fn result_output(result: &Value) -> String {
    let text = content_text(&result["content"]);
    if text.is_empty() && !result["content"].is_array() {
        result.to_string()
    } else {
        Value::String(text).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn idle(u: &Update) -> bool {
        u.state.as_ref().is_some_and(|s| matches!(s.state, AgentState::Idle))
    }

    /// Seen once under load with the real pi 0.73.1: the probe's answer was
    /// read after the run had started, and its `isStreaming: false` ended
    /// the run as idle before the model answered.
    #[test]
    fn a_probe_answer_read_after_the_run_started_does_not_end_it() {
        let mut s = <PiSession as ProviderSession>::new(test_request("p", "/p"));
        s.feed_output(b"wasmux bridge: pi --mode rpc\n");
        on_line(&mut s, &json!({"type": "agent_start"}));
        let probe = json!({"type": "response", "command": "get_state", "id": READY_PROBE_ID,
            "success": true, "data": {"isStreaming": false}});
        let u = on_line(&mut s, &probe);
        assert!(!idle(&u), "a stale probe answer ended the run");
        assert!(s.running);
    }

    #[test]
    fn the_probe_answer_makes_a_fresh_agent_idle() {
        let mut s = <PiSession as ProviderSession>::new(test_request("p", "/p"));
        s.feed_output(b"wasmux bridge: pi --mode rpc\n");
        let probe = json!({"type": "response", "command": "get_state", "id": READY_PROBE_ID,
            "success": true, "data": {"isStreaming": false}});
        assert!(idle(&on_line(&mut s, &probe)));
    }
}
