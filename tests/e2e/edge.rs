//! The HTTP edge (issue 13, "the edge"): the `Host` allow-list, header and
//! body read timeouts, every 4xx in the JSON error shape, WebSocket frames
//! over the limit, NUL bytes in a launch, and a session view that never
//! says `running` with an exit code. Raw TCP where the fault lives below
//! HTTP clients.

use anyhow::{Context, Result};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::TestDaemon;
use crate::stream::shell_session;
use crate::ws_client::{Frame, StreamClient};

/// Send `request` (raw bytes) and read until the server closes or
/// `deadline` passes: (what arrived, whether the server closed).
async fn raw(d: &TestDaemon, request: &[u8], deadline: Duration) -> Result<(String, bool)> {
    let mut s = TcpStream::connect(d.addr).await?;
    s.write_all(request).await?;
    let end = Instant::now() + deadline;
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok((String::from_utf8_lossy(&got).into_owned(), false));
        }
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return Ok((String::from_utf8_lossy(&got).into_owned(), false)),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok((String::from_utf8_lossy(&got).into_owned(), true)),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Status and JSON body of a raw HTTP/1.1 response.
fn parse(resp: &str) -> (u16, Value) {
    let status = resp.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body.trim()).unwrap_or(Value::Null))
}

fn get_with_host(d: &TestDaemon, path: &str, host: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        d.token
    )
    .into_bytes()
}

#[tokio::test]
async fn dns_rebinding_host_header_is_refused_with_421() -> Result<()> {
    let d = TestDaemon::start_with("[server]\nallowed_hosts = [\"wasmux.test\"]\n", |_| Ok(())).await?;
    let port = d.addr.port();
    let wait = Duration::from_secs(30);
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "wasmux.test".into(),
    ] {
        let (resp, _) = raw(&d, &get_with_host(&d, "/sessions", &host), wait).await?;
        assert_eq!(parse(&resp).0, 200, "Host {host}: {resp}");
    }
    for host in [format!("evil.example:{port}"), format!("127.0.0.1.evil.example:{port}")] {
        let (resp, _) = raw(&d, &get_with_host(&d, "/sessions", &host), wait).await?;
        let (status, body) = parse(&resp);
        assert_eq!(
            (status, body["code"].as_str()),
            (421, Some("host_not_allowed")),
            "Host {host}: {resp}"
        );
        assert!(
            body["error"].as_str().unwrap().contains("server.allowed_hosts"),
            "{body}"
        );
    }
    // Liveness is exempt: it tells nothing.
    let (resp, _) = raw(&d, &get_with_host(&d, "/health", "evil.example"), wait).await?;
    assert_eq!(parse(&resp).0, 200, "{resp}");
    Ok(())
}

#[tokio::test]
async fn partial_headers_are_closed_after_the_header_timeout() -> Result<()> {
    let d = TestDaemon::start_with("[server]\nheader_timeout_secs = 1\n", |_| Ok(())).await?;
    // Headers that never end: the server must hang up, not hold the socket.
    let (_, closed) = raw(
        &d,
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1",
        Duration::from_secs(30),
    )
    .await?;
    assert!(closed, "a connection with partial headers was still open after 30 s");
    // A complete request on a fresh connection is still served. (Not the
    // harness client: its pooled keep-alive connection is itself closed by
    // the 1 s header timeout, and a request sent as that happens is reset.)
    let (resp, _) = raw(
        &d,
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        Duration::from_secs(30),
    )
    .await?;
    assert_eq!(parse(&resp).0, 200, "{resp}");
    Ok(())
}

#[tokio::test]
async fn a_body_that_never_completes_gets_408_json_after_the_body_timeout() -> Result<()> {
    let d = TestDaemon::start_with("[server]\nbody_timeout_secs = 1\n", |_| Ok(())).await?;
    let req = format!(
        "POST /sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":",
        d.token
    );
    let (resp, _) = raw(&d, req.as_bytes(), Duration::from_secs(30)).await?;
    let (status, body) = parse(&resp);
    assert_eq!((status, body["code"].as_str()), (408, Some("body_timeout")), "{resp}");
    Ok(())
}

#[tokio::test]
async fn bad_query_path_and_body_inputs_get_json_errors_on_every_route() -> Result<()> {
    // A small body limit: the oversized body fits in the socket buffers,
    // so the client has sent it all before the 413 arrives.
    let d = TestDaemon::start_with("[limits]\nbody_bytes = 1024\n", |_| Ok(())).await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "w", dir.path()).await?;
    let big = json!({"text": "x".repeat(4096)});
    let cases: Vec<(Method, &str, Option<Value>, u16)> = vec![
        (Method::GET, "/sessions/w/history?limit=abc", None, 400),
        (Method::GET, "/sessions/w/history?limit=-5", None, 400),
        (Method::GET, "/sessions/w/events?after=-5&follow=false", None, 400),
        (Method::GET, "/sessions/w/events?after=abc&follow=false", None, 400),
        (Method::GET, "/sessions/w/events?follow=maybe", None, 400),
        (
            Method::POST,
            "/sessions/w/messages?wait=maybe",
            Some(json!({"text": "echo x"})),
            400,
        ),
        (
            Method::POST,
            "/sessions/w/messages?timeout=-1",
            Some(json!({"text": "echo x"})),
            400,
        ),
        (Method::POST, "/sessions/w/messages", Some(big), 413),
        (Method::POST, "/sessions/w/messages", Some(json!({"txt": 1})), 400),
        (Method::POST, "/sessions/w/steer", Some(json!([])), 400),
        (
            Method::POST,
            "/sessions/w/permissions/p1",
            Some(json!({"decision": 5})),
            400,
        ),
        (Method::PATCH, "/sessions/w", Some(json!({"labels": 5})), 400),
        (Method::POST, "/sessions", Some(json!({"name": 5})), 400),
        (
            Method::POST,
            "/sessions/w/chat?adapter=nope",
            Some(json!({"messages": []})),
            404,
        ),
        (Method::GET, "/sessions/w/stream", None, 400),
        (Method::GET, "/sessions/w/stream?ticket=abc&ticket=def", None, 400),
        (Method::GET, "/sessions/%FF", None, 400),
        (Method::GET, "/sessions/nope", None, 404),
        (Method::GET, "/sessions/nope/messages/m1", None, 404),
        (Method::DELETE, "/sessions/nope/messages/m1", None, 404),
        (Method::GET, "/no/such/route", None, 404),
        (Method::PUT, "/sessions", None, 405),
        (Method::GET, "/auth/ticket", None, 405),
        (Method::POST, "/webhooks/nope", Some(json!({})), 404),
    ];
    for (method, path, body, want) in cases {
        let mut rb = d.req(method.clone(), path);
        if let Some(b) = &body {
            rb = rb.json(b);
        }
        let resp = rb.send().await?;
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(status, want, "{method} {path}: {text}");
        assert!(
            ctype.starts_with("application/json"),
            "{method} {path}: content-type {ctype:?}: {text}"
        );
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()) && v["code"].as_str().is_some_and(|c| !c.is_empty()),
            "{method} {path}: not the JSON error shape: {text}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn websocket_message_over_the_limit_gets_an_error_and_close_1009() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "wsbig", dir.path()).await?;
    // Text and binary, just over the 256 KiB limit and far over it.
    for (binary, size) in [(false, 300 << 10), (true, 300 << 10), (false, 4 << 20)] {
        let mut c = StreamClient::connect(&d, "wsbig").await?;
        if binary {
            c.send_binary(vec![b'x'; size]).await?;
        } else {
            c.send_text(&"x".repeat(size)).await?;
        }
        let err = c
            .json_of("error")
            .await
            .with_context(|| format!("error for {size} bytes"))?;
        assert_eq!(err["code"], "message_too_big", "{err}");
        let mut code = None;
        for _ in 0..10 {
            if let Frame::Closed(c) = c.next(Duration::from_secs(20)).await? {
                code = c;
                break;
            }
        }
        assert_eq!(code, Some(1009), "close code after a {size}-byte message");
    }
    // Under the limit but over the input limit: an error, the stream stays.
    let mut c = StreamClient::connect(&d, "wsbig").await?;
    c.send(json!({"type": "input", "data": "y".repeat(65 << 10)})).await?;
    let err = c.json_of("error").await?;
    assert!(err["message"].as_str().unwrap_or("").contains("65536"), "{err}");
    c.send(json!({"type": "snapshot-request"})).await?;
    assert_eq!(c.json_of("snapshot").await?["type"], "snapshot");
    Ok(())
}

#[tokio::test]
async fn env_value_or_argument_with_nul_is_refused_with_400() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    for body in [
        json!({"name": "nul1", "provider": "shell", "cwd": dir.path(), "env": {"A": "x\u{0}y"}}),
        json!({"name": "nul2", "provider": "shell", "cwd": dir.path(), "args": ["-c", "echo a\u{0}b"]}),
    ] {
        let (status, v) = d.post("/sessions", body.clone()).await?;
        assert_eq!(
            (status.as_u16(), v["code"].as_str()),
            (400, Some("invalid_session")),
            "{body}: {v}"
        );
        assert!(v["error"].as_str().unwrap().contains("NUL"), "{v}");
    }
    let (_, list) = d.get("/sessions").await?;
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
    Ok(())
}

#[tokio::test]
async fn session_show_never_says_running_after_exit_code_is_set() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    let (status, b) = d
        .post(
            "/sessions",
            json!({"name": "ends", "provider": "shell", "cwd": dir.path(),
                   "args": ["-c", "until [ -e go ]; do sleep 0.01; done; exit 4"]}),
        )
        .await?;
    assert_eq!(status, 201, "{b}");
    // The agent exits when the test says so (a file), not after a set time:
    // views are polled while it runs, then across the exit.
    let mut polls = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = 0;
    // Poll as fast as the daemon answers: every view with an exit code
    // must say exited, in status and state alike.
    loop {
        let (_, s) = d.get("/sessions/ends").await?;
        let (_, st) = d.get("/sessions/ends/state").await?;
        for v in [&s, &st] {
            if !v["exitCode"].is_null() {
                assert_eq!(v["state"]["value"], "exited", "{v}");
                if v.get("status").is_some() {
                    assert_eq!(v["status"], "exited", "{v}");
                }
            }
        }
        polls += 1;
        if polls == 5 {
            std::fs::write(dir.path().join("go"), b"")?;
        }
        if !s["exitCode"].is_null() {
            seen += 1;
            if seen > 20 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the session never exited: {s}");
    }
    Ok(())
}
