//! The `jsonl` adapter: every event as one line of JSON (exactly the SSE
//! `data:` payload), over chunked HTTP. For `/chat` it accepts
//! `{"text": "..."}` and ends after that message's turn.

use serde_json::Value;
use wasmux_sdk::*;

struct Jsonl;

impl Adapter for Jsonl {
    type Encoder = Lines;

    fn decode_request(req: HttpRequest) -> Result<Inbound, PluginError> {
        let body: Value = serde_json::from_slice(&req.body)
            .map_err(|e| error(ErrorKind::InvalidInput, format!("body is not JSON: {e}")))?;
        match body["text"].as_str() {
            Some(t) if !t.trim().is_empty() => Ok(Inbound {
                text: t.to_string(),
                metadata: body
                    .get("metadata")
                    .filter(|m| m.is_object())
                    .map(Value::to_string)
                    .unwrap_or_else(|| "{}".into()),
            }),
            _ => Err(error(ErrorKind::InvalidInput, "expected {\"text\": \"...\"}")),
        }
    }
}

/// Encoder state.
struct Lines {
    message_id: Option<String>,
}

impl AdapterEncoder for Lines {
    fn new(_session: String, message_id: Option<String>) -> Self {
        Lines { message_id }
    }

    fn headers(&self) -> Vec<(String, String)> {
        vec![
            ("content-type".into(), "application/x-ndjson".into()),
            ("cache-control".into(), "no-cache".into()),
        ]
    }

    fn encode(&mut self, event: StreamEvent) -> Chunk {
        let mut bytes = event.json.into_bytes();
        bytes.push(b'\n');
        let done = match (&self.message_id, &event.item) {
            (Some(mine), StreamItem::MessageDone(o) | StreamItem::MessageFailed(o)) => *mine == o.id,
            _ => false,
        };
        Chunk { bytes, done }
    }
}

wasmux_sdk::adapter!(Jsonl);
