//! `{{name}}`: a wasmux adapter serving a session's assistant messages as
//! plain text lines (`GET /sessions/NAME/events?format={{name}}`), and
//! taking `{"text": "..."}` bodies as messages.

use serde_json::Value;
use wasmux_sdk::*;

struct Plugin;

impl Adapter for Plugin {
    type Encoder = Lines;

    fn decode_request(req: HttpRequest) -> Result<Inbound, PluginError> {
        let body: Value = serde_json::from_slice(&req.body)
            .map_err(|e| error(ErrorKind::InvalidInput, format!("body is not JSON: {e}")))?;
        match body["text"].as_str() {
            Some(text) if !text.trim().is_empty() => Ok(Inbound { text: text.into(), metadata: "{}".into() }),
            _ => Err(error(ErrorKind::InvalidInput, "`text` (a non-empty string) is required")),
        }
    }
}

/// Encoder state for one response stream.
struct Lines {
    message_id: Option<String>,
}

impl AdapterEncoder for Lines {
    fn new(_session: String, message_id: Option<String>) -> Self {
        Lines { message_id }
    }

    fn headers(&self) -> Vec<(String, String)> {
        vec![("content-type".into(), "text/plain; charset=utf-8".into())]
    }

    fn encode(&mut self, event: StreamEvent) -> Chunk {
        let ours = |id: &str| self.message_id.as_deref() == Some(id);
        match event.item {
            StreamItem::Agent(AgentEvent::Message(text)) => Chunk { bytes: format!("{text}\n").into_bytes(), done: false },
            StreamItem::MessageDone(o) | StreamItem::MessageFailed(o) if ours(&o.id) => Chunk { bytes: Vec::new(), done: true },
            _ => Chunk { bytes: Vec::new(), done: false },
        }
    }

    fn finish(&mut self, error: Option<String>) -> Vec<u8> {
        error.map(|e| format!("error: {e}\n").into_bytes()).unwrap_or_default()
    }
}

wasmux_sdk::adapter!(Plugin);
