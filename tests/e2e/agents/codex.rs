//! The `codex` provider against the real Codex CLI.

use anyhow::{Context, Result};
use serde_json::{Value, json};
use wasmux_testkit::model_stub::{Reply, Request};

use super::{Cli, LONG, Rig, last_turn, of, rig, types};

/// The text of the last user message of a Responses request.
pub fn last_user_text(r: &Request) -> String {
    let items = r.body["input"].as_array().cloned().unwrap_or_default();
    let Some(last) = items
        .iter()
        .rev()
        .find(|i| i["type"] == "message" && i["role"] == "user")
    else {
        return String::new();
    };
    last["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

const PATCH: &str =
    "*** Begin Patch\n*** Update File: hello.py\n@@\n-print(\"Hello\")\n+print(\"hello, world\")\n*** End Patch\n";

/// Patch `hello.py` (asks for approval), then say `done`.
fn patch_then(r: &Rig, done: &str) {
    r.stub.push(
        Reply::new(30, 20)
            .then_text("Changing it.")
            .then_custom("apply_patch", PATCH),
    );
    r.stub.push(Reply::new(50, 10).then_text(done));
}

#[tokio::test]
async fn codex_real_cli_reaches_idle_and_a_tool_turn_returns_the_final_answer() -> Result<()> {
    let r = rig(Cli::Codex).await?;
    r.start("cx").await?;
    r.stub.push(
        Reply::new(30, 20)
            .then_thinking("I should look at the file.")
            .then_tool("exec_command", json!({"cmd": "cat hello.py"})),
    );
    r.stub.push(Reply::new(60, 40).then_text("It prints Hello."));
    let w = r.send_wait("cx", "What does this project do?").await?;
    assert_eq!(w["status"], "done", "{w}\n{}", r.pane("cx"));
    assert!(
        w["response"].as_str().unwrap_or_default().ends_with("It prints Hello."),
        "{w}"
    );
    let history = r.history("cx").await?;
    assert_eq!(history.last().context("history")?["response"], w["response"]);
    let evs = r.events("cx").await?;
    let turn = last_turn(&evs);
    assert_eq!(of(&evs, "task-started").len(), 1, "{:?}", types(&evs));
    assert_eq!(of(&evs, "task-complete").len(), 1, "{:?}", types(&evs));
    let call = of(turn, "tool-call")
        .into_iter()
        .find(|e| e["name"] == "exec_command")
        .context("the exec_command call")?
        .clone();
    let result = of(turn, "tool-result")
        .into_iter()
        .find(|e| e["callId"] == call["callId"])
        .context("its result")?;
    assert_eq!(result["isError"], false, "{result}");
    assert!(result["output"].to_string().contains("print"), "{result}");
    let counts: Vec<(u64, u64)> = of(turn, "token-count")
        .iter()
        .map(|e| {
            (
                e["input"].as_u64().unwrap_or(0) + e["cacheRead"].as_u64().unwrap_or(0),
                e["output"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let calls = r.stub.model_calls();
    assert_eq!(calls.len(), 2, "model calls");
    assert_eq!(counts.len(), 2, "one token count per model call: {turn:#?}");
    assert_eq!(counts, [(30, 20), (60, 40)]);
    assert_eq!(last_user_text(&calls[0]), "What does this project do?");
    r.wait_state("cx", "idle").await?;
    Ok(())
}

/// Patch answered with `decision`: the pending request and the message.
async fn patch_answered(r: &Rig, name: &str, decision: &str) -> Result<(Value, Value)> {
    r.start(name).await?;
    patch_then(r, "The greeting now says hello, world.");
    let id = r.send(name, "Change the greeting to say hello, world").await?;
    let pending = r.permission(name).await?;
    let pid = pending["permissionId"].as_str().context("permissionId")?;
    let url = format!("/sessions/{name}/permissions/{pid}");
    let (status, body) = r.d.post(&url, json!({"decision": decision})).await?;
    assert_eq!(status, 200, "{body}");
    let done = r.done(name, &id).await?;
    Ok((pending, done))
}

#[tokio::test]
async fn codex_real_cli_approved_patch_is_applied_and_stored() -> Result<()> {
    let r = rig(Cli::Codex).await?;
    let (pending, done) = patch_answered(&r, "cxallow", "allow").await?;
    assert_eq!(pending["toolName"], "apply_patch", "{pending}");
    assert_eq!(done["status"], "done", "{done}\n{}", r.pane("cxallow"));
    assert!(
        done["response"]
            .as_str()
            .unwrap_or_default()
            .ends_with("The greeting now says hello, world."),
        "{done}"
    );
    assert_eq!(
        std::fs::read_to_string(r.project.join("hello.py"))?,
        "print(\"hello, world\")\n"
    );
    let evs = r.events("cxallow").await?;
    let edits = of(&evs, "file-edit");
    assert_eq!(edits.len(), 1, "{:?}", types(&evs));
    let states: Vec<&str> = of(&evs, "state").iter().filter_map(|e| e["value"].as_str()).collect();
    let waiting = states
        .iter()
        .rposition(|s| *s == "waiting-permission")
        .context("waiting")?;
    assert!(states[waiting + 1..].contains(&"working"), "{states:?}");
    assert_eq!(states.last(), Some(&"idle"), "{states:?}");
    Ok(())
}

#[tokio::test]
async fn codex_real_cli_refused_patch_stores_no_edit_and_no_successful_result() -> Result<()> {
    let r = rig(Cli::Codex).await?;
    let (_, done) = patch_answered(&r, "cxdeny", "deny").await?;
    assert_eq!(done["status"], "aborted", "{done}\n{}", r.pane("cxdeny"));
    assert_eq!(
        std::fs::read_to_string(r.project.join("hello.py"))?,
        "print(\"Hello\")\n"
    );
    r.wait_state("cxdeny", "idle").await?;
    let evs = r.events("cxdeny").await?;
    assert!(of(&evs, "file-edit").is_empty(), "{evs:#?}");
    let call = of(&evs, "tool-call")
        .into_iter()
        .find(|e| e["name"] == "apply_patch")
        .context("the apply_patch call")?
        .clone();
    let ok = of(&evs, "tool-result")
        .into_iter()
        .any(|e| e["callId"] == call["callId"] && e["isError"] == false);
    assert!(!ok, "a refused patch has no successful result: {evs:#?}");
    Ok(())
}

#[tokio::test]
async fn codex_real_cli_abort_during_a_streaming_reply() -> Result<()> {
    let r = rig(Cli::Codex).await?;
    r.start("cxabort").await?;
    r.stub.push(
        Reply::new(20, 30)
            .then_text("Starting a long answer, never finished.")
            .then_hold(),
    );
    let id = r.send("cxabort", "Write a long essay").await?;
    r.d.wait_for(LONG, "the reply to be streaming", || async {
        Ok((r.stub.holding() == 1).then_some(()))
    })
    .await?;
    let (status, body) = r.d.post("/sessions/cxabort/abort", json!({})).await?;
    assert_eq!(status, 200, "{body}");
    let done = r.done("cxabort", &id).await?;
    assert_eq!(done["status"], "aborted", "{done}");
    r.stub.release();
    r.wait_state("cxabort", "idle").await?;
    r.stub.clear();
    r.stub.push(Reply::text("Short answer."));
    let w = r.send_wait("cxabort", "Say something short").await?;
    assert_eq!(w["status"], "done", "{w}\n{}", r.pane("cxabort"));
    assert_eq!(w["response"], "Short answer.", "{w}");
    let calls = r.stub.model_calls();
    assert_eq!(last_user_text(calls.last().context("a call")?), "Say something short");
    Ok(())
}

#[tokio::test]
async fn codex_real_cli_reset_then_a_turn() -> Result<()> {
    let r = rig(Cli::Codex).await?;
    r.start("cxreset").await?;
    r.stub.push(Reply::text("First answer."));
    let w = r.send_wait("cxreset", "First question").await?;
    assert_eq!(w["response"], "First answer.", "{w}");
    let (status, body) = r.d.post("/sessions/cxreset/reset", json!({})).await?;
    assert_eq!(status, 200, "{body}");
    r.wait_state("cxreset", "idle").await?;
    r.stub.push(Reply::text("Second answer."));
    let w = r.send_wait("cxreset", "Second question").await?;
    assert_eq!(w["status"], "done", "{w}\n{}", r.pane("cxreset"));
    assert_eq!(w["response"], "Second answer.", "{w}");
    Ok(())
}

#[tokio::test]
async fn codex_real_cli_two_sessions_back_to_back_bind_their_own_rollouts() -> Result<()> {
    let r = rig(Cli::Codex).await?;
    r.start("cxa").await?;
    r.stub.push(Reply::text("Answer for A."));
    let a = r.send_wait("cxa", "Question A").await?;
    assert_eq!(a["response"], "Answer for A.", "{a}");
    r.start("cxb").await?;
    r.stub.push(Reply::text("Answer for B."));
    let b = r.send_wait("cxb", "Question B").await?;
    assert_eq!(b["status"], "done", "{b}\n{}", r.pane("cxb"));
    assert_eq!(b["response"], "Answer for B.", "{b}");
    for (name, own) in [("cxa", "Answer for A."), ("cxb", "Answer for B.")] {
        let evs = r.events(name).await?;
        let msgs: Vec<&str> = of(&evs, "message")
            .iter()
            .filter_map(|e| e["message"].as_str())
            .collect();
        assert_eq!(msgs, [own], "{name}: {msgs:?}");
    }
    Ok(())
}
