//! The `gemini` and `opencode` providers (the ACP component with their own
//! manifests) against the real Gemini CLI and OpenCode.

use anyhow::{Context, Result};
use serde_json::{Value, json};
use wasmux_testkit::model_stub::{Reply, Request};

use super::scenarios::*;
use super::{Cli, Rig, last_turn, of, rig, types};

/// The text the user typed last, from a Gemini `generateContent` request:
/// the last text part of the last user turn with text (function responses
/// are user turns too; the first turn opens with a `<session_context>`
/// part).
pub fn gemini_last_user_text(r: &Request) -> String {
    let contents = r.body["contents"].as_array().cloned().unwrap_or_default();
    contents
        .iter()
        .rev()
        .filter(|c| c["role"] == "user")
        .find_map(|c| {
            let parts = c["parts"].as_array().cloned().unwrap_or_default();
            parts.iter().rev().find_map(|p| p["text"].as_str().map(str::to_string))
        })
        .unwrap_or_default()
}

/// The text of the last user message of a chat-completions request.
pub fn chat_last_user_text(r: &Request) -> String {
    let messages = r.body["messages"].as_array().cloned().unwrap_or_default();
    let Some(last) = messages.iter().rev().find(|m| m["role"] == "user") else {
        return String::new();
    };
    match &last["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The model's call of the agent's read-file tool on `hello.py`.
fn read_call(r: &Rig) -> (&'static str, Value) {
    let path = r.project.join("hello.py").display().to_string();
    match r.cli {
        Cli::Gemini => ("read_file", json!({"file_path": path})),
        _ => ("read", json!({"filePath": path})),
    }
}

/// The model's call of the agent's write-file tool, replacing `hello.py`.
fn write_call(r: &Rig) -> (&'static str, Value) {
    let path = r.project.join("hello.py").display().to_string();
    let content = "print(\"hello, world\")\n";
    match r.cli {
        Cli::Gemini => ("write_file", json!({"file_path": path, "content": content})),
        _ => ("write", json!({"filePath": path, "content": content})),
    }
}

/// Script: write `hello.py` (asks for approval), then say `done`.
fn write_then(r: &Rig, done: &str) {
    let (tool, input) = write_call(r);
    r.stub
        .push(Reply::new(30, 20).then_text("Changing it.").then_tool(tool, input));
    r.stub.push(Reply::new(50, 10).then_text(done));
}

/// A read, then the answer: `?wait=true` and `/history` hold the final
/// text; the read's result is stored in order before the end of the turn.
async fn tool_turn(cli: Cli, name: &str) -> Result<()> {
    let r = rig(cli).await?;
    r.start(name).await?;
    let (tool, input) = read_call(&r);
    r.stub.push(
        Reply::new(30, 20)
            .then_thinking("I should look at the file.")
            .then_tool(tool, input),
    );
    r.stub.push(Reply::new(60, 40).then_text("It prints Hello."));
    let w = r.send_wait(name, "What does this project do?").await?;
    assert_eq!(w["status"], "done", "{w}\n{}", r.pane(name));
    assert_final_answer(&w, "It prints Hello.");
    let history = r.history(name).await?;
    assert_eq!(history.last().context("history")?["response"], w["response"]);
    let evs = r.events(name).await?;
    let turn = last_turn(&evs);
    let seen = types(turn);
    assert_eq!(of(turn, "task-complete").len(), 1, "{seen:?}");
    let call = of(turn, "tool-call").first().cloned().context("a tool call")?.clone();
    let results: Vec<&Value> = of(turn, "tool-result")
        .into_iter()
        .filter(|e| e["callId"] == call["callId"])
        .collect();
    assert_eq!(results.len(), 1, "{turn:#?}");
    assert_eq!(results[0]["isError"], false, "{}", results[0]);
    let order = |t: &str| seen.iter().position(|s| s == t);
    assert!(order("tool-call") < order("tool-result"), "{seen:?}");
    assert!(order("tool-result") < order("task-complete"), "{seen:?}");
    let calls = r.stub.model_calls();
    assert_eq!(calls.len(), 2, "model calls");
    assert_eq!(cli.last_user_text(&calls[0]), "What does this project do?");
    r.wait_state(name, "idle").await
}

/// A write answered with `decision`: the pending request and the message.
async fn write_answered(r: &Rig, name: &str, decision: &str) -> Result<(Value, Value)> {
    r.start(name).await?;
    write_then(r, "The greeting now says hello, world.");
    r.answered(name, "Change the greeting to say hello, world", decision)
        .await
}

async fn approved_write(cli: Cli, name: &str) -> Result<()> {
    let r = rig(cli).await?;
    let (_, done) = write_answered(&r, name, "allow").await?;
    assert_eq!(done["status"], "done", "{done}\n{}", r.pane(name));
    assert_final_answer(&done, "The greeting now says hello, world.");
    assert_eq!(
        std::fs::read_to_string(r.project.join("hello.py"))?,
        "print(\"hello, world\")\n"
    );
    r.wait_state(name, "idle").await?;
    let evs = r.events(name).await?;
    // After the answer the state is `working` no later than the call's own
    // completion (with these CLIs the first update after the answer), never
    // `waiting-permission` into the answer. ACP states follow only what the
    // agent reports, so a replay of its log (which holds no answers)
    // decides the same states (`providers_protocol::acp` goldens).
    let resolved = evs
        .iter()
        .position(|e| e["type"] == "permission-resolved")
        .context("resolved")?;
    let after = &evs[resolved..];
    let first = |kind: &str| after.iter().position(|e| e["type"] == kind);
    let working = after
        .iter()
        .position(|e| e["type"] == "state" && e["value"] == "working")
        .context("working after the answer")?;
    let result = first("tool-result").context("the result")?;
    let answer = first("message").context("the answer")?;
    assert!(
        working <= result + 1 && working < answer,
        "the state stayed waiting-permission past the call: {:?}",
        types(&evs)
    );
    assert_approved_edit(&evs)
}

async fn refused_write(cli: Cli, name: &str) -> Result<()> {
    let r = rig(cli).await?;
    let (_, done) = write_answered(&r, name, "deny").await?;
    assert_eq!(
        std::fs::read_to_string(r.project.join("hello.py"))?,
        "print(\"Hello\")\n"
    );
    r.wait_state(name, "idle").await?;
    let evs = r.events(name).await?;
    assert!(of(&evs, "file-edit").is_empty(), "{evs:#?}");
    let ok = of(&evs, "tool-result").into_iter().any(|e| e["isError"] == false);
    assert!(!ok, "a refused write has no successful result: {evs:#?}\n{done}");
    let resolved = of(&evs, "permission-resolved");
    assert_eq!(resolved.len(), 1, "{evs:#?}");
    assert_eq!(resolved[0]["decision"], "deny");
    Ok(())
}

#[tokio::test]
async fn gemini_real_cli_reaches_idle_and_a_tool_turn_returns_the_final_answer() -> Result<()> {
    tool_turn(Cli::Gemini, "gm").await
}

#[tokio::test]
async fn gemini_real_cli_approved_write_is_applied_and_stored() -> Result<()> {
    approved_write(Cli::Gemini, "gmallow").await
}

#[tokio::test]
async fn gemini_real_cli_refused_write_stores_no_edit_and_no_successful_result() -> Result<()> {
    refused_write(Cli::Gemini, "gmdeny").await
}

#[tokio::test]
async fn gemini_real_cli_abort_during_a_streaming_reply() -> Result<()> {
    abort_during_a_streaming_reply(Cli::Gemini, "gmabort").await
}

#[tokio::test]
async fn gemini_real_cli_abort_while_a_permission_dialog_is_open() -> Result<()> {
    abort_while_a_permission_dialog_is_open(Cli::Gemini, "gmpabort", |r| write_then(r, "unused")).await
}

#[tokio::test]
async fn gemini_real_cli_reset_then_a_turn() -> Result<()> {
    reset_then_a_turn(Cli::Gemini, "gmreset").await
}

#[tokio::test]
async fn opencode_real_cli_reaches_idle_and_a_tool_turn_returns_the_final_answer() -> Result<()> {
    tool_turn(Cli::OpenCode, "oc").await
}

#[tokio::test]
async fn opencode_real_cli_approved_write_is_applied_and_stored() -> Result<()> {
    approved_write(Cli::OpenCode, "ocallow").await
}

#[tokio::test]
async fn opencode_real_cli_refused_write_stores_no_edit_and_no_successful_result() -> Result<()> {
    refused_write(Cli::OpenCode, "ocdeny").await
}

#[tokio::test]
async fn opencode_real_cli_abort_during_a_streaming_reply() -> Result<()> {
    abort_during_a_streaming_reply(Cli::OpenCode, "ocabort").await
}

#[tokio::test]
async fn opencode_real_cli_abort_while_a_permission_dialog_is_open() -> Result<()> {
    abort_while_a_permission_dialog_is_open(Cli::OpenCode, "ocpabort", |r| write_then(r, "unused")).await
}

#[tokio::test]
async fn opencode_real_cli_reset_then_a_turn() -> Result<()> {
    reset_then_a_turn(Cli::OpenCode, "ocreset").await
}

#[tokio::test]
async fn gemini_real_cli_shell_command_denied_allowed_and_always() -> Result<()> {
    shell_command_permissions(Cli::Gemini, "gmsh", true).await?;
    Ok(())
}

#[tokio::test]
async fn opencode_real_cli_shell_command_denied_allowed_and_always() -> Result<()> {
    shell_command_permissions(Cli::OpenCode, "ocsh", true).await?;
    Ok(())
}

#[tokio::test]
async fn gemini_real_cli_sigkill_mid_turn_then_a_turn() -> Result<()> {
    sigkill_mid_turn_then_a_turn(Cli::Gemini, "gmkill").await
}

#[tokio::test]
async fn opencode_real_cli_sigkill_mid_turn_then_a_turn() -> Result<()> {
    sigkill_mid_turn_then_a_turn(Cli::OpenCode, "ockill").await
}

/// A write allowed always: written, and the next turn's write of the same
/// file runs without asking.
async fn write_always_then_unasked(cli: Cli, name: &str) -> Result<()> {
    let r = rig(cli).await?;
    let (_, done) = write_answered(&r, name, "always").await?;
    assert_eq!(done["status"], "done", "{done}\n{}", r.diagnostics(name));
    r.wait_state(name, "idle").await?;
    let path = r.project.join("hello.py").display().to_string();
    let (tool, input) = match cli {
        Cli::Gemini => ("write_file", json!({"file_path": path, "content": "print(\"bye\")\n"})),
        _ => ("write", json!({"filePath": path, "content": "print(\"bye\")\n"})),
    };
    r.stub.clear();
    r.stub.push(Reply::new(30, 20).then_tool(tool, input));
    r.stub.push(Reply::new(50, 10).then_text("Now it says bye."));
    let w = r.send_wait(name, "Make it say bye").await?;
    assert_eq!(w["status"], "done", "{w}\n{}", r.diagnostics(name));
    assert_eq!(std::fs::read_to_string(r.project.join("hello.py"))?, "print(\"bye\")\n");
    let evs = r.events(name).await?;
    let turn = last_turn(&evs);
    assert!(
        of(turn, "permission-request").is_empty(),
        "asked again: {:?}",
        types(turn)
    );
    assert_eq!(of(turn, "file-edit").len(), 1, "{:?}", types(turn));
    Ok(())
}

#[tokio::test]
async fn gemini_real_cli_write_allowed_always_is_not_asked_again() -> Result<()> {
    write_always_then_unasked(Cli::Gemini, "gmalways").await
}

#[tokio::test]
async fn opencode_real_cli_write_allowed_always_is_not_asked_again() -> Result<()> {
    write_always_then_unasked(Cli::OpenCode, "ocalways").await
}
