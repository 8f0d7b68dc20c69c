//! The `claude-code` provider against the real Claude Code CLI.

use anyhow::{Context, Result};
use serde_json::{Value, json};
use wasmux_testkit::model_stub::{Reply, Request};

use super::{Cli, LONG, Rig, last_turn, of, rig, types};

/// The text of the last user message of an Anthropic request (its `text`
/// blocks and string contents; tool results excluded).
pub fn last_user_text(r: &Request) -> String {
    let msgs = r.body["messages"].as_array().cloned().unwrap_or_default();
    let Some(last) = msgs.iter().rev().find(|m| m["role"] == "user") else {
        return String::new();
    };
    match &last["content"] {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter(|i| i["type"] == "text")
            .filter_map(|i| i["text"].as_str())
            .filter(|t| !t.starts_with("<system-reminder>"))
            // Claude Code's own marker of an earlier interruption.
            .filter(|t| !t.starts_with("[Request interrupted by user"))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Read `hello.py`, then (after the result) answer with thinking first.
fn read_then_answer(r: &Rig, answer: &str) {
    let path = r.project.join("hello.py").display().to_string();
    r.stub.push(
        Reply::new(30, 25)
            .then_thinking("The user wants to know what the project does; I should read the file.")
            .then_text("Let me read the file.")
            .then_tool("Read", json!({"file_path": path})),
    );
    r.stub.push(
        Reply::new(60, 40)
            .then_thinking("It is a one-line script printing a greeting.")
            .then_text(answer),
    );
}

/// Read `hello.py`, then edit it (the edit asks for permission), then say `done`.
fn read_then_edit(r: &Rig, done: &str) {
    let path = r.project.join("hello.py").display().to_string();
    r.stub
        .push(Reply::new(30, 20).then_tool("Read", json!({"file_path": path})));
    r.stub
        .push(Reply::new(40, 30).then_text("Changing the greeting.").then_tool(
            "Edit",
            json!({"file_path": path, "old_string": "Hello", "new_string": "hello, world"}),
        ));
    r.stub.push(Reply::new(50, 10).then_text(done));
}

#[tokio::test]
async fn claude_code_real_cli_reaches_idle_and_a_tool_turn_returns_the_final_answer() -> Result<()> {
    let r = rig(Cli::Claude).await?;
    r.start("cc").await?;
    read_then_answer(&r, "It prints Hello.");
    let w = r.send_wait("cc", "What does this project do?").await?;
    assert_eq!(w["status"], "done", "{w}\n{}", r.pane("cc"));
    let response = w["response"].as_str().context("response")?;
    assert!(response.ends_with("It prints Hello."), "the final answer: {w}");
    let history = r.history("cc").await?;
    let last = history.last().context("a history row")?;
    assert_eq!(last["response"], w["response"], "{history:?}");
    let evs = r.events("cc").await?;
    let turn = last_turn(&evs);
    // One turn: one task-started and one task-complete, no orphan turn.
    assert_eq!(of(&evs, "task-started").len(), 1, "{:?}", types(&evs));
    assert_eq!(of(&evs, "task-complete").len(), 1, "{:?}", types(&evs));
    assert!(
        of(turn, "tool-call").iter().any(|e| e["name"] == "Read"),
        "{:?}",
        types(turn)
    );
    let ok_results: Vec<_> = of(turn, "tool-result")
        .into_iter()
        .filter(|e| e["isError"] == false)
        .collect();
    assert_eq!(ok_results.len(), 1, "{turn:#?}");
    // One token count per model call, with that call's usage.
    let calls = r.stub.model_calls();
    assert_eq!(calls.len(), 2, "model calls");
    let counts: Vec<(u64, u64)> = of(turn, "token-count")
        .iter()
        .map(|e| (e["input"].as_u64().unwrap_or(0), e["output"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(counts, [(30, 25), (60, 40)], "{turn:#?}");
    assert_eq!(last_user_text(&calls[0]), "What does this project do?");
    // Idle again, from the transcript.
    r.wait_state("cc", "idle").await?;
    Ok(())
}

/// Read, edit (answered with `decision`), done: the finished message.
async fn edit_answered(r: &Rig, name: &str, decision: &str) -> Result<(Value, Value)> {
    r.start(name).await?;
    read_then_edit(r, "The greeting now says hello, world.");
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
async fn claude_code_real_cli_allowed_edit_is_applied_and_stored() -> Result<()> {
    let r = rig(Cli::Claude).await?;
    let (pending, done) = edit_answered(&r, "ccallow", "allow").await?;
    assert_eq!(pending["toolName"], "Edit", "{pending}");
    assert_eq!(done["status"], "done", "{done}\n{}", r.pane("ccallow"));
    assert!(
        done["response"]
            .as_str()
            .unwrap_or_default()
            .ends_with("The greeting now says hello, world."),
        "{done}"
    );
    let text = std::fs::read_to_string(r.project.join("hello.py"))?;
    assert_eq!(text, "print(\"hello, world\")\n");
    let evs = r.events("ccallow").await?;
    let edits = of(&evs, "file-edit");
    assert_eq!(edits.len(), 1, "{:?}", types(&evs));
    assert!(edits[0]["filePath"].as_str().unwrap_or_default().ends_with("hello.py"));
    // Approved: the state leaves waiting-permission for good.
    let states: Vec<&str> = of(&evs, "state").iter().filter_map(|e| e["value"].as_str()).collect();
    let waiting = states
        .iter()
        .rposition(|s| *s == "waiting-permission")
        .context("waiting")?;
    assert_eq!(states.last(), Some(&"idle"), "{states:?}");
    assert!(states[waiting + 1..].contains(&"working"), "{states:?}");
    r.wait_state("ccallow", "idle").await?;
    Ok(())
}

#[tokio::test]
async fn claude_code_real_cli_denied_edit_stores_no_edit_and_no_successful_result() -> Result<()> {
    let r = rig(Cli::Claude).await?;
    let (_, done) = edit_answered(&r, "ccdeny", "deny").await?;
    assert_eq!(done["status"], "aborted", "{done}");
    assert_eq!(
        std::fs::read_to_string(r.project.join("hello.py"))?,
        "print(\"Hello\")\n"
    );
    r.wait_state("ccdeny", "idle").await?;
    let evs = r.events("ccdeny").await?;
    assert!(of(&evs, "file-edit").is_empty(), "{evs:#?}");
    let edit_call = of(&evs, "tool-call")
        .into_iter()
        .find(|e| e["name"] == "Edit")
        .context("the Edit call")?
        .clone();
    let ok = of(&evs, "tool-result")
        .into_iter()
        .any(|e| e["callId"] == edit_call["callId"] && e["isError"] == false);
    assert!(!ok, "a refused edit has no successful result: {evs:#?}");
    let resolved = of(&evs, "permission-resolved");
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["decision"], "deny");
    Ok(())
}

#[tokio::test]
#[ignore = "open defect: Claude Code 2.1.332 ignores the Escape wasmux types while a reply streams; the turn is marked aborted but the reply completes"]
async fn claude_code_real_cli_abort_during_a_streaming_reply() -> Result<()> {
    let r = rig(Cli::Claude).await?;
    r.start("ccabort").await?;
    r.stub.push(
        Reply::new(20, 30)
            .then_text("Starting a long answer, ")
            .then_hold()
            .then_text("never seen."),
    );
    let id = r.send("ccabort", "Write a long essay").await?;
    r.d.wait_for(LONG, "the reply to be streaming", || async {
        Ok((r.stub.holding() == 1).then_some(()))
    })
    .await?;
    let (status, body) = r.d.post("/sessions/ccabort/abort", json!({})).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["aborted"], id.as_str(), "{body}");
    let done = r.done("ccabort", &id).await?;
    assert_eq!(done["status"], "aborted", "{done}");
    r.stub.release();
    r.wait_state("ccabort", "idle").await?;
    // The next turn works and gets only its own answer.
    r.stub.push(Reply::text("Short answer."));
    let w = r.send_wait("ccabort", "Say something short").await?;
    assert_eq!(w["status"], "done", "{w}");
    assert_eq!(w["response"], "Short answer.", "{w}");
    let calls = r.stub.model_calls();
    assert_eq!(last_user_text(calls.last().context("a call")?), "Say something short");
    Ok(())
}

#[tokio::test]
async fn claude_code_real_cli_abort_while_a_permission_dialog_is_open() -> Result<()> {
    let r = rig(Cli::Claude).await?;
    r.start("ccpabort").await?;
    read_then_edit(&r, "unused");
    let id = r.send("ccpabort", "Change the greeting to say hello, world").await?;
    let pending = r.permission("ccpabort").await?;
    let pid = pending["permissionId"].as_str().context("permissionId")?.to_string();
    let (status, body) = r.d.post("/sessions/ccpabort/abort", json!({})).await?;
    assert_eq!(status, 200, "{body}");
    let done = r.done("ccpabort", &id).await?;
    assert_eq!(done["status"], "aborted", "{done}");
    let url = format!("/sessions/ccpabort/permissions/{pid}");
    let (status, body) = r.d.post(&url, json!({"decision": "allow"})).await?;
    assert_eq!(status, 409, "{body}");
    let evs = r.events("ccpabort").await?;
    let resolved = of(&evs, "permission-resolved");
    assert_eq!(resolved.len(), 1, "{evs:#?}");
    assert_eq!(resolved[0]["decision"], "cancelled");
    r.wait_state("ccpabort", "idle").await?;
    assert_eq!(
        std::fs::read_to_string(r.project.join("hello.py"))?,
        "print(\"Hello\")\n"
    );
    // Nothing was typed into the next prompt: the next call carries
    // exactly the next message.
    r.stub.clear();
    r.stub.push(Reply::text("Hi there."));
    let w = r.send_wait("ccpabort", "Say hi").await?;
    assert_eq!(w["response"], "Hi there.", "{w}");
    let calls = r.stub.model_calls();
    assert_eq!(last_user_text(calls.last().context("a call")?), "Say hi");
    Ok(())
}

#[tokio::test]
#[ignore = "open defect: after reset Claude Code (new --session-id) answers, but the daemon binds no tail to the new transcript"]
async fn claude_code_real_cli_reset_then_a_turn() -> Result<()> {
    let r = rig(Cli::Claude).await?;
    r.start("ccreset").await?;
    r.stub.push(Reply::text("First answer."));
    let w = r.send_wait("ccreset", "First question").await?;
    assert_eq!(w["response"], "First answer.", "{w}");
    let (status, body) = r.d.post("/sessions/ccreset/reset", json!({})).await?;
    assert_eq!(status, 200, "{body}");
    r.wait_state("ccreset", "idle").await?;
    r.stub.push(Reply::text("Second answer."));
    let w = r.send_wait("ccreset", "Second question").await?;
    assert_eq!(w["status"], "done", "{w}\n{}", r.pane("ccreset"));
    assert_eq!(w["response"], "Second answer.", "{w}");
    Ok(())
}

#[tokio::test]
async fn claude_code_real_cli_two_sessions_back_to_back_bind_their_own_transcripts() -> Result<()> {
    let r = rig(Cli::Claude).await?;
    r.start("cca").await?;
    r.stub.push(Reply::text("Answer for A."));
    let a = r.send_wait("cca", "Question A").await?;
    assert_eq!(a["response"], "Answer for A.", "{a}");
    r.start("ccb").await?;
    r.stub.push(Reply::text("Answer for B."));
    let b = r.send_wait("ccb", "Question B").await?;
    assert_eq!(b["response"], "Answer for B.", "{b}");
    for (name, own, other) in [
        ("cca", "Answer for A.", "Answer for B."),
        ("ccb", "Answer for B.", "Answer for A."),
    ] {
        let evs = r.events(name).await?;
        let msgs: Vec<&str> = of(&evs, "message")
            .iter()
            .filter_map(|e| e["message"].as_str())
            .collect();
        assert_eq!(msgs, [own], "{name}: {msgs:?} (not {other})");
    }
    Ok(())
}
