//! The `generic` webhook: `POST /webhooks/generic` with header
//! `X-Wasmux-Secret: <secret>` (compared in constant time by the host; the
//! secret never enters this plugin) and a JSON body
//! `{"text": "...", "session"?: "...", "provider"?: "...", "metadata"?: {...}}`.
//! An `Idempotency-Key` header dedupes redeliveries.

use serde_json::{Value, json};
use wasmux_sdk::*;

struct Generic;

impl WebhookHandler for Generic {
    fn handle(req: HttpRequest) -> Result<Reply, PluginError> {
        if req.method != "POST" {
            return refuse(ErrorKind::InvalidInput, "use POST");
        }
        let presented = header(&req, "x-wasmux-secret").unwrap_or_default();
        if presented.is_empty() || !crypto::secret_equals("secret", presented.as_bytes())? {
            return refuse(ErrorKind::Unauthorized, "missing or wrong X-Wasmux-Secret");
        }
        let body: Value = serde_json::from_slice(&req.body)
            .map_err(|e| error(ErrorKind::InvalidInput, format!("body is not JSON: {e}")))?;
        let text = match body["text"].as_str() {
            Some(t) if !t.trim().is_empty() => t.to_string(),
            _ => return refuse(ErrorKind::InvalidInput, "`text` (a non-empty string) is required"),
        };
        let session = match body.get("session") {
            None | Some(Value::Null) => config::get("default_session").unwrap_or_else(|| "webhook".into()),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return refuse(ErrorKind::InvalidInput, "`session` must be a string"),
        };
        let metadata = match body.get("metadata") {
            None | Some(Value::Null) => json!({}),
            Some(m @ Value::Object(_)) => m.clone(),
            Some(_) => return refuse(ErrorKind::InvalidInput, "`metadata` must be an object"),
        };
        let mut action = enqueue(session.clone(), text);
        action.create_with_provider = body["provider"].as_str().map(str::to_string);
        action.metadata = metadata.to_string();
        action.idempotency_key = header(&req, "idempotency-key").map(str::to_string);
        Ok(Reply {
            response: json_response(202, json!({"queued": true, "session": session}).to_string()),
            actions: vec![Action::Enqueue(action)],
        })
    }
}

wasmux_sdk::webhook!(Generic);
