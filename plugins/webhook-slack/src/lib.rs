//! The `slack` webhook: Slack's v0 request signing (`X-Slack-Signature` =
//! `v0=` HMAC-SHA256 of `v0:<timestamp>:<body>` with the secret named
//! `signing`, checked by the host) with a 5-minute replay window on
//! `X-Slack-Request-Timestamp`; answers `url_verification`; `app_mention`
//! events (JSON) and slash commands (form-encoded) become messages for
//! session `slack-<channel>`.

use serde_json::{Value, json};
use wasmux_sdk::*;

struct Slack;

/// Requests older (or newer) than this are refused.
const WINDOW_SECS: i64 = 300;

fn verify(req: &HttpRequest) -> Result<(), PluginError> {
    let ts = header(req, "x-slack-request-timestamp").unwrap_or_default();
    let Ok(ts_num) = ts.parse::<i64>() else {
        return refuse(ErrorKind::Unauthorized, "missing X-Slack-Request-Timestamp");
    };
    let now = (clock::now_ms() / 1000) as i64;
    if (now - ts_num).abs() > WINDOW_SECS {
        return refuse(
            ErrorKind::Unauthorized,
            "stale request timestamp (more than 5 minutes off)",
        );
    }
    let sig = header(req, "x-slack-signature").unwrap_or_default();
    let Some(raw) = sig.strip_prefix("v0=").and_then(hex_decode) else {
        return refuse(ErrorKind::Unauthorized, "missing or malformed X-Slack-Signature");
    };
    let mut base = format!("v0:{ts}:").into_bytes();
    base.extend_from_slice(&req.body);
    if crypto::verify_hmac("signing", &crypto::HashAlgorithm::Sha256, &base, &raw)? {
        Ok(())
    } else {
        refuse(ErrorKind::Unauthorized, "signature does not match")
    }
}

/// Drop `<@U123>` mentions and trim.
fn strip_mentions(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<@") {
        out.push_str(&rest[..start]);
        match rest[start..].find('>') {
            Some(end) => rest = &rest[start + end + 1..],
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn queued(
    session: String,
    text: String,
    key: Option<String>,
    meta: Value,
    response: HttpResponse,
) -> Result<Reply, PluginError> {
    if text.is_empty() {
        return Ok(reply(json_response(200, json!({"ignored": "empty text"}).to_string())));
    }
    let mut action = enqueue(session, text);
    action.idempotency_key = key;
    action.create_with_provider = config::get("provider");
    action.metadata = json!({ "slack": meta }).to_string();
    Ok(Reply {
        response,
        actions: vec![Action::Enqueue(action)],
    })
}

impl WebhookHandler for Slack {
    fn handle(req: HttpRequest) -> Result<Reply, PluginError> {
        verify(&req)?;
        let content_type = header(&req, "content-type").unwrap_or_default();
        if content_type.starts_with("application/x-www-form-urlencoded") {
            // Slash command.
            let form = form_decode(&req.body);
            let get = |k: &str| {
                form.iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let channel = get("channel_id");
            if get("command").is_empty() || channel.is_empty() {
                return refuse(
                    ErrorKind::InvalidInput,
                    "slash command payload lacks command or channel_id",
                );
            }
            let text = get("text").trim().to_string();
            let response = json_response(
                200,
                json!({"response_type": "ephemeral", "text": "Queued for the agent."}).to_string(),
            );
            let meta = json!({"command": get("command"), "user": get("user_name"), "channel": channel});
            let key = Some(format!("slack:cmd:{}", get("trigger_id"))).filter(|k| k.len() > 10);
            return queued(session_name(&format!("slack-{channel}")), text, key, meta, response);
        }
        let body: Value = serde_json::from_slice(&req.body)
            .map_err(|e| error(ErrorKind::InvalidInput, format!("body is neither JSON nor a form: {e}")))?;
        match body["type"].as_str() {
            Some("url_verification") => {
                let challenge = body["challenge"].as_str().unwrap_or_default();
                Ok(reply(json_response(200, json!({ "challenge": challenge }).to_string())))
            }
            Some("event_callback") => {
                let ev = &body["event"];
                if ev["type"] != "app_mention" {
                    return Ok(reply(json_response(200, json!({"ignored": ev["type"]}).to_string())));
                }
                let channel = ev["channel"].as_str().unwrap_or_default();
                if channel.is_empty() {
                    return refuse(ErrorKind::InvalidInput, "app_mention lacks a channel");
                }
                let text = strip_mentions(ev["text"].as_str().unwrap_or_default());
                let key = body["event_id"].as_str().map(|id| format!("slack:{id}"));
                let meta = json!({"user": ev["user"], "channel": channel, "ts": ev["ts"]});
                queued(
                    session_name(&format!("slack-{channel}")),
                    text,
                    key,
                    meta,
                    json_response(200, "{\"ok\":true}"),
                )
            }
            _ => refuse(ErrorKind::InvalidInput, "unknown Slack payload type"),
        }
    }
}

wasmux_sdk::webhook!(Slack);
