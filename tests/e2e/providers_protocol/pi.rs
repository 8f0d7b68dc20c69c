//! The `pi` provider with `fake-pi` (configured as the pi command): a turn,
//! steering a running turn, aborting mid-stream, extension dialogs as
//! permission requests.

use anyhow::Result;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

use super::golden::{check, fake, protocol_log, send_wait, state_values};
use crate::harness::TestDaemon;
use crate::queue::{allow_then_refused_deny, idle, permission_id};
use crate::queue::{events, wait_done};

/// A daemon whose `pi` provider runs the fake.
async fn daemon() -> Result<TestDaemon> {
    let config = format!(
        "[plugins.pi]\nconfig = {{ command = {:?} }}\n",
        fake("pi").to_string_lossy()
    );
    TestDaemon::start_with(&config, |_| Ok(())).await
}

async fn session(d: &TestDaemon, name: &str, cwd: &Path, log: &Path) -> Result<()> {
    let (status, body) = d
        .post(
            "/sessions",
            json!({"name": name, "provider": "pi", "cwd": cwd, "env": {"FAKE_AGENT_LOG": log}}),
        )
        .await?;
    assert_eq!(status, 201, "{body}");
    idle(d, name).await
}

/// Wait until the slow turn of `name` is streaming its first message.
async fn streaming(d: &TestDaemon, name: &str) -> Result<()> {
    d.wait_for(Duration::from_secs(30), "streaming", || async {
        let text = std::fs::read_to_string(protocol_log(d, name)).unwrap_or_default();
        Ok(text.contains("\"delta\":\" first,\"").then_some(()))
    })
    .await
}

#[tokio::test]
async fn a_turn_matches_the_golden_events() -> Result<()> {
    let d = daemon().await?;
    let cwd = tempfile::tempdir()?;
    let log = cwd.path().join("agent-input.jsonl");
    session(&d, "pi", cwd.path(), &log).await?;
    let w = send_wait(&d, "pi", "hello pi").await?;
    assert_eq!(
        w["response"],
        "Let me look.\nFound README.md and src. You said: hello pi"
    );
    check(&d, "pi", "pi", "basic", cwd.path(), true).await?;
    let sent = std::fs::read_to_string(&log)?;
    assert_eq!(
        sent.lines().collect::<Vec<_>>(),
        [
            r#"{"id":"wasmux-ready","type":"get_state"}"#,
            r#"{"id":"wasmux-1","message":"hello pi","type":"prompt"}"#
        ]
    );
    let states = state_values(&d, "pi").await?;
    assert_eq!(
        states,
        ["idle", "working", "working", "working", "idle"],
        "working, on bash, after it"
    );
    Ok(())
}

#[tokio::test]
async fn steer_while_running_reaches_the_turn() -> Result<()> {
    let d = daemon().await?;
    let cwd = tempfile::tempdir()?;
    let log = cwd.path().join("agent-input.jsonl");
    session(&d, "st", cwd.path(), &log).await?;
    let (_, m) = d.post("/sessions/st/messages", json!({"text": "go slow"})).await?;
    streaming(&d, "st").await?;
    let (status, s) = d.post("/sessions/st/steer", json!({"text": "mind the tests"})).await?;
    assert_eq!((status.as_u16(), s["mode"].as_str()), (200, Some("steer")), "{s}");
    let done = wait_done(&d, "st", m["id"].as_str().unwrap()).await?;
    assert_eq!(done["status"], "done", "{done}");
    let response = done["response"].as_str().unwrap();
    assert!(
        response.ends_with("Steered: mind the tests. Found README.md and src. You said: go slow"),
        "{response}"
    );
    let sent = std::fs::read_to_string(&log)?;
    assert!(sent.contains(r#""message":"mind the tests","type":"steer""#), "{sent}");
    // The steer's response lands wherever the stream was: events only.
    check(&d, "st", "pi", "steer", cwd.path(), false).await?;
    // Idle: a steer becomes a queued message.
    let (_, s) = d.post("/sessions/st/steer", json!({"text": "later"})).await?;
    assert_eq!(s["mode"], "queued", "{s}");
    wait_done(&d, "st", s["id"].as_str().unwrap()).await?;
    Ok(())
}

#[tokio::test]
async fn abort_mid_stream() -> Result<()> {
    let d = daemon().await?;
    let cwd = tempfile::tempdir()?;
    let log = cwd.path().join("agent-input.jsonl");
    session(&d, "ab", cwd.path(), &log).await?;
    let (_, m) = d.post("/sessions/ab/messages", json!({"text": "go slow"})).await?;
    let id = m["id"].as_str().unwrap().to_string();
    streaming(&d, "ab").await?;
    let (status, a) = d.post("/sessions/ab/abort", json!({})).await?;
    assert_eq!(
        (status.as_u16(), a["aborted"].as_str()),
        (200, Some(id.as_str())),
        "{a}"
    );
    assert_eq!(wait_done(&d, "ab", &id).await?["status"], "aborted");
    idle(&d, "ab").await?;
    let sent = std::fs::read_to_string(&log)?;
    assert!(sent.contains(r#""type":"abort""#), "the agent got abort:\n{sent}");
    let printed = std::fs::read_to_string(protocol_log(&d, "ab"))?;
    assert!(printed.contains(r#""stopReason":"aborted""#), "pi's run ended aborted");
    let evs = events(&d, "ab", None).await?;
    assert!(
        evs.iter()
            .any(|(_, e)| e["type"] == "turn-aborted" && e.get("id").is_none()),
        "the provider reported the aborted run"
    );
    assert!(
        !evs.iter().any(|(_, e)| e["type"] == "tool-call"),
        "aborted before the tool ran"
    );
    let w = send_wait(&d, "ab", "hello again").await?;
    assert!(
        w["response"].as_str().unwrap().ends_with("You said: hello again"),
        "{w}"
    );
    Ok(())
}

#[tokio::test]
async fn extension_dialogs_are_permission_requests() -> Result<()> {
    let d = daemon().await?;
    let cwd = tempfile::tempdir()?;
    let log = cwd.path().join("agent-input.jsonl");
    session(&d, "gate", cwd.path(), &log).await?;

    let (_, m) = d
        .post("/sessions/gate/messages", json!({"text": "dangerous ls"}))
        .await?;
    let id = permission_id(&d, "gate").await?;
    assert_eq!(id, "ui-1", "the dialog id is the permission id");
    allow_then_refused_deny(&d, "gate", &id).await?;
    let done = wait_done(&d, "gate", m["id"].as_str().unwrap()).await?;
    assert!(
        done["response"].as_str().unwrap().ends_with("You said: dangerous ls"),
        "{done}"
    );

    let (_, m) = d
        .post("/sessions/gate/messages", json!({"text": "dangerous again"}))
        .await?;
    let id = permission_id(&d, "gate").await?;
    let (status, _) = d
        .post(&format!("/sessions/gate/permissions/{id}"), json!({"decision": "deny"}))
        .await?;
    assert_eq!(status, 200);
    let done = wait_done(&d, "gate", m["id"].as_str().unwrap()).await?;
    assert!(
        done["response"]
            .as_str()
            .unwrap()
            .ends_with("I was not allowed to run ls."),
        "{done}"
    );

    let sent = std::fs::read_to_string(&log)?;
    assert!(
        sent.contains(r#"{"confirmed":true,"id":"ui-1","type":"extension_ui_response"}"#),
        "{sent}"
    );
    assert!(
        sent.contains(r#"{"confirmed":false,"id":"ui-2","type":"extension_ui_response"}"#),
        "{sent}"
    );
    let evs = events(&d, "gate", None).await?;
    let results: Vec<bool> = evs
        .iter()
        .filter(|(_, e)| e["type"] == "tool-result")
        .map(|(_, e)| e["isError"].as_bool().unwrap())
        .collect();
    assert_eq!(results, [false, true], "the refused tool failed");
    let waits = evs
        .iter()
        .filter(|(_, e)| e["type"] == "state" && e["value"] == "waiting-permission")
        .count();
    assert_eq!(waits, 2);
    Ok(())
}
