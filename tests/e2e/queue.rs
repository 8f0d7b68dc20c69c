//! The durable queue and the HTTP API through a real daemon and real tmux
//! (the `shell` provider): FIFO under concurrency, cap, idempotency, steer,
//! abort, cancel, reset, SSE resume, SIGKILL durability, auth, hostile bodies.

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

use crate::harness::TestDaemon;
use crate::stream::shell_session;

/// Events of `session` after `after` (not following), as (id, event).
pub async fn events(d: &TestDaemon, session: &str, after: Option<u64>) -> Result<Vec<(u64, Value)>> {
    let mut rb = d.req(Method::GET, &format!("/sessions/{session}/events?follow=false"));
    if let Some(a) = after {
        rb = rb.header("last-event-id", a.to_string());
    }
    let text = rb.send().await?.text().await?;
    parse_sse(&text)
}

/// Parse `id:`/`data:` records.
pub fn parse_sse(text: &str) -> Result<Vec<(u64, Value)>> {
    let mut out = Vec::new();
    let mut id = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().parse()?);
        } else if let Some(v) = line.strip_prefix("data:") {
            let v: Value = serde_json::from_str(v.trim())?;
            match id.take() {
                Some(i) => out.push((i, v)),
                None => bail!("event without id: {v}"),
            }
        }
    }
    Ok(out)
}

/// Wait for message `id` to finish; its row.
pub async fn wait_done(d: &TestDaemon, session: &str, id: &str) -> Result<Value> {
    d.wait_for(Duration::from_secs(60), &format!("message {id} to finish"), || async {
        let (_, m) = d.get(&format!("/sessions/{session}/messages/{id}")).await?;
        let st = m["status"].as_str().unwrap_or("").to_string();
        Ok((st != "queued" && st != "running").then_some(m))
    })
    .await
}

/// Wait until session `name` is idle.
pub async fn idle(d: &TestDaemon, name: &str) -> Result<()> {
    d.wait_for(Duration::from_secs(90), &format!("{name} idle"), || async {
        let (_, s) = d.get(&format!("/sessions/{name}/state")).await?;
        Ok((s["state"]["value"] == "idle").then_some(()))
    })
    .await
}

/// Wait for the open permission request of `name`; its id.
pub async fn permission_id(d: &TestDaemon, name: &str) -> Result<String> {
    d.wait_for(Duration::from_secs(30), "permission request", || async {
        let (_, s) = d.get(&format!("/sessions/{name}/state")).await?;
        Ok(s["permissions"][0]["permissionId"]
            .as_str()
            .map(str::to_string)
            .filter(|_| s["state"]["value"] == "waiting-permission"))
    })
    .await
}

/// Answer permission `id` of `name` with allow (200), then check that a
/// second, later answer is refused (409 `conflict`: the first answer wins).
pub async fn allow_then_refused_deny(d: &TestDaemon, name: &str, id: &str) -> Result<()> {
    let url = format!("/sessions/{name}/permissions/{id}");
    let (status, body) = d.post(&url, json!({"decision": "allow"})).await?;
    assert_eq!(status, 200, "{body}");
    let (status, body) = d.post(&url, json!({"decision": "deny"})).await?;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (409, Some("conflict")),
        "first answer wins: {body}"
    );
    Ok(())
}

/// Send `text` with `?wait=true` (200 expected); the response body.
pub async fn send_wait(d: &TestDaemon, name: &str, text: &str) -> Result<Value> {
    let (status, w) = d
        .post(&format!("/sessions/{name}/messages?wait=true"), json!({"text": text}))
        .await?;
    assert_eq!(status, 200, "{w}");
    Ok(w)
}

async fn send(d: &TestDaemon, session: &str, text: &str) -> Result<(StatusCode, Value)> {
    d.post(&format!("/sessions/{session}/messages"), json!({"text": text}))
        .await
}

/// Wait until message `id` runs and the agent is working on it.
async fn running(d: &TestDaemon, session: &str, id: &str) -> Result<()> {
    d.wait_for(Duration::from_secs(30), "turn to start", || async {
        let (_, m) = d.get(&format!("/sessions/{session}/messages/{id}")).await?;
        let (_, s) = d.get(&format!("/sessions/{session}/state")).await?;
        Ok((m["status"] == "running" && s["state"]["value"] == "working").then_some(()))
    })
    .await
}

#[tokio::test]
async fn fifo_under_fifty_concurrent_enqueuers() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "fifo", dir.path()).await?;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (url, token, http) = (d.url("/sessions/fifo/messages"), d.token.clone(), d.http.clone());
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({"text": format!("echo m-{i}")}))
                .send()
                .await?;
            anyhow::Ok((r.status(), r.json::<Value>().await?))
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        let (status, body) = t.await??;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let m = wait_done(&d, "fifo", id).await?;
        assert_eq!(m["status"], "done", "{m}");
        let n = m["text"].as_str().unwrap().trim_start_matches("echo ");
        assert_eq!(m["response"].as_str().unwrap(), n, "response is the command's output");
    }
    let evs = events(&d, "fifo", None).await?;
    let order = |kind: &str| -> Vec<String> {
        evs.iter()
            .filter(|(_, e)| e["type"] == kind)
            .map(|(_, e)| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(order("message-queued").len(), 50);
    assert_eq!(
        order("message-started"),
        order("message-queued"),
        "turns run in the order messages were accepted"
    );
    assert_eq!(order("message-done"), order("message-queued"));
    // One turn at a time: every start after the previous done.
    let mut running = false;
    for (_, e) in &evs {
        match e["type"].as_str() {
            Some("message-started") => {
                assert!(!running, "two turns overlapped");
                running = true;
            }
            Some("message-done" | "message-failed") => running = false,
            _ => {}
        }
    }
    let ids_seen: Vec<u64> = evs.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        ids_seen,
        (1..=ids_seen.len() as u64).collect::<Vec<_>>(),
        "event ids are 1..n"
    );
    Ok(())
}

#[tokio::test]
async fn cap_idempotency_cancel_abort_and_steer() -> Result<()> {
    let d = TestDaemon::start_with("[limits]\nqueue_cap = 3\n", |_| Ok(())).await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "q", dir.path()).await?;
    // Steer while idle queues.
    let (status, r) = d
        .post("/sessions/q/steer", json!({"text": "echo steered-idle"}))
        .await?;
    assert_eq!((status.as_u16(), r["mode"].as_str()), (200, Some("queued")), "{r}");
    assert_eq!(
        wait_done(&d, "q", r["id"].as_str().unwrap()).await?["response"],
        "steered-idle"
    );

    let (_, long) = send(&d, "q", "sleep 30").await?;
    let long_id = long["id"].as_str().unwrap().to_string();
    running(&d, "q", &long_id).await?;
    // Steer while running types into the running command.
    let (_, r) = d
        .post("/sessions/q/steer", json!({"text": "typed-while-running"}))
        .await?;
    assert_eq!(r, json!({"mode": "steer", "id": null}));

    // Idempotency: same key, same message.
    let post = |key: &'static str| {
        d.send(
            d.req(Method::POST, "/sessions/q/messages")
                .header("idempotency-key", key)
                .json(&json!({"text": "echo once"})),
        )
    };
    let (s1, a) = post("k-1").await?;
    let (s2, b) = post("k-1").await?;
    assert_eq!((s1.as_u16(), s2.as_u16()), (202, 202));
    assert_eq!(a["id"], b["id"]);
    assert_eq!(
        (a["duplicate"].as_bool(), b["duplicate"].as_bool()),
        (Some(false), Some(true))
    );
    // Cap: 3 queued max.
    let (_, c) = send(&d, "q", "echo second").await?;
    let (_, third) = send(&d, "q", "echo third").await?;
    let (status, full) = send(&d, "q", "echo fourth").await?;
    assert_eq!(
        (status.as_u16(), full["code"].as_str()),
        (429, Some("queue_full")),
        "{full}"
    );
    // Cancel a queued one; cancelling the running one conflicts.
    let (status, m) = d
        .delete(&format!("/sessions/q/messages/{}", third["id"].as_str().unwrap()))
        .await?;
    assert_eq!((status.as_u16(), m["status"].as_str()), (200, Some("cancelled")));
    let (status, _) = d.delete(&format!("/sessions/q/messages/{long_id}")).await?;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = d.delete("/sessions/q/messages/msg_nope").await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // State shows the running turn and the queue.
    let (_, st) = d.get("/sessions/q/state").await?;
    assert_eq!(st["state"]["value"], "working");
    assert_eq!(st["state"]["source"], "protocol");
    assert_eq!(st["turn"]["id"], long_id.as_str());
    assert_eq!(st["queue"].as_array().unwrap().len(), 2);
    // Abort: the running turn is aborted, the queue moves on.
    let (status, r) = d.post("/sessions/q/abort", json!({})).await?;
    assert_eq!((status.as_u16(), r["aborted"].as_str()), (200, Some(long_id.as_str())));
    assert_eq!(wait_done(&d, "q", &long_id).await?["status"], "aborted");
    assert_eq!(wait_done(&d, "q", a["id"].as_str().unwrap()).await?["status"], "done");
    assert_eq!(
        wait_done(&d, "q", c["id"].as_str().unwrap()).await?["response"],
        "second"
    );
    // ?wait=true returns the response.
    let (status, w) = d
        .post("/sessions/q/messages?wait=true", json!({"text": "echo waited"}))
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (w["ok"].as_bool(), w["response"].as_str()),
        (Some(true), Some("waited"))
    );
    // History lists finished turns with responses.
    let (_, h) = d.get("/sessions/q/history?limit=100").await?;
    let statuses: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.contains(&"aborted") && statuses.contains(&"cancelled") && statuses.contains(&"done"),
        "{statuses:?}"
    );
    Ok(())
}

#[tokio::test]
async fn abort_always_reports_aborted_never_done() -> Result<()> {
    // The interrupt brings the shell's prompt back (`133;D;130`), which the
    // provider reports as `task-complete`: the abort must have marked the
    // turn before that can end it as done.
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "ab", dir.path()).await?;
    for i in 0..12 {
        let (_, long) = send(&d, "ab", "sleep 60").await?;
        let id = long["id"].as_str().unwrap();
        running(&d, "ab", id).await?;
        let (status, r) = d.post("/sessions/ab/abort", json!({})).await?;
        assert_eq!((status.as_u16(), r["aborted"].as_str()), (200, Some(id)), "{r}");
        let m = wait_done(&d, "ab", id).await?;
        assert_eq!(m["status"], "aborted", "round {i}: {m}");
        idle(&d, "ab").await?;
    }
    Ok(())
}

#[tokio::test]
async fn reset_clears_the_queue_and_restarts_the_agent() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "rst", dir.path()).await?;
    send(&d, "rst", "export MARK=before").await?;
    let (_, long) = send(&d, "rst", "sleep 30").await?;
    running(&d, "rst", long["id"].as_str().unwrap()).await?;
    let (_, queued) = send(&d, "rst", "echo never").await?;
    let (status, r) = d.post("/sessions/rst/reset", json!({})).await?;
    assert_eq!(
        status,
        StatusCode::OK,
        "{r}\n{}",
        crate::harness::tail(&d.log_text(), 30)
    );
    assert_eq!(r["aborted"], long["id"]);
    assert_eq!(r["cancelled"], json!([queued["id"]]));
    assert_eq!(
        wait_done(&d, "rst", queued["id"].as_str().unwrap()).await?["status"],
        "cancelled"
    );
    // A fresh shell: the variable is gone, and turns work.
    let (status, w) = d
        .post(
            "/sessions/rst/messages?wait=true",
            json!({"text": "echo mark=${MARK:-unset}"}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{w}");
    assert_eq!(w["response"], "mark=unset", "{w}");
    Ok(())
}

#[tokio::test]
async fn sse_resume_with_last_event_id_yields_exactly_the_missed_events() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "sse", dir.path()).await?;
    // A live follower from the start.
    let resp = d.req(Method::GET, "/sessions/sse/events").send().await?;
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut live = resp.bytes_stream();
    for i in 0..3 {
        let (_, w) = d
            .post(
                "/sessions/sse/messages?wait=true",
                json!({"text": format!("echo e{i}")}),
            )
            .await?;
        assert_eq!(w["ok"], true);
    }
    let all = events(&d, "sse", None).await?;
    let cut = all[all.len() / 2].0;
    let rest = events(&d, "sse", Some(cut)).await?;
    assert_eq!(rest, all.iter().filter(|(i, _)| *i > cut).cloned().collect::<Vec<_>>());
    let (status, body) = d
        .send(
            d.req(Method::GET, "/sessions/sse/events")
                .header("last-event-id", "abc"),
        )
        .await?;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (400, Some("invalid_last_event_id"))
    );
    // The live stream carried the same events, in order.
    let mut text = String::new();
    let last = all.last().unwrap().0;
    while parse_sse(&text)?.last().map(|(i, _)| *i) != Some(last) {
        let chunk = tokio::time::timeout(Duration::from_secs(10), live.next())
            .await?
            .unwrap()?;
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert_eq!(parse_sse(&text)?, all);
    Ok(())
}

#[tokio::test]
async fn sigkill_keeps_every_accepted_message() -> Result<()> {
    let mut d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "dur", dir.path()).await?;
    let (_, long) = send(&d, "dur", "sleep 2").await?;
    running(&d, "dur", long["id"].as_str().unwrap()).await?;
    let mut ids = Vec::new();
    for i in 0..10 {
        let (status, r) = send(&d, "dur", &format!("echo after-{i}")).await?;
        assert_eq!(status, StatusCode::ACCEPTED);
        ids.push(r["id"].as_str().unwrap().to_string());
    }
    d.kill9();
    d.restart().await?;
    // The turn that ran across the restart is reconciled: the shell's end
    // of `sleep 2` (read from the output the sink kept) ends it, credited
    // to it; the next messages each get their own output.
    let m = wait_done(&d, "dur", long["id"].as_str().unwrap()).await?;
    assert_eq!(
        (m["status"].as_str(), m["response"].as_str()),
        (Some("done"), Some("")),
        "{m}"
    );
    for (i, id) in ids.iter().enumerate() {
        let m = wait_done(&d, "dur", id).await?;
        assert_eq!(
            (m["status"].as_str(), m["response"].as_str()),
            (Some("done"), Some(format!("after-{i}").as_str())),
            "{m}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn auth_matrix_over_every_route() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "am", dir.path()).await?;
    let routes: &[(Method, &str, Value)] = &[
        (Method::GET, "/ready", Value::Null),
        (Method::POST, "/auth/ticket", json!({})),
        (Method::GET, "/sessions", Value::Null),
        (Method::POST, "/sessions", json!({"provider": "nope"})),
        (Method::GET, "/sessions/am", Value::Null),
        (Method::PATCH, "/sessions/am", json!({"labels": {"a": "b"}})),
        (Method::POST, "/sessions/am/messages", json!({"text": "echo auth"})),
        (Method::GET, "/sessions/am/messages/msg_x", Value::Null),
        (Method::DELETE, "/sessions/am/messages/msg_x", Value::Null),
        (Method::POST, "/sessions/am/steer", json!({"text": "echo s"})),
        (Method::POST, "/sessions/am/abort", json!({})),
        (
            Method::POST,
            "/sessions/am/permissions/p1",
            json!({"decision": "allow"}),
        ),
        (Method::GET, "/sessions/am/history", Value::Null),
        (Method::GET, "/sessions/am/state", Value::Null),
        (Method::GET, "/sessions/am/events?follow=false", Value::Null),
        (Method::GET, "/sessions/am/stream", Value::Null),
        (Method::GET, "/plugins", Value::Null),
        (Method::POST, "/plugins/reload", json!({})),
        (Method::GET, "/metrics", Value::Null),
        (Method::GET, "/openapi.json", Value::Null),
        (Method::POST, "/sessions/am/reset", json!({})),
        (Method::DELETE, "/sessions/nope", Value::Null),
    ];
    for (method, path, body) in routes {
        let build = |token: Option<&str>| {
            let mut rb = d.http.request(method.clone(), d.url(path));
            if let Some(t) = token {
                rb = rb.bearer_auth(t);
            }
            if !body.is_null() {
                rb = rb.json(body);
            }
            rb
        };
        let none = build(None).send().await?.status();
        let wrong = build(Some("0000")).send().await?.status();
        let right = build(Some(&d.token)).send().await?.status();
        assert_eq!(none, StatusCode::UNAUTHORIZED, "{method} {path} without token");
        assert_eq!(wrong, StatusCode::UNAUTHORIZED, "{method} {path} with a wrong token");
        assert!(
            right.is_success() || right.is_client_error(),
            "{method} {path} with the token: {right}"
        );
    }
    let (status, _) = d.send(d.http.get(d.url("/health"))).await?;
    assert_eq!(status, StatusCode::OK);
    // The OpenAPI document describes the routes.
    let (_, doc) = d.get("/openapi.json").await?;
    assert!(
        doc["paths"]["/sessions/{name}/messages"]["post"].is_object(),
        "{}",
        doc["paths"]
    );
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let text = d.req(Method::GET, "/metrics").send().await?.text().await?;
    for family in [
        "wasmux_sessions",
        "wasmux_messages",
        "wasmux_plugin_calls_total",
        "wasmux_stream_clients",
        "wasmux_output_bytes_total",
    ] {
        assert!(text.contains(&format!("# TYPE {family} ")), "{family} in /metrics");
    }
    Ok(())
}

#[tokio::test]
async fn every_documented_operation_is_routed_by_the_running_router() -> Result<()> {
    // The unit test in `api::openapi` checks the source's route
    // declarations against the document; this sends every documented
    // METHOD PATH to the real router: none may fall through to its
    // no-route 404 or its 405.
    let d = TestDaemon::start().await?;
    let (_, doc) = d.get("/openapi.json").await?;
    let mut probed = 0;
    for (path, item) in doc["paths"].as_object().context("paths")? {
        let concrete: String = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "probe" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().context("operations")?.keys() {
            let Ok(m) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            let (status, body) = d.send(d.req(m.clone(), &concrete)).await?;
            let unrouted = status == StatusCode::METHOD_NOT_ALLOWED
                || (status == StatusCode::NOT_FOUND
                    && body["error"].as_str().is_some_and(|e| e.starts_with("no route")));
            assert!(
                !unrouted,
                "{method} {path} ({concrete}) is documented but not routed: {status} {body}"
            );
            probed += 1;
        }
    }
    assert!(probed >= 25, "only {probed} operations documented");
    Ok(())
}

#[tokio::test]
async fn hostile_bodies_get_clear_errors_and_lose_nothing() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "hb", dir.path()).await?;
    let (_, ok) = d
        .post("/sessions/hb/messages?wait=true", json!({"text": "echo kept"}))
        .await?;
    assert_eq!(ok["ok"], true);
    let url = "/sessions/hb/messages";
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{not json".to_vec(), 400, "invalid_json"),
        (br#"{"text": 42}"#.to_vec(), 400, "invalid_field"),
        (br#"{"txt": "x"}"#.to_vec(), 400, "invalid_field"),
        (br#"["text"]"#.to_vec(), 400, "invalid_body"),
        (b"".to_vec(), 400, "invalid_json"),
        (b"{\"text\": \"\xff\xfe\"}".to_vec(), 400, "invalid_utf8"),
        (br#"{"text": "   "}"#.to_vec(), 400, "invalid_message"),
        (br#"{"text": "x", "metadata": [1]}"#.to_vec(), 400, "invalid_message"),
        (
            format!(r#"{{"text": "{}"}}"#, "a".repeat(2 << 20)).into_bytes(),
            413,
            "body_too_large",
        ),
    ];
    for (body, status, code) in cases {
        // A fresh connection each: the server closes one whose oversized body
        // it refused to read, and a pooled client would reuse it.
        let fresh = reqwest::Client::builder().pool_max_idle_per_host(0).build()?;
        let (s, v) = d
            .send(
                fresh
                    .post(d.url(url))
                    .bearer_auth(&d.token)
                    .header("content-type", "application/json")
                    .body(body.clone()),
            )
            .await?;
        assert_eq!(
            (s.as_u16(), v["code"].as_str()),
            (status, Some(code)),
            "body {:?} -> {v}",
            String::from_utf8_lossy(&body[..body.len().min(40)])
        );
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    let (s, v) = d.post("/sessions/nope/messages", json!({"text": "x"})).await?;
    assert_eq!((s.as_u16(), v["code"].as_str()), (404, Some("not_found")));
    // Nothing lost: the accepted message and the session are intact.
    let (_, h) = d.get("/sessions/hb/history").await?;
    assert_eq!(h.as_array().unwrap().len(), 1);
    assert_eq!(h[0]["response"], "kept");
    let (_, w) = d
        .post("/sessions/hb/messages?wait=true", json!({"text": "echo after"}))
        .await?;
    assert_eq!(w["response"], "after");
    Ok(())
}

#[tokio::test]
async fn cli_over_the_api() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_wasmux"))
            .arg("--state-dir")
            .arg(d.state_dir())
            .args(args)
            .current_dir(dir.path())
            .output()
    };
    let out = cli(&["new", "c1", "--provider", "shell"])?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    d.wait_for(Duration::from_secs(20), "prompt", || async {
        let (_, s) = d.get("/sessions/c1/state").await?;
        Ok((s["state"]["value"] == "idle").then_some(()))
    })
    .await?;
    let out = cli(&["send", "c1", "echo cli-$((3*3))", "--wait"])?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "cli-9");
    let out = cli(&["ls", "--json"])?;
    let list: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(list[0]["name"], "c1");
    assert_eq!(list[0]["cwd"], std::fs::canonicalize(dir.path())?.to_str().unwrap());
    let out = cli(&["logs", "c1", "--json"])?;
    let kinds: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(kinds.contains(&"message-done".to_string()), "{kinds:?}");
    let out = cli(&["send", "nope", "x"])?;
    assert_eq!(out.status.code(), Some(4), "unknown session exits 4");
    let out = cli(&["attach", "c1", "--print"])?;
    assert!(String::from_utf8_lossy(&out.stdout).contains("attach -t =c1"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wasmux"))
        .args(["--url", "http://127.0.0.1:9", "ls"])
        .output()?;
    assert_eq!(out.status.code(), Some(3), "unreachable daemon exits 3");
    Ok(())
}
