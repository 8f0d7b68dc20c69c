//! The `acp` provider with `fake-acp-agent`: handshake, turns, permissions
//! (allow, deny, first answer wins), cancel mid-stream, a drop-in copy
//! configured by its manifest alone.

use anyhow::Result;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

use super::golden::{self, check, fake, protocol_log, send_wait, state_values};
use crate::harness::{TestDaemon, built_plugins};
use crate::queue::{allow_then_refused_deny, idle, permission_id};
use crate::queue::{events, wait_done};

/// Create session `name` running the fake through the generic `acp`
/// provider (the agent command is the session's arguments).
async fn session(d: &TestDaemon, name: &str, cwd: &Path, log: &Path) -> Result<()> {
    let (status, body) = d
        .post(
            "/sessions",
            json!({"name": name, "provider": "acp", "cwd": cwd, "args": [fake("acp")],
                   "env": {"FAKE_AGENT_LOG": log}}),
        )
        .await?;
    assert_eq!(status, 201, "{body}");
    idle(d, name).await
}

#[tokio::test]
async fn turns_match_the_golden_events() -> Result<()> {
    let d = TestDaemon::start().await?;
    let cwd = tempfile::tempdir()?;
    let log = cwd.path().join("agent-input.jsonl");
    session(&d, "acp", cwd.path(), &log).await?;
    let w = send_wait(&d, "acp", "hello acp").await?;
    assert_eq!(w["response"], "Found README.md and src. You said: hello acp");
    let w = send_wait(&d, "acp", "probe the client").await?;
    assert_eq!(
        w["response"], "The client said method not supported: fs/read_text_file (-32601).",
        "agent→client requests wasmux does not offer get a JSON-RPC error"
    );
    check(&d, "acp", "acp", "basic", cwd.path(), true).await?;
    // What the provider sent: the handshake, then one prompt per message.
    let sent = golden::json_lines(&std::fs::read_to_string(&log)?)?;
    let methods: Vec<&str> = sent.iter().filter_map(|m| m["method"].as_str()).collect();
    assert_eq!(
        methods,
        ["initialize", "session/new", "session/prompt", "session/prompt"]
    );
    assert_eq!(sent[0]["params"]["protocolVersion"], 1);
    assert_eq!(sent[0]["params"]["clientCapabilities"]["fs"]["readTextFile"], false);
    assert_eq!(sent[1]["params"], json!({"cwd": cwd.path(), "mcpServers": []}));
    assert_eq!(
        sent[2]["params"],
        json!({"sessionId": "sess_fake_1", "prompt": [{"type": "text", "text": "hello acp"}]})
    );
    let states = state_values(&d, "acp").await?;
    assert_eq!(states.first().map(String::as_str), Some("idle"), "{states:?}");
    assert_eq!(states.last().map(String::as_str), Some("idle"), "{states:?}");
    assert!(states.iter().any(|s| s == "working"), "{states:?}");
    Ok(())
}

#[tokio::test]
async fn permission_allow_then_deny() -> Result<()> {
    let d = TestDaemon::start().await?;
    let cwd = tempfile::tempdir()?;
    let log = cwd.path().join("agent-input.jsonl");
    let notes = cwd.path().join("notes.txt");
    session(&d, "perm", cwd.path(), &log).await?;

    let (_, m) = d
        .post("/sessions/perm/messages", json!({"text": "write the notes"}))
        .await?;
    let id = permission_id(&d, "perm").await?;
    assert!(!notes.exists(), "nothing written before the answer");
    allow_then_refused_deny(&d, "perm", &id).await?;
    let done = wait_done(&d, "perm", m["id"].as_str().unwrap()).await?;
    assert_eq!(done["response"], "I wrote notes.txt.", "{done}");
    assert_eq!(std::fs::read_to_string(&notes)?, "written by fake-acp-agent\n");

    std::fs::remove_file(&notes)?;
    let (_, m) = d
        .post("/sessions/perm/messages", json!({"text": "write the notes again"}))
        .await?;
    let id = permission_id(&d, "perm").await?;
    let (status, _) = d
        .post(&format!("/sessions/perm/permissions/{id}"), json!({"decision": "deny"}))
        .await?;
    assert_eq!(status, 200);
    let done = wait_done(&d, "perm", m["id"].as_str().unwrap()).await?;
    assert_eq!(done["status"], "done");
    assert_eq!(done["response"], "I did not write notes.txt: permission was refused.");
    assert!(!notes.exists(), "a refused write did not happen");

    check(&d, "perm", "acp", "permission", cwd.path(), true).await?;
    // The answers the agent got: the matching option of each decision.
    let sent = golden::json_lines(&std::fs::read_to_string(&log)?)?;
    let outcomes: Vec<&Value> = sent
        .iter()
        .filter(|m| m.get("result").is_some())
        .map(|m| &m["result"]["outcome"])
        .collect();
    assert_eq!(
        outcomes,
        [
            &json!({"outcome": "selected", "optionId": "allow-once"}),
            &json!({"outcome": "selected", "optionId": "reject-once"})
        ]
    );
    Ok(())
}

#[tokio::test]
async fn abort_mid_stream_cancels_the_prompt() -> Result<()> {
    let d = TestDaemon::start().await?;
    let cwd = tempfile::tempdir()?;
    let log = cwd.path().join("agent-input.jsonl");
    session(&d, "ab", cwd.path(), &log).await?;
    let (_, m) = d
        .post("/sessions/ab/messages", json!({"text": "tell me slowly"}))
        .await?;
    let id = m["id"].as_str().unwrap().to_string();
    d.wait_for(Duration::from_secs(30), "streaming", || async {
        let text = std::fs::read_to_string(protocol_log(&d, "ab")).unwrap_or_default();
        Ok(text.contains(" word3\"").then_some(()))
    })
    .await?;
    let (status, a) = d.post("/sessions/ab/abort", json!({})).await?;
    assert_eq!(
        (status.as_u16(), a["aborted"].as_str()),
        (200, Some(id.as_str())),
        "{a}"
    );
    assert_eq!(wait_done(&d, "ab", &id).await?["status"], "aborted");
    d.wait_for(Duration::from_secs(10), "cancelled stop reason", || async {
        let text = std::fs::read_to_string(protocol_log(&d, "ab")).unwrap_or_default();
        Ok(text.contains("\"stopReason\":\"cancelled\"").then_some(()))
    })
    .await?;
    let sent = std::fs::read_to_string(&log)?;
    assert!(
        sent.contains("\"method\":\"session/cancel\""),
        "the agent got session/cancel:\n{sent}"
    );
    idle(&d, "ab").await?;
    let evs = events(&d, "ab", None).await?;
    assert!(
        evs.iter()
            .any(|(_, e)| e["type"] == "turn-aborted" && e.get("id").is_none()),
        "the provider reported the cancelled turn"
    );
    let streamed = evs.iter().rev().find(|(_, e)| e["type"] == "message").unwrap();
    let words = streamed.1["message"].as_str().unwrap().split(' ').count();
    assert!((4..40).contains(&words), "cut mid-stream after {words} words");
    // The session carries on.
    let w = send_wait(&d, "ab", "hello again").await?;
    assert_eq!(w["response"], "Found README.md and src. You said: hello again");
    Ok(())
}

#[tokio::test]
async fn a_drop_in_copy_is_configured_by_its_manifest() -> Result<()> {
    // The documented drop-in: acp.wasm copied under another name with a
    // manifest whose [config] names the agent, and the bridge granted.
    let fake_path = fake("acp");
    let d = TestDaemon::start_with("[plugins.fakeacp]\ngrants = [\"bridge\"]\n", |state| {
        let dir = state.join("plugins");
        std::fs::create_dir_all(&dir)?;
        let manifest = std::fs::read_to_string(built_plugins().join("acp.toml"))?
            .replace("name = \"acp\"", "name = \"fakeacp\"")
            .replace(
                "command = \"\"",
                &format!("command = {:?}", fake_path.to_string_lossy()),
            );
        std::fs::write(dir.join("fakeacp.toml"), manifest)?;
        std::fs::copy(built_plugins().join("acp.wasm"), dir.join("fakeacp.wasm"))?;
        Ok(())
    })
    .await?;
    let cwd = tempfile::tempdir()?;
    let (status, body) = d
        .post(
            "/sessions",
            json!({"name": "fa", "provider": "fakeacp", "cwd": cwd.path()}),
        )
        .await?;
    assert_eq!(status, 201, "{body}");
    idle(&d, "fa").await?;
    let w = send_wait(&d, "fa", "hi").await?;
    assert_eq!(w["response"], "Found README.md and src. You said: hi");
    Ok(())
}

#[tokio::test]
async fn no_agent_command_is_a_clear_error() -> Result<()> {
    let d = TestDaemon::start().await?;
    let cwd = tempfile::tempdir()?;
    let (status, body) = d
        .post(
            "/sessions",
            json!({"name": "none", "provider": "acp", "cwd": cwd.path()}),
        )
        .await?;
    assert!(status.is_client_error(), "{status} {body}");
    assert!(
        body["error"].as_str().unwrap_or_default().contains("--provider acp --"),
        "{body}"
    );
    Ok(())
}
