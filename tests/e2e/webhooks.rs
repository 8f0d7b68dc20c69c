//! Webhook integrations and adapters through a real daemon: signature
//! checks (GitHub's published test vector and our own signed requests),
//! Slack's replay window, idempotent redelivery, malformed bodies, a trapping
//! plugin, drop-in routes, JSON lines.

use anyhow::Result;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;

use crate::harness::{TestDaemon, install_plugin};
use crate::queue::{events, wait_done};
use crate::stream::shell_session;

pub fn sign(secret: &str, payload: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
}

const CONFIG: &str = r#"
[plugins.generic]
secrets = { secret = "s3cret" }
config = { default_session = "hooked" }
[plugins.github]
secrets = { webhook = "gh-secret" }
allow_create = true
config = { provider = "shell", trigger = "@bot" }
[plugins.slack]
secrets = { signing = "slack-secret" }
allow_create = true
config = { provider = "shell" }
[plugins.trapper]
grants = ["crypto"]
secrets = { secret = "x" }
"#;

async fn hook(
    d: &TestDaemon,
    route: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<(StatusCode, Value, reqwest::header::HeaderMap)> {
    let mut rb = d
        .http
        .request(Method::POST, d.url(&format!("/webhooks/{route}")))
        .body(body);
    for (k, v) in headers {
        rb = rb.header(*k, v);
    }
    let resp = rb.send().await?;
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = resp.bytes().await?;
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), headers))
}

#[tokio::test]
async fn generic_webhook_secret_and_body_checks() -> Result<()> {
    let d = TestDaemon::start_with(CONFIG, |_| Ok(())).await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "hooked", dir.path()).await?;
    let body = json!({"text": "echo from-hook", "metadata": {"k": "v"}})
        .to_string()
        .into_bytes();
    let (s, v, _) = hook(&d, "generic", &[], body.clone()).await?;
    assert_eq!((s.as_u16(), v["code"].as_str()), (401, Some("unauthorized")), "{v}");
    let (s, _, _) = hook(&d, "generic", &[("x-wasmux-secret", "wrong".into())], body.clone()).await?;
    assert_eq!(s, 401);
    let (s, v, _) = hook(
        &d,
        "generic",
        &[("x-wasmux-secret", "s3cret".into())],
        b"{nope".to_vec(),
    )
    .await?;
    assert_eq!((s.as_u16(), v["code"].as_str()), (400, Some("invalid_input")), "{v}");
    let (s, v, _) = hook(
        &d,
        "generic",
        &[("x-wasmux-secret", "s3cret".into())],
        br#"{"text": 5}"#.to_vec(),
    )
    .await?;
    assert_eq!(s, 400, "{v}");
    let (s, v, h) = hook(
        &d,
        "generic",
        &[("x-wasmux-secret", "s3cret".into()), ("idempotency-key", "k1".into())],
        body.clone(),
    )
    .await?;
    assert_eq!((s.as_u16(), v["queued"].as_bool()), (202, Some(true)), "{v}");
    let id = h["x-wasmux-messages"].to_str()?.to_string();
    let m = wait_done(&d, "hooked", &id).await?;
    assert_eq!(
        (m["response"].as_str(), m["source"].as_str()),
        (Some("from-hook"), Some("webhook:generic"))
    );
    assert_eq!(m["metadata"]["k"], "v");
    // Redelivery with the same key: the same message.
    let (_, _, h2) = hook(
        &d,
        "generic",
        &[("x-wasmux-secret", "s3cret".into()), ("idempotency-key", "k1".into())],
        body,
    )
    .await?;
    assert_eq!(h2["x-wasmux-messages"].to_str()?, id);
    // Unknown session without allow_create.
    let (s, v, _) = hook(
        &d,
        "generic",
        &[("x-wasmux-secret", "s3cret".into())],
        br#"{"text":"x","session":"nope","provider":"shell"}"#.to_vec(),
    )
    .await?;
    assert_eq!(s, 404, "{v}");
    let (s, _, _) = hook(&d, "nothing-here", &[], b"{}".to_vec()).await?;
    assert_eq!(s, 404);
    Ok(())
}

#[tokio::test]
async fn github_signatures_ping_and_redelivery() -> Result<()> {
    let d = TestDaemon::start_with(&CONFIG.replace("gh-secret", "It's a Secret to Everybody"), |_| Ok(())).await?;
    // GitHub's published test vector: the signature verifies (so the
    // request gets past auth) and the non-JSON body is then a 400.
    let vector = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let (s, v, _) = hook(
        &d,
        "github",
        &[
            ("x-hub-signature-256", vector.into()),
            ("x-github-event", "issues".into()),
        ],
        b"Hello, World!".to_vec(),
    )
    .await?;
    assert_eq!((s.as_u16(), v["code"].as_str()), (400, Some("invalid_input")), "{v}");
    let (s, _, _) = hook(
        &d,
        "github",
        &[("x-hub-signature-256", vector.into())],
        b"Hello, World?".to_vec(),
    )
    .await?;
    assert_eq!(s, 401, "a changed body fails the signature");

    let secret = "It's a Secret to Everybody";
    let dref = &d;
    let send = |event: &'static str, delivery: &'static str, payload: Value| {
        let body = payload.to_string().into_bytes();
        let sig = format!("sha256={}", sign(secret, &body));
        async move {
            hook(
                dref,
                "github",
                &[
                    ("x-hub-signature-256", sig),
                    ("x-github-event", event.into()),
                    ("x-github-delivery", delivery.into()),
                ],
                body,
            )
            .await
        }
    };
    let (s, v, _) = send("ping", "d-0", json!({"zen": "Keep it logically awesome."})).await?;
    assert_eq!((s.as_u16(), v["ok"].as_bool()), (200, Some(true)));
    let comment = json!({
        "action": "created",
        "issue": {"number": 12},
        "comment": {"body": "@bot echo fixed-it", "html_url": "https://github.com/acme/app/issues/12#issuecomment-1"},
        "repository": {"full_name": "acme/app"},
        "sender": {"login": "octocat"}
    });
    let (s, v, h) = send("issue_comment", "d-1", comment.clone()).await?;
    assert_eq!(
        (s.as_u16(), v["session"].as_str()),
        (202, Some("gh-acme-app-12")),
        "{v}"
    );
    let id = h["x-wasmux-messages"].to_str()?.to_string();
    // GitHub redelivers: one message.
    let (s, _, h2) = send("issue_comment", "d-1", comment.clone()).await?;
    assert_eq!((s.as_u16(), h2["x-wasmux-messages"].to_str()?), (202, id.as_str()));
    let m = wait_done(&d, "gh-acme-app-12", &id).await?;
    assert_eq!(m["metadata"]["github"]["number"], 12);
    assert!(m["text"].as_str().unwrap().ends_with("issuecomment-1"), "{m}");
    let (_, hist) = d.get("/sessions/gh-acme-app-12/history").await?;
    assert_eq!(hist.as_array().unwrap().len(), 1, "replayed delivery made one message");
    // No trigger word: ignored. Wrong signature: 401.
    let mut quiet = comment.clone();
    quiet["comment"]["body"] = json!("just chatting");
    let (s, v, _) = send("issue_comment", "d-2", quiet).await?;
    assert_eq!((s.as_u16(), v["ignored"].is_string()), (200, true));
    let (s, _, _) = hook(
        &d,
        "github",
        &[
            ("x-hub-signature-256", format!("sha256={}", sign("wrong", b"{}"))),
            ("x-github-event", "ping".into()),
        ],
        b"{}".to_vec(),
    )
    .await?;
    assert_eq!(s, 401);
    Ok(())
}

#[tokio::test]
async fn slack_signing_window_challenge_mentions_and_commands() -> Result<()> {
    let d = TestDaemon::start_with(CONFIG, |_| Ok(())).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let signed = |ts: u64, body: &[u8], ct: &str| {
        let mut base = format!("v0:{ts}:").into_bytes();
        base.extend_from_slice(body);
        vec![
            ("x-slack-request-timestamp", ts.to_string()),
            ("x-slack-signature", format!("v0={}", sign("slack-secret", &base))),
            ("content-type", ct.to_string()),
        ]
    };
    let challenge =
        br#"{"type":"url_verification","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#;
    let (s, v, _) = hook(
        &d,
        "slack",
        &signed(now, challenge, "application/json"),
        challenge.to_vec(),
    )
    .await?;
    assert_eq!(
        (s.as_u16(), v["challenge"].as_str()),
        (200, Some("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"))
    );
    let (s, v, _) = hook(
        &d,
        "slack",
        &signed(now - 600, challenge, "application/json"),
        challenge.to_vec(),
    )
    .await?;
    assert_eq!(s, 401, "stale timestamp: {v}");
    assert!(v["error"].as_str().unwrap().contains("stale"), "{v}");
    let mention = json!({"type": "event_callback", "event_id": "Ev1",
        "event": {"type": "app_mention", "text": "<@U0BOT> echo slack-ok", "channel": "C123", "user": "U1", "ts": "1.2"}})
    .to_string();
    let (s, _, h) = hook(
        &d,
        "slack",
        &signed(now, mention.as_bytes(), "application/json"),
        mention.clone().into_bytes(),
    )
    .await?;
    assert_eq!(s, 200);
    let id = h["x-wasmux-messages"].to_str()?.to_string();
    let m = wait_done(&d, "slack-C123", &id).await?;
    assert_eq!(m["response"], "slack-ok", "{m}");
    let form = b"command=%2Fagent&text=echo+cmd-ok&channel_id=C123&user_name=ana&trigger_id=13345224609.7381";
    let (s, v, h) = hook(
        &d,
        "slack",
        &signed(now, form, "application/x-www-form-urlencoded"),
        form.to_vec(),
    )
    .await?;
    assert_eq!(
        (s.as_u16(), v["response_type"].as_str()),
        (200, Some("ephemeral")),
        "{v}"
    );
    let m = wait_done(&d, "slack-C123", h["x-wasmux-messages"].to_str()?).await?;
    assert_eq!(m["response"], "cmd-ok");
    let (s, _, _) = hook(
        &d,
        "slack",
        &signed(now, b"garbage", "application/json"),
        b"garbage".to_vec(),
    )
    .await?;
    assert_eq!(s, 400);
    Ok(())
}

#[tokio::test]
async fn a_trapping_webhook_fails_only_its_request() -> Result<()> {
    let d = TestDaemon::start_with(CONFIG, |dir| {
        install_plugin(&dir.join("plugins"), "trapper", "trapper", "")
    })
    .await?;
    let (s, v, _) = hook(&d, "trapper", &[], b"trap".to_vec()).await?;
    assert_eq!((s.as_u16(), v["code"].as_str()), (500, Some("plugin_trap")), "{v}");
    assert!(v["error"].as_str().unwrap().contains("unreachable"), "{v}");
    let (s, v, _) = hook(&d, "trapper", &[], b"loop".to_vec()).await?;
    assert_eq!((s.as_u16(), v["code"].as_str()), (504, Some("plugin_deadline")), "{v}");
    let (s, _, _) = hook(&d, "trapper", &[], b"fine".to_vec()).await?;
    assert_eq!(s, 200, "the next request is served");
    let row = d.plugin("trapper").await?.unwrap();
    assert_eq!(row["failures"], 2);
    let (s, _) = d.send(d.http.get(d.url("/health"))).await?;
    assert_eq!(s, 200);
    Ok(())
}

#[tokio::test]
async fn drop_in_webhook_route_lives_and_dies_with_its_file() -> Result<()> {
    let config = format!(
        "{CONFIG}\n[plugins.drop]\ngrants = [\"crypto\", \"enqueue\", \"http\"]\nsecrets = {{ secret = \"dropsecret\" }}\nconfig = {{ default_session = \"dropped\" }}\n[plugins.copycat]\ngrants = [\"crypto\", \"enqueue\", \"http\"]\n"
    );
    let d = TestDaemon::start_with(&config, |_| Ok(())).await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "dropped", dir.path()).await?;
    let plugins = d.plugins_dir();
    let manifest = std::fs::read_to_string(crate::harness::built_plugins().join("generic.toml"))?
        .replace("name = \"generic\"", "name = \"drop\"")
        .replace("route = \"generic\"", "route = \"drop\"");
    std::fs::write(plugins.join("drop.toml"), manifest)?;
    let started = std::time::Instant::now();
    std::fs::copy(
        crate::harness::built_plugins().join("generic.wasm"),
        plugins.join("drop.wasm"),
    )?;
    let body = json!({"text": "echo dropped-in"}).to_string().into_bytes();
    let h = d
        .wait_for(Duration::from_secs(10), "the new route", || async {
            let (s, _, h) = hook(&d, "drop", &[("x-wasmux-secret", "dropsecret".into())], body.clone()).await?;
            Ok((s == 202).then_some(h))
        })
        .await?;
    eprintln!("drop-in route served after {:?}", started.elapsed());
    let m = wait_done(&d, "dropped", h["x-wasmux-messages"].to_str()?).await?;
    assert_eq!(m["response"], "dropped-in");
    // A broken replacement keeps the old build serving.
    std::fs::write(plugins.join("drop.wasm"), b"\0asm broken")?;
    d.wait_for(Duration::from_secs(10), "reload error", || async {
        Ok(d.plugin("drop").await?.filter(|p| p["health"] == "reload-failed"))
    })
    .await?;
    let (s, _, _) = hook(&d, "drop", &[("x-wasmux-secret", "dropsecret".into())], body.clone()).await?;
    assert_eq!(s, 202, "old build still serves");
    // Removing the file removes the route.
    std::fs::remove_file(plugins.join("drop.wasm"))?;
    d.wait_for(Duration::from_secs(10), "route gone", || async {
        let (s, _, _) = hook(&d, "drop", &[], body.clone()).await?;
        Ok((s == 404).then_some(()))
    })
    .await?;
    // Two plugins claiming one route: the second is refused, naming both.
    let m2 = std::fs::read_to_string(crate::harness::built_plugins().join("generic.toml"))?
        .replace("name = \"generic\"", "name = \"copycat\"");
    std::fs::write(plugins.join("copycat.toml"), m2)?;
    std::fs::copy(
        crate::harness::built_plugins().join("generic.wasm"),
        plugins.join("copycat.wasm"),
    )?;
    let err = d
        .wait_for(Duration::from_secs(10), "route conflict", || async {
            let (_, list) = d.get("/plugins").await?;
            Ok(list["errors"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == "copycat")
                .map(|e| e["error"].as_str().unwrap().to_string()))
        })
        .await?;
    assert!(err.contains("`generic`") && err.contains("`copycat`"), "{err}");
    Ok(())
}

#[tokio::test]
async fn jsonl_events_for_scripts() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "j", dir.path()).await?;
    let (_, w) = d
        .post("/sessions/j/messages?wait=true", json!({"text": "echo jl"}))
        .await?;
    assert_eq!(w["ok"], true);
    let resp = d
        .req(Method::GET, "/sessions/j/events?format=jsonl&follow=false")
        .send()
        .await?;
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let text = resp.text().await?;
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let sse: Vec<Value> = events(&d, "j", None).await?.into_iter().map(|(_, e)| e).collect();
    assert_eq!(lines, sse, "JSON lines carry exactly the SSE events");
    let (s, v) = d.send(d.req(Method::GET, "/sessions/j/events?format=nope")).await?;
    assert_eq!((s.as_u16(), v["code"].as_str()), (404, Some("unknown_adapter")));
    Ok(())
}
