//! The `vercel-ai` adapter: speaks the Vercel AI SDK *UI message stream*
//! protocol (SSE, header `x-vercel-ai-ui-message-stream: v1`) for one
//! message's turn. The request body is what the SDK's `useChat` /
//! `DefaultChatTransport` sends (`{id, messages: [{role, parts: [{type:
//! "text", text}]}], …}`); the last user message's text is enqueued.
//!
//! Parts emitted: `start`, `start-step`, `text-start/-delta/-end` for each
//! agent message, `reasoning-start/-delta/-end`, `tool-input-start` +
//! `tool-input-available` for tool calls, `tool-output-available` /
//! `tool-output-error` for results, `data-permission` and `data-file-edit`
//! custom parts, `message-metadata` with token usage, `finish-step`,
//! `finish`, `error`, then `[DONE]`.

use serde_json::{Value, json};
use wasmux_sdk::*;

struct VercelAi;

impl Adapter for VercelAi {
    type Encoder = UiStream;

    fn decode_request(req: HttpRequest) -> Result<Inbound, PluginError> {
        let body: Value = serde_json::from_slice(&req.body)
            .map_err(|e| error(ErrorKind::InvalidInput, format!("body is not JSON: {e}")))?;
        let messages = body["messages"]
            .as_array()
            .ok_or_else(|| error(ErrorKind::InvalidInput, "expected `messages`, an array of UI messages"))?;
        let last = messages
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .ok_or_else(|| error(ErrorKind::InvalidInput, "no user message in `messages`"))?;
        let text = match last["parts"].as_array() {
            Some(parts) => parts
                .iter()
                .filter(|p| p["type"] == "text")
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            None => last["content"].as_str().unwrap_or_default().to_string(),
        };
        if text.trim().is_empty() {
            return Err(error(ErrorKind::InvalidInput, "the last user message has no text"));
        }
        Ok(Inbound {
            text,
            metadata: json!({"chatId": body["id"], "uiMessageId": last["id"]}).to_string(),
        })
    }
}

/// Encoder state for one response.
struct UiStream {
    message_id: Option<String>,
    active: bool,
    parts: u32,
    done: bool,
}

fn sse(part: Value) -> Vec<u8> {
    format!("data: {part}\n\n").into_bytes()
}

impl UiStream {
    fn next_id(&mut self, prefix: &str) -> String {
        self.parts += 1;
        format!("{prefix}-{}", self.parts)
    }

    fn text_part(&mut self, kind: &str, text: &str) -> Vec<u8> {
        let id = self.next_id(kind);
        let mut out = sse(json!({"type": format!("{kind}-start"), "id": id}));
        out.extend(sse(json!({"type": format!("{kind}-delta"), "id": id, "delta": text})));
        out.extend(sse(json!({"type": format!("{kind}-end"), "id": id})));
        out
    }

    fn end(&mut self, error: Option<&str>) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(e) = error {
            out.extend(sse(json!({"type": "error", "errorText": e})));
        } else {
            out.extend(sse(json!({"type": "finish-step"})));
        }
        out.extend(sse(json!({"type": "finish"})));
        out.extend(b"data: [DONE]\n\n");
        self.done = true;
        out
    }

    fn mine(&self, id: &str) -> bool {
        self.message_id.as_deref() == Some(id)
    }
}

impl AdapterEncoder for UiStream {
    fn new(_session: String, message_id: Option<String>) -> Self {
        UiStream {
            // Without a message id the stream follows every turn.
            active: message_id.is_none(),
            message_id,
            parts: 0,
            done: false,
        }
    }

    fn headers(&self) -> Vec<(String, String)> {
        vec![
            ("content-type".into(), "text/event-stream".into()),
            ("cache-control".into(), "no-cache".into()),
            ("x-vercel-ai-ui-message-stream".into(), "v1".into()),
            ("x-accel-buffering".into(), "no".into()),
        ]
    }

    fn begin(&mut self) -> Vec<u8> {
        let id = self.message_id.clone().unwrap_or_else(|| "stream".into());
        sse(json!({"type": "start", "messageId": id}))
    }

    fn encode(&mut self, event: StreamEvent) -> Chunk {
        let bytes = match event.item {
            StreamItem::MessageStarted(id) if self.mine(&id) => {
                self.active = true;
                sse(json!({"type": "start-step"}))
            }
            StreamItem::MessageDone(o) if self.mine(&o.id) => self.end(None),
            StreamItem::MessageFailed(o) if self.mine(&o.id) => {
                let why = o.error.unwrap_or_else(|| "the turn failed".into());
                self.end(Some(&why))
            }
            _ if !self.active => Vec::new(),
            StreamItem::Agent(a) => match a {
                AgentEvent::Message(t) => self.text_part("text", &t),
                AgentEvent::Reasoning(t) | AgentEvent::Thinking(t) => self.text_part("reasoning", &t),
                AgentEvent::ToolCall(c) => {
                    let input: Value = serde_json::from_str(&c.input).unwrap_or(Value::String(c.input.clone()));
                    let mut out = sse(json!({"type": "tool-input-start", "toolCallId": c.call_id, "toolName": c.name}));
                    out.extend(sse(json!({"type": "tool-input-available", "toolCallId": c.call_id, "toolName": c.name, "input": input})));
                    out
                }
                AgentEvent::ToolResult(r) => {
                    let output: Value = serde_json::from_str(&r.output).unwrap_or(Value::String(r.output.clone()));
                    if r.is_error {
                        let text = output
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| output.to_string());
                        sse(json!({"type": "tool-output-error", "toolCallId": r.call_id, "errorText": text}))
                    } else {
                        sse(json!({"type": "tool-output-available", "toolCallId": r.call_id, "output": output}))
                    }
                }
                AgentEvent::PermissionRequest(p) => sse(json!({"type": "data-permission", "id": p.permission_id,
                    "data": {"permissionId": p.permission_id, "toolName": p.tool_name, "description": p.description, "options": p.options}})),
                AgentEvent::FileEdit(f) => sse(json!({"type": "data-file-edit",
                    "data": {"filePath": f.file_path, "description": f.description, "diff": f.diff}})),
                AgentEvent::TokenCount(t) => sse(json!({"type": "message-metadata",
                    "messageMetadata": {"usage": {"inputTokens": t.input, "outputTokens": t.output,
                        "cacheReadTokens": t.cache_read, "cacheCreationTokens": t.cache_creation}}})),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        Chunk { bytes, done: self.done }
    }

    fn finish(&mut self, error: Option<String>) -> Vec<u8> {
        if self.done {
            return Vec::new();
        }
        self.end(Some(
            error.as_deref().unwrap_or("the stream ended before the turn finished"),
        ))
    }
}

wasmux_sdk::adapter!(VercelAi);
