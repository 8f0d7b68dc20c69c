//! Plugins through the running daemon: listing, auth, the compile cache
//! across restarts, drop-in hot reload, broken replacements, ungranted
//! capabilities.

use anyhow::{Context, Result};
use reqwest::{Method, StatusCode};
use std::time::{Duration, Instant};

use crate::harness::{TestDaemon, install_plugin};

#[tokio::test]
async fn lists_embedded_plugins_and_requires_the_token() -> Result<()> {
    let d = TestDaemon::start().await?;
    let (status, body) = d.send(d.http.get(d.url("/health"))).await?;
    assert_eq!((status, body["ok"].as_bool()), (StatusCode::OK, Some(true)));

    let (status, body) = d.send(d.http.get(d.url("/plugins"))).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "unauthorized");
    let (status, _) = d.send(d.http.get(d.url("/plugins")).bearer_auth("wrong")).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, list) = d.get("/plugins").await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["witVersion"], "0.1.1");
    let shell = d.plugin("shell").await?.expect("shell listed");
    assert_eq!(shell["kind"], "provider");
    assert_eq!(shell["source"], "embedded");
    assert_eq!(shell["health"], "ok");
    // The ACP component under its own manifests: providers without copying.
    for name in ["gemini", "opencode", "acp", "pi", "claude-code", "codex"] {
        let p = d.plugin(name).await?.with_context(|| format!("{name} listed"))?;
        assert_eq!(
            (p["kind"].as_str(), p["source"].as_str()),
            (Some("provider"), Some("embedded")),
            "{p}"
        );
    }

    let (status, body) = d.get("/no/such/route").await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, body) = d.send(d.req(Method::DELETE, "/plugins")).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    Ok(())
}

#[tokio::test]
async fn second_start_compiles_nothing() -> Result<()> {
    let mut d = TestDaemon::start_with("", |dir| install_plugin(&dir.join("plugins"), "hostile", "extra", "")).await?;
    let first = d.log_text();
    let ready = first.lines().find(|l| l.contains("plugins ready")).unwrap().to_string();
    // Each distinct component compiles once: `gemini` and `opencode` are
    // the `acp` component under other manifests, so they hit the cache.
    assert!(
        ready.contains("loaded=14 compiled=12 cached=2"),
        "first start compiles every distinct component: {ready}"
    );
    d.terminate();
    d.restart().await?;
    let log = d.log_text();
    let last_ready = log.lines().rfind(|l| l.contains("plugins ready")).unwrap().to_string();
    assert!(
        last_ready.contains("compiled=0") && !last_ready.contains("cached=0"),
        "{last_ready}"
    );
    assert_eq!(d.plugin("shell").await?.unwrap()["compile"], "cached");
    assert_eq!(d.plugin("extra").await?.unwrap()["compile"], "cached");
    Ok(())
}

#[tokio::test]
async fn drop_in_replace_break_and_remove_without_restart() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = d.plugins_dir();

    let dropped = Instant::now();
    install_plugin(&dir, "hostile", "dropin", "")?;
    let row = d
        .wait_for(Duration::from_secs(10), "dropin in GET /plugins", || async {
            d.plugin("dropin").await
        })
        .await?;
    eprintln!("drop-in visible after {:?}", dropped.elapsed());
    assert_eq!(row["health"], "ok");
    let first_hash = row["sha256"].as_str().unwrap().to_string();

    // A broken replacement keeps the old build serving and says why.
    std::fs::write(dir.join("dropin.wasm"), b"not a component")?;
    let row = d
        .wait_for(Duration::from_secs(10), "reload error", || async {
            Ok(d.plugin("dropin").await?.filter(|r| r["health"] == "reload-failed"))
        })
        .await?;
    assert_eq!(row["sha256"], first_hash, "old build still loaded");
    assert!(
        row["reloadError"].as_str().unwrap().contains("not a valid component"),
        "{row}"
    );

    // A good replacement (another build) takes over.
    install_plugin(&dir, "shell", "dropin", "")?;
    let row = d
        .wait_for(Duration::from_secs(10), "replacement", || async {
            Ok(d.plugin("dropin")
                .await?
                .filter(|r| r["sha256"] != first_hash.as_str() && r["health"] == "ok"))
        })
        .await?;
    assert_eq!(row["reloadError"], serde_json::Value::Null);

    // Removal unloads it.
    std::fs::remove_file(dir.join("dropin.wasm"))?;
    d.wait_for(Duration::from_secs(10), "removal", || async {
        Ok(d.plugin("dropin").await?.is_none().then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn ungranted_plugin_is_reported_and_daemon_serves_on() -> Result<()> {
    let d = TestDaemon::start_with("", |dir| install_plugin(&dir.join("plugins"), "greedy", "greedy", "")).await?;
    let (_, list) = d.get("/plugins").await?;
    let err = list["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "greedy")
        .expect("greedy failure listed")["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(err.contains("capability `kv`"), "{err}");
    let (status, _) = d.send(d.http.get(d.url("/health"))).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(d.plugin("shell").await?.is_some());

    // POST /plugins/reload with a config that grants it is a restart away;
    // reload itself re-reads files and reports the same error.
    let (status, list) = d.post("/plugins/reload", serde_json::json!({})).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(list["errors"].to_string().contains("capability `kv`"));
    Ok(())
}
