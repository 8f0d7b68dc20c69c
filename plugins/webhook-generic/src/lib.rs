//! The `generic` webhook: `POST /webhooks/generic` with header
//! `X-Wasmux-Secret: <secret>` (compared in constant time by the host; the
//! secret never enters this plugin) and a JSON body
//! `{"text": "...", "session"?: "...", "provider"?: "...", "metadata"?: {...}}`.
//! An `Idempotency-Key` header dedupes redeliveries.
//!
//! With `"callback_url": "https://…"` in the body (its host on the
//! plugin's `http_allow`), the outcome is POSTed there when the message
//! ends, as JSON `{messageId, session, status, response, error}` signed by
//! the host: `X-Wasmux-Signature: sha256=<hex HMAC-SHA256 of the body
//! keyed with the plugin's secret `secret`>`.

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
        let mut metadata = match body.get("metadata") {
            None | Some(Value::Null) => json!({}),
            Some(m @ Value::Object(_)) => m.clone(),
            Some(_) => return refuse(ErrorKind::InvalidInput, "`metadata` must be an object"),
        };
        match body.get("callback_url") {
            None | Some(Value::Null) => {}
            Some(Value::String(url)) if url.starts_with("https://") || url.starts_with("http://") => {
                metadata["replyTo"] = json!({ "callbackUrl": url });
            }
            Some(_) => return refuse(ErrorKind::InvalidInput, "`callback_url` must be an http(s) URL"),
        }
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

impl ReplyHandler for Generic {
    fn on_outcome(o: Outcome) -> Result<Vec<OutboundRequest>, PluginError> {
        let target: Value = serde_json::from_str(&o.message.target)
            .map_err(|e| error(ErrorKind::InvalidInput, format!("reply target is not JSON: {e}")))?;
        let Some(url) = target["callbackUrl"].as_str() else {
            return Ok(Vec::new());
        };
        let status = match &o.status {
            OutcomeStatus::Done => "done",
            OutcomeStatus::Failed => "failed",
            OutcomeStatus::Aborted => "aborted",
            OutcomeStatus::Cancelled => "cancelled",
            OutcomeStatus::Other(s) => s.as_str(),
        };
        let body = json!({
            "messageId": o.message.message_id,
            "session": o.message.session,
            "status": status,
            "response": o.response,
            "error": o.error,
        });
        Ok(vec![OutboundRequest {
            key: "callback".into(),
            method: "POST".into(),
            url: url.to_string(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
            credential: Some(Credential::HmacSha256(HeaderCredential {
                name: "x-wasmux-signature".into(),
                secret: "secret".into(),
            })),
        }])
    }
}

wasmux_sdk::integration!(Generic);
