//! The `codex` provider against the real Codex CLI.

use anyhow::{Context, Result};
use serde_json::{Value, json};
use wasmux_testkit::model_stub::{Reply, Request};

use super::scenarios::*;
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
    assert_successful_call(turn, "exec_command", "print")?;
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
    r.answered(name, "Change the greeting to say hello, world", decision)
        .await
}

#[tokio::test]
async fn codex_real_cli_approved_patch_is_applied_and_stored() -> Result<()> {
    let r = rig(Cli::Codex).await?;
    let (pending, done) = patch_answered(&r, "cxallow", "allow").await?;
    assert_eq!(pending["toolName"], "apply_patch", "{pending}");
    assert_eq!(done["status"], "done", "{done}\n{}", r.pane("cxallow"));
    assert_final_answer(&done, "The greeting now says hello, world.");
    assert_eq!(
        std::fs::read_to_string(r.project.join("hello.py"))?,
        "print(\"hello, world\")\n"
    );
    assert_approved_edit(&r.events("cxallow").await?)?;
    r.record_transcript()
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
    assert_refused(&r.events("cxdeny").await?, "apply_patch")
}

#[tokio::test]
async fn codex_real_cli_abort_during_a_streaming_reply() -> Result<()> {
    abort_during_a_streaming_reply(Cli::Codex, "cxabort").await
}

#[tokio::test]
async fn codex_real_cli_reset_then_a_turn() -> Result<()> {
    reset_then_a_turn(Cli::Codex, "cxreset").await
}

#[tokio::test]
async fn codex_real_cli_two_sessions_back_to_back_bind_their_own_rollouts() -> Result<()> {
    two_sessions_back_to_back(Cli::Codex, "cxa", "cxb").await
}

#[tokio::test]
async fn codex_real_cli_abort_while_a_permission_dialog_is_open() -> Result<()> {
    abort_while_a_permission_dialog_is_open(Cli::Codex, "cxpabort", |r| patch_then(r, "unused")).await
}

#[tokio::test]
async fn codex_real_cli_shell_command_denied_allowed_and_always() -> Result<()> {
    shell_command_permissions(Cli::Codex, "cxsh", true).await?;
    Ok(())
}

#[tokio::test]
async fn codex_real_cli_sigkill_mid_turn_then_a_turn() -> Result<()> {
    sigkill_mid_turn_then_a_turn(Cli::Codex, "cxkill").await
}

#[tokio::test]
async fn codex_real_cli_steer_reaches_the_running_turn() -> Result<()> {
    steer_reaches_the_running_turn(Cli::Codex, "cxsteer", |_| {
        ("exec_command", json!({"cmd": "cat hello.py"}))
    })
    .await
}

/// Processes whose command line contains `needle` and whose environment
/// has `HOME=home`.
fn processes_under(home: &std::path::Path, needle: &str) -> Vec<String> {
    let home = format!("HOME={}", home.display());
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid = e.ok()?.file_name().to_str()?.parse::<u32>().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        let ours = environ.split(|b| *b == 0).any(|v| v == home.as_bytes());
        (ours && cmdline.contains(needle)).then(|| format!("{pid}: {cmdline}"))
    })
    .collect()
}

#[tokio::test]
async fn codex_real_cli_each_session_s_env_reaches_its_tools_and_nothing_outlives_it() -> Result<()> {
    // Codex's TUI would start one shared `codex app-server` per
    // CODEX_HOME; its tools then ran with the environment of whichever
    // pane started it, and it outlived the session and the daemon.
    let r = rig(Cli::Codex).await?;
    for (name, value) in [("cxenva", "alpha-env"), ("cxenvb", "beta-env")] {
        r.create_with_env(name, &[("WASMUX_PROBE", value)]).await?;
        r.wait_state(name, "idle").await?;
        r.stub
            .push(Reply::new(30, 20).then_tool("exec_command", json!({"cmd": "printenv WASMUX_PROBE"})));
        r.stub.push(Reply::new(40, 10).then_text("Printed it."));
        let w = r.send_wait(name, "Print WASMUX_PROBE").await?;
        assert_eq!(w["status"], "done", "{w}\n{}", r.pane(name));
        let evs = r.events(name).await?;
        assert_successful_call(last_turn(&evs), "exec_command", value)?;
    }
    let outputs: Vec<String> = r
        .stub
        .model_calls()
        .iter()
        .filter_map(|c| {
            let items = c.body["input"].as_array()?;
            let out = items.iter().rev().find(|i| i["type"] == "function_call_output")?;
            Some(out["output"].to_string())
        })
        .collect();
    assert_eq!(outputs.len(), 2, "{outputs:?}");
    assert!(
        outputs[0].contains("alpha-env") && !outputs[0].contains("beta-env"),
        "{outputs:?}"
    );
    assert!(
        outputs[1].contains("beta-env") && !outputs[1].contains("alpha-env"),
        "{outputs:?}"
    );
    for name in ["cxenva", "cxenvb"] {
        let (status, body) = r.d.delete(&format!("/sessions/{name}")).await?;
        assert!(status.is_success(), "{status} {body}");
    }
    let home = r.home.path().to_path_buf();
    let left =
        r.d.wait_for(LONG, "no Codex process left", || async {
            Ok(processes_under(&home, "codex").is_empty().then_some(()))
        })
        .await;
    assert!(left.is_ok(), "left running: {:?}", processes_under(&home, "codex"));
    Ok(())
}

#[tokio::test]
async fn codex_real_cli_leftover_input_is_not_merged_into_the_next_prompt() -> Result<()> {
    leftover_input_is_not_merged_into_the_next_prompt(Cli::Codex, "cxleft").await
}
