//! The `pi` provider against the real pi coding agent (`pi --mode rpc`),
//! its model a custom `openai-completions` provider at the stub.

use anyhow::{Context, Result};
use serde_json::json;
use wasmux_testkit::model_stub::Reply;

use super::acp::chat_last_user_text;
use super::scenarios::*;
use super::{Cli, last_turn, of, rig, types};

#[tokio::test]
async fn pi_real_cli_reaches_idle_and_a_tool_turn_returns_the_final_answer() -> Result<()> {
    let r = rig(Cli::Pi).await?;
    r.start("pi").await?;
    r.stub.push(
        Reply::new(30, 20)
            .then_text("Looking.")
            .then_tool("bash", json!({"command": "cat hello.py"})),
    );
    r.stub.push(Reply::new(60, 40).then_text("It prints Hello."));
    let w = r.send_wait("pi", "What does this project do?").await?;
    assert_eq!(w["status"], "done", "{w}\n{}", r.pane("pi"));
    assert_final_answer(&w, "It prints Hello.");
    let history = r.history("pi").await?;
    assert_eq!(history.last().context("history")?["response"], w["response"]);
    let evs = r.events("pi").await?;
    let turn = last_turn(&evs);
    assert_successful_call(turn, "bash", "print")?;
    let counts: Vec<(u64, u64)> = of(turn, "token-count")
        .iter()
        .map(|e| (e["input"].as_u64().unwrap_or(0), e["output"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(
        counts,
        [(30, 20), (60, 40)],
        "one token count per model call: {:?}",
        types(turn)
    );
    let calls = r.stub.model_calls();
    assert_eq!(calls.len(), 2, "model calls");
    assert_eq!(chat_last_user_text(&calls[0]), "What does this project do?");
    r.wait_state("pi", "idle").await
}

#[tokio::test]
async fn pi_real_cli_steer_reaches_the_running_turn() -> Result<()> {
    steer_reaches_the_running_turn(Cli::Pi, "pist", |_| ("bash", json!({"command": "cat hello.py"}))).await
}

#[tokio::test]
async fn pi_real_cli_abort_during_a_streaming_reply() -> Result<()> {
    abort_during_a_streaming_reply(Cli::Pi, "piabort").await
}

#[tokio::test]
async fn pi_real_cli_reset_then_a_turn() -> Result<()> {
    reset_then_a_turn(Cli::Pi, "pireset").await
}

#[tokio::test]
async fn pi_real_cli_sigkill_mid_turn_then_a_turn() -> Result<()> {
    sigkill_mid_turn_then_a_turn(Cli::Pi, "pikill").await
}
