//! The demo agent end to end: real daemon, tmux, the `demo` provider
//! reading the agent's transcript.

use anyhow::Result;
use serde_json::{Value, json};
use std::time::Duration;

use crate::harness::TestDaemon;
use crate::queue::{allow_then_refused_deny, events, idle, permission_id, send_wait, wait_done};

async fn demo_session(d: &TestDaemon, name: &str, cwd: &std::path::Path) -> Result<()> {
    let (status, body) = d
        .post(
            "/sessions",
            json!({"name": name, "provider": "demo", "cwd": cwd, "env": {"DEMO_AGENT_SPEED_MS": "1"}}),
        )
        .await?;
    assert_eq!(status, 201, "{body}");
    idle(d, name).await
}

/// Event types (with a distinguishing field) of `evs`, for sequence checks.
fn shape(evs: &[(u64, Value)]) -> Vec<String> {
    evs.iter()
        .filter(|(_, e)| e["type"] != "message-queued")
        .map(|(_, e)| match e["type"].as_str().unwrap() {
            "state" => format!("state:{}", e["value"].as_str().unwrap()),
            "tool-call" => format!("tool-call:{}", e["name"].as_str().unwrap()),
            t => t.to_string(),
        })
        .collect()
}

#[tokio::test]
async fn three_messages_three_turns_in_order() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("notes.txt"), "alpha\nbeta\n")?;
    demo_session(&d, "demo", dir.path()).await?;
    let mut ids = Vec::new();
    for text in ["list the files", "read notes.txt", "run `echo hi-from-run`"] {
        let (status, r) = d.post("/sessions/demo/messages", json!({"text": text})).await?;
        assert_eq!(status, 202);
        ids.push(r["id"].as_str().unwrap().to_string());
    }
    let mut responses = Vec::new();
    for id in &ids {
        let m = wait_done(&d, "demo", id).await?;
        assert_eq!(m["status"], "done", "{m}");
        responses.push(m["response"].as_str().unwrap().to_string());
    }
    assert!(responses[0].contains("I listed 1 entr"), "{responses:?}");
    assert!(responses[1].to_lowercase().contains("notes.txt"), "{responses:?}");
    let evs = events(&d, "demo", None).await?;
    let turn_starts: Vec<&str> = evs
        .iter()
        .filter(|(_, e)| e["type"] == "message-started")
        .map(|(_, e)| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(turn_starts, ids.iter().map(String::as_str).collect::<Vec<_>>());
    // The first turn's exact event sequence.
    let first_done = evs.iter().position(|(_, e)| e["type"] == "message-done").unwrap();
    let first_start = evs.iter().position(|(_, e)| e["type"] == "message-started").unwrap();
    assert_eq!(
        shape(&evs[first_start..=first_done]),
        [
            "message-started",
            "task-started",
            "state:working",
            "tool-call:list_files",
            "state:working",
            "tool-result",
            "state:working",
            "message",
            "token-count",
            "task-complete",
            "state:idle",
            "message-done"
        ]
    );
    let tool = &evs.iter().find(|(_, e)| e["type"] == "tool-result").unwrap().1;
    assert!(tool["output"].as_str().unwrap().contains("notes.txt"), "{tool}");
    let run = evs.iter().filter(|(_, e)| e["type"] == "tool-result").nth(2).unwrap();
    assert!(run.1["output"].as_str().unwrap().contains("hi-from-run"), "{}", run.1);
    Ok(())
}

#[tokio::test]
async fn permission_allow_and_deny() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    demo_session(&d, "perm", dir.path()).await?;

    let (_, r) = d
        .post("/sessions/perm/messages", json!({"text": "write yes.txt with allowed"}))
        .await?;
    let id = permission_id(&d, "perm").await?;
    allow_then_refused_deny(&d, "perm", &id).await?;
    let m = wait_done(&d, "perm", r["id"].as_str().unwrap()).await?;
    assert_eq!(m["status"], "done");
    assert_eq!(std::fs::read_to_string(dir.path().join("yes.txt"))?, "allowed\n");

    let (_, r) = d
        .post("/sessions/perm/messages", json!({"text": "write no.txt with denied"}))
        .await?;
    let id = permission_id(&d, "perm").await?;
    let (status, body) = d
        .post(&format!("/sessions/perm/permissions/{id}"), json!({"decision": "nope"}))
        .await?;
    assert_eq!(status, 400, "{body}");
    let (status, _) = d
        .post(&format!("/sessions/perm/permissions/{id}"), json!({"decision": "deny"}))
        .await?;
    assert_eq!(status, 200);
    let m = wait_done(&d, "perm", r["id"].as_str().unwrap()).await?;
    assert_eq!(m["status"], "done");
    assert!(!dir.path().join("no.txt").exists(), "denied write did not happen");
    let evs = events(&d, "perm", None).await?;
    let resolved: Vec<&str> = evs
        .iter()
        .filter(|(_, e)| e["type"] == "permission-resolved")
        .map(|(_, e)| e["decision"].as_str().unwrap())
        .collect();
    assert_eq!(resolved, ["allow", "deny"]);
    let denied = evs.iter().rfind(|(_, e)| e["type"] == "tool-result").unwrap();
    assert_eq!(denied.1["isError"], true);
    let edits = evs.iter().filter(|(_, e)| e["type"] == "file-edit").count();
    assert_eq!(edits, 1);
    let (status, _) = d
        .post("/sessions/perm/permissions/perm_9_9", json!({"decision": "allow"}))
        .await?;
    assert_eq!(status, 404);
    Ok(())
}

#[tokio::test]
async fn abort_mid_turn_then_carry_on() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    demo_session(&d, "ab", dir.path()).await?;
    let (_, r) = d.post("/sessions/ab/messages", json!({"text": "sleep 60"})).await?;
    let id = r["id"].as_str().unwrap().to_string();
    d.wait_for(Duration::from_secs(30), "sleep tool running", || async {
        let (_, s) = d.get("/sessions/ab/state").await?;
        Ok((s["state"]["tool"] == "sleep").then_some(()))
    })
    .await?;
    let (status, a) = d.post("/sessions/ab/abort", json!({})).await?;
    assert_eq!((status.as_u16(), a["aborted"].as_str()), (200, Some(id.as_str())));
    assert_eq!(wait_done(&d, "ab", &id).await?["status"], "aborted");
    let w = send_wait(&d, "ab", "hello there").await?;
    assert_eq!(w["ok"], true, "{w}");
    let evs = events(&d, "ab", None).await?;
    assert!(evs.iter().any(|(_, e)| e["type"] == "turn-aborted"));
    Ok(())
}

#[tokio::test]
async fn a_dead_agent_is_noticed_and_reported() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    demo_session(&d, "dies", dir.path()).await?;
    let (_, r) = d
        .post("/sessions/dies/messages", json!({"text": "run `kill -9 $PPID`"}))
        .await?;
    let started = std::time::Instant::now();
    let (_, s) = d
        .wait_for(Duration::from_secs(30), "exited state", || async {
            let (_, s) = d.get("/sessions/dies/state").await?;
            Ok((s["state"]["value"] == "exited").then_some(((), s)))
        })
        .await?;
    eprintln!("agent death noticed after {:?}", started.elapsed());
    assert_eq!(s["state"]["source"], "process");
    assert_eq!(s["exitCode"], 137, "{s}");
    let m = wait_done(&d, "dies", r["id"].as_str().unwrap()).await?;
    assert_eq!(m["status"], "failed");
    let (status, body) = d.post("/sessions/dies/messages", json!({"text": "hello"})).await?;
    assert_eq!((status.as_u16(), body["code"].as_str()), (409, Some("session_exited")));
    Ok(())
}
