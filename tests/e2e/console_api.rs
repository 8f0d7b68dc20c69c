//! The console's HTTP side without a browser: the page is served, one-time
//! login codes, the cookie's same-origin and CSRF rules, sign-out, CORS from
//! the live allow-list (reloaded by `POST /config/reload` and SIGHUP), and
//! `?ticket=` on the events stream.

use anyhow::{Context, Result};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

use crate::harness::TestDaemon;

/// Redeem a fresh login code the way the page does; the cookie pair
/// (`name=value`) and the CSRF token.
pub async fn sign_in(d: &TestDaemon) -> Result<(String, String)> {
    let (s, b) = d.post("/auth/login", json!({})).await?;
    assert_eq!(s, 200, "{b}");
    let url = b["url"].as_str().context("url")?;
    let code = url.split("#code=").nth(1).context("code in the fragment")?;
    let res = d
        .http
        .post(d.url("/auth/session"))
        .header("origin", format!("http://{}", d.addr))
        .json(&json!({"code": code}))
        .send()
        .await?;
    assert_eq!(res.status(), 200);
    let set = res.headers()["set-cookie"].to_str()?.to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set}");
    }
    let body: Value = res.json().await?;
    let cookie = set.split(';').next().unwrap().to_string();
    Ok((cookie, body["csrf"].as_str().context("csrf")?.to_string()))
}

async fn status(rb: reqwest::RequestBuilder) -> Result<(StatusCode, Value)> {
    let res = rb.send().await?;
    let s = res.status();
    Ok((s, res.json().await.unwrap_or(Value::Null)))
}

#[tokio::test]
async fn console_page_is_served_and_login_codes_work_once() -> Result<()> {
    let d = TestDaemon::start().await?;
    let page = d.http.get(d.url("/")).send().await?;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()?
            .contains("default-src 'self'")
    );
    let html = page.text().await?;
    assert!(html.contains("/console/app.js"), "{html}");
    let xterm = d.http.get(d.url("/console/vendor/xterm.js")).send().await?;
    assert_eq!(xterm.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(xterm.text().await?.contains("Terminal"));
    let (s, b) = status(d.http.get(d.url("/console/nope.js"))).await?;
    assert_eq!((s.as_u16(), b["code"].as_str()), (404, Some("not_found")));

    // Minting a code needs the token.
    let (s, b) = status(d.http.post(d.url("/auth/login"))).await?;
    assert_eq!((s.as_u16(), b["code"].as_str()), (401, Some("unauthorized")), "{b}");
    let (s, b) = d.post("/auth/login", json!({})).await?;
    assert_eq!(s, 200);
    let code = b["url"].as_str().unwrap().split("#code=").nth(1).unwrap().to_string();
    assert!(
        b["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("http://{}/login#code=", d.addr)),
        "{b}"
    );
    let own = format!("http://{}", d.addr);
    let exchange = |origin: Option<&str>| {
        let mut rb = d.http.post(d.url("/auth/session")).json(&json!({"code": code}));
        if let Some(o) = origin {
            rb = rb.header("origin", o);
        }
        rb
    };
    // Not from the page: refused, and the code is not spent.
    let (s, b) = status(exchange(Some("http://evil.example"))).await?;
    assert_eq!((s.as_u16(), b["code"].as_str()), (403, Some("origin_required")));
    let (s, _) = status(exchange(Some(&own))).await?;
    assert_eq!(s, 200);
    let (s, b) = status(exchange(Some(&own))).await?;
    assert_eq!(
        (s.as_u16(), b["code"].as_str()),
        (401, Some("login_code_invalid")),
        "second use refused"
    );
    // An unknown session for the landing page is a 404.
    let (s, _) = d.post("/auth/login?session=nope", json!({})).await?;
    assert_eq!(s, 404);
    // Every new route is in the OpenAPI document.
    let (_, doc) = d.get("/openapi.json").await?;
    for (path, method) in [
        ("/auth/login", "post"),
        ("/auth/session", "post"),
        ("/auth/session", "get"),
        ("/auth/session", "delete"),
        ("/config/reload", "post"),
        ("/overview", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} in openapi.json"
        );
    }
    Ok(())
}

#[tokio::test]
async fn console_cookie_is_same_origin_only_and_signs_out() -> Result<()> {
    let d = TestDaemon::start().await?;
    let (cookie, csrf) = sign_in(&d).await?;
    let own = format!("http://{}", d.addr);
    let with = |m: Method, path: &str| d.http.request(m, d.url(path)).header("cookie", &cookie);
    let (s, b) = status(with(Method::GET, "/auth/session")).await?;
    assert_eq!(
        (s.as_u16(), b["via"].as_str(), b["csrf"].as_str()),
        (200, Some("browser"), Some(csrf.as_str()))
    );
    assert_eq!(status(with(Method::GET, "/overview")).await?.0, 200);
    // Cross-origin, with the cookie: refused on reads and writes.
    let (s, b) = status(with(Method::GET, "/overview").header("origin", "http://evil.example")).await?;
    assert_eq!((s.as_u16(), b["code"].as_str()), (403, Some("cross_origin_refused")));
    let (s, b) = status(with(Method::GET, "/sessions").header("sec-fetch-site", "cross-site")).await?;
    assert_eq!((s.as_u16(), b["code"].as_str()), (403, Some("cross_origin_refused")));
    let create = json!({"name": "c1", "provider": "demo"});
    let (s, b) = status(
        with(Method::POST, "/sessions")
            .header("origin", "http://evil.example")
            .header("x-csrf-token", &csrf)
            .json(&create),
    )
    .await?;
    assert_eq!((s.as_u16(), b["code"].as_str()), (403, Some("cross_origin_refused")));
    // Same origin but no CSRF header, or no Origin: refused.
    let (s, b) = status(with(Method::POST, "/sessions").header("origin", &own).json(&create)).await?;
    assert_eq!((s.as_u16(), b["code"].as_str()), (403, Some("csrf_required")));
    let (s, b) = status(
        with(Method::POST, "/sessions")
            .header("x-csrf-token", &csrf)
            .json(&create),
    )
    .await?;
    assert_eq!((s.as_u16(), b["code"].as_str()), (403, Some("origin_required")));
    let (s, b) = status(
        with(Method::POST, "/sessions")
            .header("origin", &own)
            .header("x-csrf-token", &csrf)
            .json(&create),
    )
    .await?;
    assert_eq!(s, 201, "{b}");
    // The bearer token keeps working beside it.
    assert_eq!(d.get("/sessions/c1").await?.0, 200);
    // Sign-out revokes the cookie at once.
    let (s, b) = status(
        with(Method::DELETE, "/auth/session")
            .header("origin", &own)
            .header("x-csrf-token", &csrf),
    )
    .await?;
    assert_eq!((s.as_u16(), b["revoked"].as_bool()), (200, Some(true)), "{b}");
    let (s, b) = status(with(Method::GET, "/overview")).await?;
    assert_eq!((s.as_u16(), b["code"].as_str()), (401, Some("unauthorized")));
    Ok(())
}

fn preflight(d: &TestDaemon, origin: &str) -> reqwest::RequestBuilder {
    d.http
        .request(Method::OPTIONS, d.url("/sessions"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
}

async fn allowed_origin(d: &TestDaemon, origin: &str) -> Result<Option<String>> {
    let res = d.req(Method::GET, "/sessions").header("origin", origin).send().await?;
    assert_eq!(res.status(), 200);
    Ok(res
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_string()))
}

#[tokio::test]
async fn cors_follows_the_allow_list_which_reloads_live() -> Result<()> {
    let d = TestDaemon::start_with("[stream]\nallowed_origins = [\"https://ok.example\"]\n", |_| Ok(())).await?;
    let res = preflight(&d, "https://ok.example").send().await?;
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()["access-control-allow-origin"], "https://ok.example");
    assert!(
        res.headers()["access-control-allow-headers"]
            .to_str()?
            .contains("authorization")
    );
    assert!(res.headers().get("access-control-allow-credentials").is_none());
    let res = preflight(&d, "https://evil.example").send().await?;
    assert_eq!(res.status(), 403);
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert_eq!(res.json::<Value>().await?["code"], "origin_not_allowed");
    assert_eq!(
        allowed_origin(&d, "https://ok.example").await?.as_deref(),
        Some("https://ok.example")
    );
    assert_eq!(allowed_origin(&d, "https://evil.example").await?, None);

    // POST /config/reload picks up a new list without a restart.
    std::fs::write(
        d.state_dir().join("config.toml"),
        "[stream]\nallowed_origins = [\"https://new.example\"]\n",
    )?;
    let (s, b) = d.post("/config/reload", json!({})).await?;
    assert_eq!(
        (s.as_u16(), &b["allowedOrigins"]),
        (200, &json!(["https://new.example"]))
    );
    assert_eq!(allowed_origin(&d, "https://ok.example").await?, None);
    assert_eq!(
        allowed_origin(&d, "https://new.example").await?.as_deref(),
        Some("https://new.example")
    );

    // So does SIGHUP.
    std::fs::write(
        d.state_dir().join("config.toml"),
        "[stream]\nallowed_origins = [\"https://hup.example\"]\n",
    )?;
    let info: Value = serde_json::from_slice(&std::fs::read(d.state_dir().join("daemon.json"))?)?;
    let pid = info["pid"].as_i64().context("pid")? as i32;
    // SAFETY: signalling the daemon this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    d.wait_for(Duration::from_secs(30), "the SIGHUP reload", || async {
        Ok(allowed_origin(&d, "https://hup.example").await?.map(|_| ()))
    })
    .await?;
    // A broken file is reported and the old list stays.
    std::fs::write(d.state_dir().join("config.toml"), "[stream\n")?;
    let (s, b) = d.post("/config/reload", json!({})).await?;
    assert_eq!((s.as_u16(), b["code"].as_str()), (400, Some("invalid_config")), "{b}");
    assert!(allowed_origin(&d, "https://hup.example").await?.is_some());
    Ok(())
}

#[tokio::test]
async fn events_accept_a_single_use_ticket() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    let (s, b) = d
        .post("/sessions", json!({"name": "t", "provider": "demo", "cwd": dir.path()}))
        .await?;
    assert_eq!(s, 201, "{b}");
    let (_, t) = d.post("/auth/ticket", json!({})).await?;
    let ticket = t["ticket"].as_str().context("ticket")?;
    let url = d.url(&format!("/sessions/t/events?follow=false&ticket={ticket}"));
    let res = d.http.get(&url).send().await?;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str()?.starts_with("text/event-stream"));
    let (s, b) = status(d.http.get(&url)).await?;
    assert_eq!(
        (s.as_u16(), b["code"].as_str()),
        (401, Some("unauthorized")),
        "a ticket works once"
    );
    // Tickets open only the event stream, not the rest of the API.
    let (_, t) = d.post("/auth/ticket", json!({})).await?;
    let (s, _) = status(
        d.http
            .get(d.url(&format!("/sessions?ticket={}", t["ticket"].as_str().unwrap()))),
    )
    .await?;
    assert_eq!(s, 401);
    Ok(())
}

#[tokio::test]
async fn wasmux_open_prints_a_working_one_time_link() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    let (s, b) = d
        .post(
            "/sessions",
            json!({"name": "op", "provider": "demo", "cwd": dir.path()}),
        )
        .await?;
    assert_eq!(s, 201, "{b}");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_wasmux"))
            .arg("--state-dir")
            .arg(d.state_dir())
            .args(args)
            .env_remove("WASMUX_URL")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .output()
    };
    let out = run(&["open", "op", "--print"])?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let url = String::from_utf8(out.stdout)?.trim().to_string();
    assert!(
        url.starts_with(&format!("http://{}/login#code=", d.addr)) && url.ends_with("&session=op"),
        "{url}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("works once"));
    let code = url.split("#code=").nth(1).unwrap().split('&').next().unwrap();
    let exchange = || {
        d.http
            .post(d.url("/auth/session"))
            .header("origin", format!("http://{}", d.addr))
            .json(&json!({"code": code}))
    };
    assert_eq!(status(exchange()).await?.0, 200);
    assert_eq!(status(exchange()).await?.0, 401);
    let out = run(&["open", "nope", "--print"])?;
    assert_eq!(
        out.status.code(),
        Some(4),
        "an unknown session: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn events_leave_out_the_excluded_types() -> Result<()> {
    // The console follows with `exclude=terminal-output`: a shell pane's
    // output reaches the page once, over the terminal stream.
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    let (s, b) = d
        .post(
            "/sessions",
            json!({"name": "x", "provider": "shell", "cwd": dir.path()}),
        )
        .await?;
    assert_eq!(s, 201, "{b}");
    let (s, b) = d
        .post("/sessions/x/messages", json!({"text": "echo one-line-of-output"}))
        .await?;
    assert!(s.is_success(), "{b}");
    let all = d
        .wait_for(Duration::from_secs(60), "the command's output and its end", || async {
            let evs = crate::queue::events(&d, "x", None).await?;
            let done = evs.iter().any(|(_, e)| e["type"] == "task-complete")
                && evs.iter().any(|(_, e)| e["type"] == "terminal-output");
            Ok(done.then_some(evs))
        })
        .await?;
    let text = d
        .req(
            Method::GET,
            "/sessions/x/events?follow=false&exclude=terminal-output,nothing",
        )
        .send()
        .await?
        .text()
        .await?;
    let kept = crate::queue::parse_sse(&text)?;
    assert!(kept.iter().all(|(_, e)| e["type"] != "terminal-output"), "{kept:?}");
    // Events may have come since the first read: compare up to its last.
    let last = all.last().map(|(seq, _)| *seq).unwrap_or(0);
    let expected: Vec<&(u64, Value)> = all.iter().filter(|(_, e)| e["type"] != "terminal-output").collect();
    let kept: Vec<&(u64, Value)> = kept.iter().filter(|(seq, _)| *seq <= last).collect();
    assert_eq!(kept, expected, "the rest, with their seqs");
    Ok(())
}
