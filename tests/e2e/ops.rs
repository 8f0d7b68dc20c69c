//! Operations (issue 13, deliver 6): `/metrics` for a scraper without the
//! operator token, bounded per-session labels, a meaningful `/ready`, the
//! access log, `--log-format json`, quiet compiler crates under
//! `RUST_LOG=debug`, and `RLIMIT_NOFILE` raised at start.

use anyhow::{Context, Result};
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

use crate::harness::TestDaemon;
use crate::stream::shell_session;

#[tokio::test]
async fn metrics_take_a_scrape_token_that_opens_nothing_else() -> Result<()> {
    let d = TestDaemon::start_with("[metrics]\nscrape_token = \"scrape-secret\"\n", |_| Ok(())).await?;
    let scrape = |path: &str| d.http.get(d.url(path)).bearer_auth("scrape-secret").send();
    let r = scrape("/metrics").await?;
    assert_eq!(r.status(), 200);
    assert!(r.text().await?.contains("wasmux_up 1"));
    assert_eq!(
        scrape("/sessions").await?.status(),
        401,
        "the scrape token opens only /metrics"
    );
    assert_eq!(d.http.get(d.url("/metrics")).send().await?.status(), 401);
    assert_eq!(
        d.req(Method::GET, "/metrics").send().await?.status(),
        200,
        "the operator token still works"
    );
    Ok(())
}

#[tokio::test]
async fn public_metrics_need_no_token_and_session_labels_stay_bounded() -> Result<()> {
    let d = TestDaemon::start_with(
        "[metrics]\npublic = true\nper_session = true\nmax_sessions = 1\n",
        |_| Ok(()),
    )
    .await?;
    let dir = tempfile::tempdir()?;
    for name in ["ma", "mb", "mc"] {
        shell_session(&d, name, dir.path()).await?;
    }
    let r = d.http.get(d.url("/metrics")).send().await?;
    assert_eq!(r.status(), 200);
    let text = r.text().await?;
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("wasmux_output_bytes_total"))
        .collect();
    assert_eq!(lines.len(), 2, "one labelled session and _other:\n{text}");
    assert!(
        lines[0].contains("session=\"_other\"") || lines[1].contains("session=\"_other\""),
        "{text}"
    );
    assert!(!text.contains("session=\"mc\""), "{text}");
    Ok(())
}

#[tokio::test]
async fn per_session_metric_labels_are_off_by_default() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "lab", dir.path()).await?;
    let text = d.req(Method::GET, "/metrics").send().await?.text().await?;
    assert!(!text.contains("session="), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("wasmux_output_bytes_total ")),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn ready_is_503_with_a_reason_when_the_store_is_unavailable() -> Result<()> {
    let d = TestDaemon::start().await?;
    let (status, body) = d.get("/ready").await?;
    assert_eq!(
        (status.as_u16(), body["ready"].clone()),
        (200, Value::Bool(true)),
        "{body}"
    );
    std::fs::remove_file(d.state_dir().join("wasmux.db"))?;
    let (status, body) = d.get("/ready").await?;
    assert_eq!(
        (status.as_u16(), body["ready"].clone()),
        (503, Value::Bool(false)),
        "{body}"
    );
    assert!(body["reason"].as_str().unwrap().contains("store unavailable"), "{body}");
    assert_eq!(body["code"], "not_ready");
    Ok(())
}

#[tokio::test]
async fn json_logs_have_an_access_line_and_no_cranelift_flood_under_rust_log_debug() -> Result<()> {
    let d = TestDaemon::start_env(
        "",
        vec![
            ("RUST_LOG".into(), "debug".into()),
            ("WASMUX_LOG_FORMAT".into(), "json".into()),
        ],
        |_| Ok(()),
    )
    .await?;
    let (status, _) = d.get("/sessions/nope").await?;
    assert_eq!(status, 404);
    let log = d
        .wait_for(Duration::from_secs(30), "the access log line", || async {
            let log = d.log_text();
            Ok(log.contains("\"route\":\"/sessions/{name}\"").then_some(log))
        })
        .await?;
    let mut access = None;
    let mut noisy = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).with_context(|| format!("not a JSON log line: {line}"))?;
        let target = v["target"].as_str().unwrap_or("");
        if ["cranelift", "regalloc2", "wasmparser"]
            .iter()
            .any(|t| target.starts_with(t))
            && matches!(v["level"].as_str(), Some("DEBUG" | "TRACE" | "INFO"))
        {
            noisy += 1;
        }
        if target == "wasmux::access" && v["fields"]["route"] == "/sessions/{name}" {
            access = Some(v);
        }
    }
    assert_eq!(noisy, 0, "compiler crates logged below warn under RUST_LOG=debug");
    let a = access.context("no access line")?;
    assert_eq!(
        (a["fields"]["method"].as_str(), a["fields"]["status"].as_u64()),
        (Some("GET"), Some(404)),
        "{a}"
    );
    assert!(a["fields"]["ms"].is_string(), "{a}");
    assert!(
        log.contains("\"level\":\"DEBUG\""),
        "RUST_LOG=debug still shows wasmux's debug lines"
    );
    Ok(())
}

/// `Max open files` soft and hard limits of process `pid`.
fn nofile(pid: u32) -> Result<(u64, u64)> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits"))?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .context("no Max open files line")?;
    let nums: Vec<u64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    Ok((nums[0], nums[1]))
}

#[tokio::test]
async fn rlimit_nofile_is_raised_to_the_hard_limit_at_start() -> Result<()> {
    let mut d = TestDaemon::start().await?;
    // Start the daemon with a low soft limit, as many login shells do.
    d.nofile_soft = Some(256);
    d.restart().await?;
    let (soft, hard) = nofile(d.pid().context("pid")?)?;
    assert!(hard > 256, "hard limit {hard} leaves nothing to raise");
    assert_eq!(soft, hard, "the soft limit was not raised to the hard one");
    Ok(())
}
