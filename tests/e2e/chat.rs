//! `POST /sessions/{name}/chat` read by the real Vercel AI SDK client (the
//! `ai` npm package's `DefaultChatTransport` + `readUIMessageStream`), run
//! with node. `tests/node` is installed with `npm ci` on first use.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::harness::TestDaemon;

/// `tests/node`, with its dependencies installed (npm ci, once).
fn node_dir() -> Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/node");
    if Command::new("node").arg("--version").output().is_err() {
        bail!("node is not installed; the /chat test needs Node.js 18+ and npm (apt-get install nodejs npm)");
    }
    if !dir.join("node_modules/ai").exists() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .context("running npm ci in tests/node (is npm installed?)")?;
        if !out.status.success() {
            bail!("npm ci in tests/node failed:\n{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    Ok(dir)
}

#[tokio::test]
async fn chat_stream_read_by_the_real_ai_sdk_client() -> Result<()> {
    let node = node_dir()?;
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("a.txt"), "x")?;
    let (s, b) = d
        .post(
            "/sessions",
            json!({"name": "chat", "provider": "demo", "cwd": dir.path(), "env": {"DEMO_AGENT_SPEED_MS": "1"}}),
        )
        .await?;
    assert_eq!(s, 201, "{b}");
    d.wait_for(Duration::from_secs(30), "idle", || async {
        let (_, s) = d.get("/sessions/chat/state").await?;
        Ok((s["state"]["value"] == "idle").then_some(()))
    })
    .await?;
    let base = format!("http://{}", d.addr);
    let (token, script) = (d.token.clone(), node.join("chat-client.mjs"));
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .args([&base, "chat", &token, "list the files"])
            .output()
    })
    .await??;
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["errors"], json!([]), "{v}");
    let types: Vec<&str> = v["chunkTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for t in [
        "start",
        "start-step",
        "tool-input-start",
        "tool-input-available",
        "tool-output-available",
        "text-start",
        "text-delta",
        "text-end",
        "message-metadata",
        "finish-step",
        "finish",
    ] {
        assert!(types.contains(&t), "chunk {t} missing from {types:?}");
    }
    let parts = v["message"]["parts"].as_array().unwrap();
    let text: String = parts
        .iter()
        .filter(|p| p["type"] == "text")
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert!(text.contains("I listed 1 entry"), "{v}");
    let tool = parts
        .iter()
        .find(|p| p["type"] == "tool-list_files")
        .expect("tool part");
    assert_eq!(tool["state"], "output-available", "{tool}");
    assert_eq!(v["message"]["role"], "assistant");
    // The turn is in the queue's history like any other message.
    let (_, h) = d.get("/sessions/chat/history").await?;
    assert_eq!(h[0]["source"], "chat:vercel-ai");
    // A bad body is a 400 from the adapter.
    let (s, e) = d.post("/sessions/chat/chat", json!({"messages": []})).await?;
    assert_eq!((s.as_u16(), e["code"].as_str()), (400, Some("invalid_input")), "{e}");
    Ok(())
}
