//! The `github` webhook: verifies `X-Hub-Signature-256` (HMAC-SHA256 of the
//! raw body with the secret named `webhook`, checked by the host), answers
//! `ping`, and turns `issue_comment` (created), `pull_request_review_comment`
//! (created) and `issues` (opened) whose text mentions the trigger word into
//! a message for session `gh-<owner>-<repo>-<number>`, with the text and a
//! link. `X-GitHub-Delivery` is the idempotency key (GitHub redelivers).
//!
//! With a `token` secret it answers back (world `integration`): an `eyes`
//! reaction on the triggering comment (or issue) once the prompt is
//! accepted, and the agent's answer — or what went wrong — as a comment on
//! the issue or pull request when the message ends. The token is injected
//! by the host into requests to `api_url`; the plugin never sees it.

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
        let prompt = match url {
            "" => text.trim().to_string(),
            url => format!("{}\n\n{url}", text.trim()),
        };
        let mut action = enqueue(session.clone(), prompt);
        action.idempotency_key = delivery.map(|d| format!("github:{d}"));
        action.create_with_provider = config::get("provider");
        let mut metadata = json!({
            "github": {"event": event, "repository": repo, "number": number, "url": url,
                       "sender": body["sender"]["login"]}
        });
        if crypto::has_secret("token") {
            let reacted = match event.as_str() {
                "issue_comment" => Some(format!("issues/comments/{}", body["comment"]["id"])),
                "pull_request_review_comment" => Some(format!("pulls/comments/{}", body["comment"]["id"])),
                _ => Some(format!("issues/{number}")),
            };
            metadata["replyTo"] = json!({"repository": repo, "number": number, "react": reacted});
        }
        action.metadata = metadata.to_string();
        Ok(Reply {
            response: json_response(202, json!({"queued": true, "session": session}).to_string()),
            actions: vec![Action::Enqueue(action)],
        })
    }
}

/// `{api_url}/repos/{repo}/{path}`.
fn api(repo: &str, path: &str) -> String {
    let base = config::get("api_url").unwrap_or_else(|| "https://api.github.com".into());
    format!("{}/repos/{repo}/{path}", base.trim_end_matches('/'))
}

/// A GitHub REST call with the token from secret `token`.
fn call(key: &str, url: String, body: Value) -> OutboundRequest {
    let mut r = post_json(key, url, body.to_string(), "token");
    r.headers.extend([
        ("accept".to_string(), "application/vnd.github+json".to_string()),
        ("user-agent".to_string(), "wasmux".to_string()),
        ("x-github-api-version".to_string(), "2022-11-28".to_string()),
    ]);
    r
}

fn target(m: &MessageInfo) -> Result<(String, u64, Option<String>), PluginError> {
    let t: Value = serde_json::from_str(&m.target)
        .map_err(|e| error(ErrorKind::InvalidInput, format!("reply target is not JSON: {e}")))?;
    let (Some(repo), Some(number)) = (t["repository"].as_str(), t["number"].as_u64()) else {
        return refuse(ErrorKind::InvalidInput, "reply target lacks repository or number");
    };
    Ok((repo.to_string(), number, t["react"].as_str().map(str::to_string)))
}

impl ReplyHandler for GitHub {
    fn on_accepted(m: MessageInfo) -> Result<Vec<OutboundRequest>, PluginError> {
        let (repo, _, react) = target(&m)?;
        Ok(react
            .map(|path| {
                call(
                    "reaction",
                    api(&repo, &format!("{path}/reactions")),
                    json!({"content": "eyes"}),
                )
            })
            .into_iter()
            .collect())
    }

    fn on_outcome(o: Outcome) -> Result<Vec<OutboundRequest>, PluginError> {
        let (repo, number, _) = target(&o.message)?;
        let body = outcome_text(&o);
        Ok(vec![call(
            "comment",
            api(&repo, &format!("issues/{number}/comments")),
            json!({ "body": body }),
        )])
    }
}

wasmux_sdk::integration!(GitHub);
