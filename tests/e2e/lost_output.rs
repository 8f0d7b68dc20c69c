//! Output the pipe sink never recorded can hold an agent's end-of-turn
//! mark (issue 13): a shell session whose `133;D` fell into an
//! `output-lost` span must not stay `working` for good, live or after a
//! restart; a turn whose end was lost fails naming the loss, and the
//! queue runs on.

use anyhow::{Context, Result};
use serde_json::json;

use crate::harness::TestDaemon;
use crate::queue::{events, idle, send_wait, wait_done};
use crate::stream::shell_session;

/// The pid of the sink recording session `name`.
fn sink_pid(d: &TestDaemon, name: &str) -> Result<i32> {
    let text = std::fs::read_to_string(d.raw_dir(name).join("sink.pid"))?;
    text.trim().parse().context("sink.pid")
}

fn sigkill(pid: i32) {
    // SAFETY: a signal to the test daemon's own sink.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0, "kill {pid}");
}

/// Wait until session `name` reports `value`.
async fn state_is(d: &TestDaemon, name: &str, value: &str) -> Result<()> {
    d.wait_for(
        std::time::Duration::from_secs(60),
        &format!("{name} {value}"),
        || async {
            let (_, s) = d.get(&format!("/sessions/{name}/state")).await?;
            Ok((s["state"]["value"] == value).then_some(()))
        },
    )
    .await
}

#[tokio::test]
async fn a_turn_whose_end_the_sink_lost_fails_and_the_queue_runs_on() -> Result<()> {
    // Found with a killed sink and a full disk: the shell's end mark was in
    // the lost span, the session stayed `working` and the queue stalled.
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "end", dir.path()).await?;
    idle(&d, "end").await?;
    let pid = sink_pid(&d, "end")?;
    // The turn waits for a line (its start mark is recorded), then kills
    // the sink and ends: its end mark and the next prompt have no sink.
    let text = format!("read -r _; kill -9 {pid}; echo killed");
    let (status, m) = d.post("/sessions/end/messages", json!({ "text": text })).await?;
    assert_eq!(status, 202, "{m}");
    let id = m["id"].as_str().context("id")?.to_string();
    state_is(&d, "end", "working").await?;
    crate::harness::tmux(&d.tmux_socket(), &["send-keys", "-t", "=end:", "Enter"])?;
    let m = wait_done(&d, "end", &id).await?;
    assert_eq!(m["status"], "failed", "{m}");
    let error = m["error"].as_str().unwrap_or_default();
    assert!(error.contains("lost"), "the error names the loss: {m}");
    d.wait_for(std::time::Duration::from_secs(30), "a new sink recording", || async {
        Ok(sink_pid(&d, "end").ok().filter(|p| *p != pid))
    })
    .await?;
    let evs: Vec<serde_json::Value> = events(&d, "end", None).await?.into_iter().map(|(_, e)| e).collect();
    let lost_at = evs
        .iter()
        .position(|e| e["type"] == "output-lost")
        .context("an output-lost event")?;
    assert!(
        evs[lost_at..]
            .iter()
            .any(|e| e["type"] == "state" && e["value"] == "idle" && e["source"] == "process"),
        "idle re-derived from the pane's processes after the loss: {:#?}",
        &evs[lost_at..]
    );
    assert_eq!(send_wait(&d, "end", "echo after-loss").await?["response"], "after-loss");
    Ok(())
}

#[tokio::test]
async fn a_restart_after_a_lost_end_finds_the_shell_idle() -> Result<()> {
    // Found after a full disk: the session restarted in `working` with no
    // turn and never ran a message again.
    let mut d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "rest", dir.path()).await?;
    idle(&d, "rest").await?;
    let sock = d.tmux_socket();
    // A person starts a command: no turn, the state is `working`.
    crate::harness::tmux(
        &sock,
        &["send-keys", "-t", "=rest:", "read -r _; echo unblocked-now", "Enter"],
    )?;
    state_is(&d, "rest", "working").await?;
    d.kill9();
    // With the daemon down, the sink dies and the command ends: its end
    // mark is printed with nothing to record it.
    sigkill(sink_pid(&d, "rest")?);
    crate::harness::tmux(&sock, &["send-keys", "-t", "=rest:", "Enter"])?;
    d.wait_for(
        std::time::Duration::from_secs(30),
        "the command's end on screen",
        || async {
            let screen = crate::harness::tmux(&sock, &["capture-pane", "-p", "-t", "=rest:"])?;
            Ok(screen.lines().any(|l| l.trim() == "unblocked-now").then_some(()))
        },
    )
    .await?;
    d.restart().await?;
    idle(&d, "rest").await?;
    assert_eq!(
        send_wait(&d, "rest", "echo after-restart").await?["response"],
        "after-restart"
    );
    Ok(())
}
