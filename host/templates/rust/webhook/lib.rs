//! `{{name}}`: a wasmux webhook for senders that sign the raw body with
//! HMAC-SHA256 in `X-Signature: sha256=<hex>`. The host checks the
//! signature against the operator's secret `signing` (its bytes never enter
//! the plugin); a JSON body `{"text": "...", "session"?: "..."}` is queued.

use serde_json::{Value, json};
use wasmux_sdk::*;

struct Plugin;

impl WebhookHandler for Plugin {
    fn handle(req: HttpRequest) -> Result<Reply, PluginError> {
        if req.method != "POST" {
            return refuse(ErrorKind::InvalidInput, "use POST");
        }
        let signature = header(&req, "x-signature")
            .and_then(|s| s.strip_prefix("sha256="))
            .and_then(hex_decode)
            .ok_or_else(|| error(ErrorKind::Unauthorized, "missing X-Signature: sha256=<hex>"))?;
        if !crypto::has_secret("signing") {
            warn("no `signing` secret configured; refusing");
            return refuse(ErrorKind::Unauthorized, "this webhook has no secret configured");
        }
        if !crypto::verify_hmac("signing", &crypto::HashAlgorithm::Sha256, &req.body, &signature)? {
            return refuse(ErrorKind::Unauthorized, "signature mismatch");
        }
        let body: Value = serde_json::from_slice(&req.body)
            .map_err(|e| error(ErrorKind::InvalidInput, format!("body is not JSON: {e}")))?;
        let Some(text) = body["text"].as_str().filter(|t| !t.trim().is_empty()) else {
            return refuse(ErrorKind::InvalidInput, "`text` (a non-empty string) is required");
        };
        let session = match body["session"].as_str() {
            Some(s) => s.to_string(),
            None => config::get("default_session").unwrap_or_else(|| "webhook".into()),
        };
        let mut action = enqueue(session.clone(), text);
        action.idempotency_key = header(&req, "idempotency-key").map(str::to_string);
        Ok(Reply {
            response: json_response(202, json!({"queued": true, "session": session}).to_string()),
            actions: vec![Action::Enqueue(action)],
        })
    }
}

wasmux_sdk::webhook!(Plugin);
