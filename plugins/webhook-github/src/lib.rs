//! The `github` webhook: verifies `X-Hub-Signature-256` (HMAC-SHA256 of the
//! raw body with the secret named `webhook`, checked by the host), answers
//! `ping`, and turns `issue_comment` (created), `pull_request_review_comment`
//! (created) and `issues` (opened) whose text mentions the trigger word into
//! a message for session `gh-<owner>-<repo>-<number>`, with the text and a
//! link. `X-GitHub-Delivery` is the idempotency key (GitHub redelivers).

use serde_json::{Value, json};
use wasmux_sdk::*;

struct GitHub;

fn verify(req: &HttpRequest) -> Result<(), PluginError> {
    let sig = header(req, "x-hub-signature-256").unwrap_or_default();
    let Some(hex) = sig.strip_prefix("sha256=") else {
        return refuse(ErrorKind::Unauthorized, "missing X-Hub-Signature-256");
    };
    let Some(raw) = hex_decode(hex) else {
        return refuse(ErrorKind::Unauthorized, "malformed X-Hub-Signature-256");
    };
    if crypto::verify_hmac("webhook", &crypto::HashAlgorithm::Sha256, &req.body, &raw)? {
        Ok(())
    } else {
        refuse(ErrorKind::Unauthorized, "signature does not match")
    }
}

fn ok(body: Value) -> Result<Reply, PluginError> {
    Ok(reply(json_response(200, body.to_string())))
}

impl WebhookHandler for GitHub {
    fn handle(req: HttpRequest) -> Result<Reply, PluginError> {
        verify(&req)?;
        let event = header(&req, "x-github-event").unwrap_or_default().to_string();
        let delivery = header(&req, "x-github-delivery").map(str::to_string);
        let body: Value = serde_json::from_slice(&req.body)
            .map_err(|e| error(ErrorKind::InvalidInput, format!("body is not JSON: {e}")))?;
        if event == "ping" {
            return ok(json!({"ok": true, "zen": body["zen"]}));
        }
        let action = body["action"].as_str().unwrap_or_default();
        let (text, url, number) = match (event.as_str(), action) {
            ("issue_comment", "created") => (
                &body["comment"]["body"],
                &body["comment"]["html_url"],
                &body["issue"]["number"],
            ),
            ("pull_request_review_comment", "created") => (
                &body["comment"]["body"],
                &body["comment"]["html_url"],
                &body["pull_request"]["number"],
            ),
            ("issues", "opened") => (
                &body["issue"]["body"],
                &body["issue"]["html_url"],
                &body["issue"]["number"],
            ),
            _ => return ok(json!({"ignored": format!("{event}/{action}")})),
        };
        let repo = body["repository"]["full_name"].as_str().unwrap_or_default();
        let (Some(text), Some(number)) = (text.as_str(), number.as_u64()) else {
            return refuse(ErrorKind::InvalidInput, "payload lacks the text or number of the issue");
        };
        if repo.is_empty() {
            return refuse(ErrorKind::InvalidInput, "payload lacks repository.full_name");
        }
        let trigger = config::get("trigger").unwrap_or_else(|| "@wasmux".into());
        if !text.contains(&trigger) {
            return ok(json!({"ignored": format!("no {trigger} in the text")}));
        }
        let session = session_name(&format!("gh-{}-{number}", repo.replace('/', "-")));
        let url = url.as_str().unwrap_or_default();
        let mut action = enqueue(session.clone(), format!("{}\n\n{url}", text.trim()));
        action.idempotency_key = delivery.map(|d| format!("github:{d}"));
        action.create_with_provider = config::get("provider");
        action.metadata = json!({
            "github": {"event": event, "repository": repo, "number": number, "url": url,
                       "sender": body["sender"]["login"]}
        })
        .to_string();
        Ok(Reply {
            response: json_response(202, json!({"queued": true, "session": session}).to_string()),
            actions: vec![Action::Enqueue(action)],
        })
    }
}

wasmux_sdk::webhook!(GitHub);
