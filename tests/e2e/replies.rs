//! Integrations that answer back (issue 15), against a fake GitHub API on
//! loopback: the reaction when a prompt is accepted and the answer as a
//! comment, with the token injected by the host (never in the plugin, the
//! outbox listing or the log), retries of 5xx and 429 (`Retry-After`), a
//! 4xx given up, one reply per message across redeliveries and a SIGKILL.

use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::time::Duration;

use crate::harness::TestDaemon;
use crate::queue::wait_done;
use wasmux_testkit::fake_api::FakeApi;

const TOKEN: &str = "ghp_test_token_4b1d";
const SECRET: &str = "gh-secret";
const WAIT: Duration = Duration::from_secs(60);

fn config(api: &FakeApi) -> String {
    format!(
        r##"
[outbox]
unsafe_allow_loopback = true
retry_base_ms = 20
[plugins.github]
grants = ["log", "config", "crypto", "enqueue", "http"]
secrets = {{ webhook = "{SECRET}", token = "{TOKEN}" }}
http_allow = ["127.0.0.1"]
allow_create = true
config = {{ provider = "shell", trigger = "#bot", api_url = "{}" }}
"##,
        api.url()
    )
}

/// Post a signed GitHub `issue_comment` (comment `comment_id` on issue 12
/// of acme/app) saying `text`; the message id.
async fn comment(d: &TestDaemon, delivery: &str, comment_id: u64, text: &str) -> Result<String> {
    let body = json!({
        "action": "created",
        "issue": {"number": 12},
        "comment": {"id": comment_id, "body": text},
        "repository": {"full_name": "acme/app"},
        "sender": {"login": "octocat"}
    })
    .to_string()
    .into_bytes();
    let sig = format!("sha256={}", crate::webhooks::sign(SECRET, &body));
    let resp = d
        .http
        .post(d.url("/webhooks/github"))
        .header("x-hub-signature-256", sig)
        .header("x-github-event", "issue_comment")
        .header("x-github-delivery", delivery)
        .body(body)
        .send()
        .await?;
    assert_eq!(resp.status(), 202, "{:?}", resp.text().await);
    Ok(resp.headers()["x-wasmux-messages"].to_str()?.to_string())
}

async fn deliveries(d: &TestDaemon) -> Result<Vec<Value>> {
    let (status, v) = d.get("/deliveries").await?;
    assert_eq!(status, 200, "{v}");
    Ok(v.as_array().context("a list")?.clone())
}

/// Wait until every delivery of the outbox is delivered or failed.
async fn settled(d: &TestDaemon, n: usize) -> Result<Vec<Value>> {
    d.wait_for(WAIT, &format!("{n} settled deliveries"), || async {
        let all = deliveries(d).await?;
        let done = all.len() == n
            && all
                .iter()
                .all(|x| x["status"] == "delivered" || x["status"] == "failed");
        Ok(done.then_some(all))
    })
    .await
}

fn by_key<'a>(all: &'a [Value], key: &str) -> &'a Value {
    all.iter()
        .find(|x| x["key"] == key)
        .unwrap_or_else(|| panic!("no {key} delivery: {all:#?}"))
}

#[tokio::test]
async fn a_github_comment_gets_its_answer_as_a_comment_with_the_token_injected() -> Result<()> {
    let api = FakeApi::start().await?;
    let d = TestDaemon::start_with(&config(&api), |_| Ok(())).await?;
    // The reaction is refused for good; the comment fails once with a 500.
    api.fail_next("/repos/acme/app/issues/comments/991/reactions", 403, None);
    api.fail_next("/repos/acme/app/issues/12/comments", 500, None);
    let id = comment(&d, "d-1", 991, "echo answered-here #bot").await?;
    let m = wait_done(&d, "gh-acme-app-12", &id).await?;
    assert_eq!(m["response"], "answered-here", "{m}");

    let posts = api.wait_for("/repos/acme/app/issues/12/comments", 2, WAIT).await?;
    for p in &posts {
        assert_eq!(p.method, "POST");
        assert_eq!(
            p.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str()),
            "injected"
        );
        assert_eq!(p.header("accept"), Some("application/vnd.github+json"));
        assert_eq!(p.json(), json!({"body": "answered-here"}), "the answer, as the comment");
    }
    let reactions = api.requests_to("/repos/acme/app/issues/comments/991/reactions");
    assert_eq!(reactions.len(), 1, "a 403 is not retried");
    assert_eq!(reactions[0].json(), json!({"content": "eyes"}));

    let all = settled(&d, 2).await?;
    let c = by_key(&all, "comment");
    assert_eq!(
        (c["status"].as_str(), c["attempts"].as_u64()),
        (Some("delivered"), Some(2)),
        "{c}"
    );
    assert_eq!(c["credential"], "bearer:token", "named, not shown");
    let r = by_key(&all, "reaction");
    assert_eq!(
        (r["status"].as_str(), r["lastStatus"].as_u64()),
        (Some("failed"), Some(403)),
        "{r}"
    );
    let error = r["lastError"].as_str().unwrap_or_default();
    assert!(
        error.contains("Bearer [redacted]"),
        "the echoed token is redacted: {error}"
    );

    // GitHub redelivers the same event: one message, one answer.
    assert_eq!(comment(&d, "d-1", 991, "echo answered-here #bot").await?, id);
    let text = d.req(reqwest::Method::GET, "/metrics").send().await?.text().await?;
    assert!(text.contains("wasmux_delivery_attempts_total 3"), "{text}");
    assert!(text.contains("wasmux_deliveries{status=\"delivered\"} 1"), "{text}");
    assert_eq!(
        api.requests_to("/repos/acme/app/issues/12/comments").len(),
        2,
        "no second answer"
    );
    // `wasmux deliveries`: the same outbox, as a table and filtered.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wasmux"))
        .arg("--state-dir")
        .arg(d.state_dir())
        .args(["deliveries", "--status", "failed"])
        .env_remove("WASMUX_URL")
        .env_remove("WASMUX_TOKEN")
        .output()?;
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    assert!(
        table
            .lines()
            .next()
            .is_some_and(|h| h.contains("STATUS") && h.contains("TRY")),
        "{table}"
    );
    assert!(
        table.contains("reaction") && !table.contains(" comment "),
        "only the failed one: {table}"
    );
    assert!(table.contains("Bearer [redacted]") && !table.contains(TOKEN), "{table}");
    let listing = deliveries(&d).await?;
    assert!(
        !format!("{listing:?}").contains(TOKEN),
        "the outbox listing never shows the token"
    );
    assert!(!d.log_text().contains(TOKEN), "the log never holds the token");
    Ok(())
}

#[tokio::test]
async fn a_sigkill_between_accept_and_answer_answers_exactly_once_after_restart() -> Result<()> {
    let api = FakeApi::start().await?;
    let mut d = TestDaemon::start_with(&config(&api), |_| Ok(())).await?;
    // The turn prints, then waits for a line: the daemon dies while it runs.
    let id = comment(&d, "d-7", 7, "echo before-the-kill; read -r _ #bot").await?;
    api.wait_for("/repos/acme/app/issues/comments/7/reactions", 1, WAIT)
        .await?;
    d.wait_for(WAIT, "the turn's output published", || async {
        let evs = crate::queue::events(&d, "gh-acme-app-12", None).await?;
        Ok(evs
            .iter()
            .any(|(_, e)| {
                e["type"] == "terminal-output" && e["data"].as_str().unwrap_or("").contains("before-the-kill")
            })
            .then_some(()))
    })
    .await?;
    d.kill9();
    d.restart().await?;
    // The far side is busy at first: 429 with Retry-After.
    api.fail_next("/repos/acme/app/issues/12/comments", 429, Some(1));
    crate::harness::tmux(&d.tmux_socket(), &["send-keys", "-t", "=gh-acme-app-12:", "Enter"])?;
    let m = wait_done(&d, "gh-acme-app-12", &id).await?;
    assert_eq!(
        (m["status"].as_str(), m["response"].as_str().map(str::trim)),
        (Some("done"), Some("before-the-kill")),
        "the turn's own output, across the restart: {m}"
    );
    let posts = api.wait_for("/repos/acme/app/issues/12/comments", 2, WAIT).await?;
    assert!(
        posts[1].at.duration_since(posts[0].at) >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert_eq!(posts[1].json()["body"], m["response"], "the answer, as the comment");
    let all = settled(&d, 2).await?;
    assert_eq!(by_key(&all, "comment")["status"], "delivered");
    assert_eq!(
        api.requests_to("/repos/acme/app/issues/comments/7/reactions").len(),
        1,
        "the reaction was not repeated after the restart"
    );
    assert_eq!(
        api.requests_to("/repos/acme/app/issues/12/comments").len(),
        2,
        "answered once"
    );
    Ok(())
}

#[tokio::test]
async fn a_generic_callback_url_gets_the_outcome_signed_by_the_host() -> Result<()> {
    let api = FakeApi::start().await?;
    let config = r#"
[outbox]
unsafe_allow_loopback = true
retry_base_ms = 20
[plugins.generic]
secrets = { secret = "cb-secret" }
http_allow = ["127.0.0.1"]
allow_create = true
"#;
    let d = TestDaemon::start_with(config, |_| Ok(())).await?;
    let body = json!({
        "text": "echo called-back", "session": "cb", "provider": "shell",
        "callback_url": format!("{}/hook?run=1", api.url()),
    });
    let resp = d
        .http
        .post(d.url("/webhooks/generic"))
        .header("x-wasmux-secret", "cb-secret")
        .json(&body)
        .send()
        .await?;
    assert_eq!(resp.status(), 202);
    let id = resp.headers()["x-wasmux-messages"].to_str()?.to_string();
    let m = wait_done(&d, "cb", &id).await?;
    let got = api.wait_for("/hook", 1, WAIT).await?;
    let hook = &got[0];
    assert_eq!(hook.path, "/hook?run=1");
    assert_eq!(
        hook.json(),
        json!({"messageId": id, "session": "cb", "status": "done", "response": m["response"], "error": null}),
        "the outcome as JSON"
    );
    assert_eq!(m["response"], "called-back");
    let expected = format!("sha256={}", crate::webhooks::sign("cb-secret", &hook.body));
    assert_eq!(
        hook.header("x-wasmux-signature"),
        Some(expected.as_str()),
        "signed by the host over the exact body"
    );
    assert_eq!(hook.header("authorization"), None);
    Ok(())
}
