//! The `claude-code` provider against the real Claude Code CLI.

use anyhow::{Context, Result};
use serde_json::{Value, json};
use wasmux_testkit::model_stub::{Reply, Request};

use super::scenarios::*;
use super::{Cli, Rig, last_turn, of, rig, types};

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
    r.answered(name, "Change the greeting to say hello, world", decision)
        .await
}

#[tokio::test]
async fn claude_code_real_cli_allowed_edit_is_applied_and_stored() -> Result<()> {
    let r = rig(Cli::Claude).await?;
    let (pending, done) = edit_answered(&r, "ccallow", "allow").await?;
    assert_eq!(pending["toolName"], "Edit", "{pending}");
    assert_eq!(done["status"], "done", "{done}\n{}", r.pane("ccallow"));
    assert_final_answer(&done, "The greeting now says hello, world.");
    let text = std::fs::read_to_string(r.project.join("hello.py"))?;
    assert_eq!(text, "print(\"hello, world\")\n");
    assert_approved_edit(&r.events("ccallow").await?)?;
    r.wait_state("ccallow", "idle").await?;
    r.record_transcript()
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
    assert_refused(&evs, "Edit")?;
    let resolved = of(&evs, "permission-resolved");
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["decision"], "deny");
    Ok(())
}

#[tokio::test]
async fn claude_code_real_cli_abort_during_a_streaming_reply() -> Result<()> {
    abort_during_a_streaming_reply(Cli::Claude, "ccabort").await
}

#[tokio::test]
async fn claude_code_real_cli_abort_while_a_permission_dialog_is_open() -> Result<()> {
    abort_while_a_permission_dialog_is_open(Cli::Claude, "ccpabort", |r| read_then_edit(r, "unused")).await
}

#[tokio::test]
async fn claude_code_real_cli_reset_then_a_turn() -> Result<()> {
    reset_then_a_turn(Cli::Claude, "ccreset").await
}

#[tokio::test]
async fn claude_code_real_cli_two_sessions_back_to_back_bind_their_own_transcripts() -> Result<()> {
    two_sessions_back_to_back(Cli::Claude, "cca", "ccb").await
}

#[tokio::test]
async fn claude_code_real_cli_shell_command_denied_allowed_and_always() -> Result<()> {
    // Claude Code 2.1.332 offers no "don't ask again for this command" for
    // `touch` in the project: its always-option allows the folder
    // ("Yes, and always allow access to <dir> from this project"), written
    // for this session, and the command is asked for again.
    let r = shell_command_permissions(Cli::Claude, "ccsh", false).await?;
    let evs = r.events("ccsh").await?;
    let decisions: Vec<&str> = of(&evs, "permission-resolved")
        .iter()
        .filter_map(|e| e["decision"].as_str())
        .collect();
    assert_eq!(decisions, ["deny", "allow", "always", "allow"]);
    Ok(())
}

#[tokio::test]
async fn claude_code_real_cli_sigkill_mid_turn_then_a_turn() -> Result<()> {
    sigkill_mid_turn_then_a_turn(Cli::Claude, "cckill").await
}

#[tokio::test]
async fn claude_code_real_cli_steer_reaches_the_running_turn() -> Result<()> {
    steer_reaches_the_running_turn(Cli::Claude, "ccsteer", |r| {
        ("Read", json!({"file_path": r.project.join("hello.py")}))
    })
    .await
}

#[tokio::test]
async fn claude_code_real_cli_leftover_input_is_not_merged_into_the_next_prompt() -> Result<()> {
    leftover_input_is_not_merged_into_the_next_prompt(Cli::Claude, "ccleft").await
}
