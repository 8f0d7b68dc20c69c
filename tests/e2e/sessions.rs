//! Sessions that start, fail and restart honestly, config from the
//! environment, and the CLI's edges — through a real daemon, real tmux and
//! the real `wasmux` binary.

use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::harness::TestDaemon;
use crate::queue::{idle, send_wait, wait_done};
use crate::stream::shell_session;
use crate::ws_client::{Frame, StreamClient};

/// `wasmux <args>` against daemon `d`'s state dir.
fn cli(d: &TestDaemon, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wasmux"));
    c.arg("--state-dir").arg(d.state_dir()).args(args);
    c.env_remove("WASMUX_URL").env_remove("WASMUX_TOKEN");
    c
}

fn run(mut c: Command) -> Result<Output> {
    c.stdin(Stdio::null()).output().context("running wasmux")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Wait until session `name` has exited; its row.
async fn exited(d: &TestDaemon, name: &str) -> Result<Value> {
    d.wait_for(Duration::from_secs(60), &format!("{name} to exit"), || async {
        let (_, s) = d.get(&format!("/sessions/{name}")).await?;
        Ok((s["status"] == "exited" && s["state"]["value"] == "exited").then_some(s))
    })
    .await
}

#[tokio::test]
async fn a_missing_agent_program_is_a_400_naming_it() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    let bin = tempfile::tempdir()?;
    let (status, body) = d
        .post(
            "/sessions",
            json!({"name": "cc", "provider": "claude-code", "cwd": dir.path(), "env": {"PATH": bin.path()}}),
        )
        .await?;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (400, Some("command_not_found")),
        "{body}"
    );
    let msg = body["error"].as_str().unwrap();
    assert!(
        msg.contains("`claude`") && msg.contains(&bin.path().display().to_string()),
        "{msg}"
    );
    // Nothing was left behind: the name is free.
    let (status, _) = d.get("/sessions/cc").await?;
    assert_eq!(status, 404);
    // The CLI says the same, with its own exit code for a rejected request.
    let out = run(cli(
        &d,
        &[
            "new",
            "cc",
            "--provider",
            "claude-code",
            "--env",
            &format!("PATH={}", bin.path().display()),
        ],
    ))?;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("`claude` was not found"),
        "{}",
        text(&out.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn an_agent_that_dies_at_start_reports_its_exit_code_and_last_output() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    let (status, body) = d
        .post(
            "/sessions",
            json!({"name": "dies", "provider": "shell", "cwd": dir.path(),
                   "args": ["-c", "echo missing-config-file >&2; exit 7"]}),
        )
        .await?;
    assert_eq!(status, 201, "{body}");
    let s = exited(&d, "dies").await?;
    assert_eq!(s["exitCode"], 7, "{s}");
    let last = s["lastOutput"].as_array().context("lastOutput")?;
    assert!(
        last.iter().any(|l| l.as_str().unwrap().contains("missing-config-file")),
        "{s}"
    );
    let (_, st) = d.get("/sessions/dies/state").await?;
    assert_eq!(
        (st["exitCode"].as_i64(), st["lastOutput"].clone()),
        (Some(7), s["lastOutput"].clone())
    );
    let out = run(cli(&d, &["state", "dies"]))?;
    let shown = text(&out.stdout);
    assert!(
        shown.contains("exit code: 7") && shown.contains("missing-config-file"),
        "{shown}"
    );
    let out = run(cli(&d, &["ls"]))?;
    let table = text(&out.stdout);
    let row = table.lines().find(|l| l.starts_with("dies ")).context("ls row")?;
    assert!(row.contains(" exited ") && row.contains(" 7 "), "{table}");
    // Below the row: the last line the agent printed (bash says `exit`).
    assert!(table.lines().any(|l| l.trim_start().starts_with("└ ")), "{table}");
    Ok(())
}

#[tokio::test]
async fn restart_starts_an_exited_session_again_keeping_its_log() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "rs", dir.path()).await?;
    idle(&d, "rs").await?;
    assert_eq!(send_wait(&d, "rs", "echo first-life").await?["response"], "first-life");
    d.post("/sessions/rs/messages", json!({"text": "exit 3"})).await?;
    let before = exited(&d, "rs").await?;
    assert_eq!(before["exitCode"], 3);
    // Neither a new session of that name nor a message is accepted; both say how.
    let (status, body) = d.post("/sessions", json!({"name": "rs", "provider": "shell"})).await?;
    assert_eq!(status, 409);
    assert!(body["error"].as_str().unwrap().contains("wasmux restart rs"), "{body}");
    let (status, body) = d.post("/sessions/rs/messages", json!({"text": "echo x"})).await?;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (409, Some("session_exited")),
        "{body}"
    );

    let out = run(cli(&d, &["restart", "rs"]))?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("restarted rs"));
    idle(&d, "rs").await?;
    let (_, after) = d.get("/sessions/rs").await?;
    assert_eq!(
        (after["status"].as_str(), after["exitCode"].clone()),
        (Some("running"), Value::Null),
        "{after}"
    );
    assert!(after.get("lastOutput").is_none(), "{after}");
    assert_eq!(after["epoch"], before["epoch"], "same log");
    assert_eq!(after["firstSeq"], before["firstSeq"]);
    // The stream continues the old numbering: resuming from the last seq of
    // the first life gets the second life's first chunk next.
    let mut c = StreamClient::connect(&d, "rs").await?;
    c.resume(before["lastSeq"].as_u64()).await?;
    match c.next(Duration::from_secs(30)).await? {
        Frame::Chunk(seq, _) => assert_eq!(seq, before["lastSeq"].as_u64().unwrap() + 1),
        f => anyhow::bail!("expected a chunk, got {f:?}"),
    }
    assert_eq!(
        send_wait(&d, "rs", "echo second-life").await?["response"],
        "second-life"
    );

    // Reset of an exited session starts it again too.
    d.post("/sessions/rs/messages", json!({"text": "exit 4"})).await?;
    exited(&d, "rs").await?;
    let (status, body) = d.post("/sessions/rs/reset", json!({})).await?;
    assert_eq!(status, 200, "{body}");
    idle(&d, "rs").await?;
    assert_eq!(send_wait(&d, "rs", "echo third-life").await?["response"], "third-life");

    // Restart of a running session relaunches the agent and keeps the queue.
    let (_, long) = d.post("/sessions/rs/messages", json!({"text": "sleep 300"})).await?;
    let (_, queued) = d
        .post("/sessions/rs/messages", json!({"text": "echo after-restart"}))
        .await?;
    d.wait_for(Duration::from_secs(60), "sleep running", || async {
        let (_, s) = d.get("/sessions/rs/state").await?;
        Ok((s["turn"]["id"] == long["id"] && s["state"]["value"] == "working").then_some(()))
    })
    .await?;
    let (status, body) = d.post("/sessions/rs/restart", json!({})).await?;
    assert_eq!(status, 200, "{body}");
    let m = wait_done(&d, "rs", long["id"].as_str().unwrap()).await?;
    assert_eq!(
        (m["status"].as_str(), m["error"].as_str()),
        (Some("failed"), Some("agent restarted")),
        "{m}"
    );
    let m = wait_done(&d, "rs", queued["id"].as_str().unwrap()).await?;
    assert_eq!(
        (m["status"].as_str(), m["response"].as_str()),
        (Some("done"), Some("after-restart")),
        "{m}"
    );
    Ok(())
}

#[tokio::test]
async fn serve_ignores_wasmux_variables_that_are_not_config_keys() -> Result<()> {
    let env = vec![
        ("WASMUX_SESSION".to_string(), "outer".to_string()),
        ("WASMUX_PYTHON".to_string(), "/usr/bin/python3".to_string()),
        ("WASMUX_CARGO".to_string(), "cargo".to_string()),
        ("WASMUX_LIMITS__QUEUE_CAP".to_string(), "7".to_string()),
    ];
    let d = TestDaemon::start_env("", env, |_| Ok(())).await?;
    let (status, _) = d.get("/sessions").await?;
    assert_eq!(status, 200);
    Ok(())
}

#[tokio::test]
async fn serve_started_inside_a_wasmux_pane_works() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    let inner = tempfile::Builder::new().prefix("wasmux-inner-").tempdir()?;
    shell_session(&d, "outer", dir.path()).await?;
    idle(&d, "outer").await?;
    let cmd = format!(
        "{} serve --state-dir {} --listen 127.0.0.1:0\r",
        env!("CARGO_BIN_EXE_wasmux"),
        inner.path().display()
    );
    let mut c = StreamClient::connect(&d, "outer").await?;
    c.resume(Some(c.meta["lastSeq"].as_u64().unwrap_or(0))).await?;
    c.send(json!({"type": "input", "data": cmd})).await?;
    let info = inner.path().join("daemon.json");
    let started = d
        .wait_for(Duration::from_secs(120), "the inner daemon's daemon.json", || async {
            Ok(std::fs::read(&info)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok()))
        })
        .await;
    // Stop the inner daemon (and its own tmux server) whatever happened.
    c.send(json!({"type": "keys", "keys": ["C-c"]})).await?;
    let _ = d
        .wait_for(Duration::from_secs(30), "the inner daemon to stop", || async {
            Ok((!info.exists()).then_some(()))
        })
        .await;
    crate::harness::kill_tmux_server(&inner.path().join("tmux.sock"));
    started?;
    Ok(())
}

/// A daemon with an idle shell session `cl`.
async fn cli_daemon() -> Result<(TestDaemon, tempfile::TempDir)> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "cl", dir.path()).await?;
    idle(&d, "cl").await?;
    Ok((d, dir))
}

#[tokio::test]
async fn cli_refuses_a_state_dir_without_a_daemon() -> Result<()> {
    let empty = tempfile::tempdir()?;
    let out = run({
        let mut c = Command::new(env!("CARGO_BIN_EXE_wasmux"));
        c.arg("--state-dir")
            .arg(empty.path())
            .arg("ls")
            .env_remove("WASMUX_URL");
        c
    })?;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no daemon is running for this state dir"),
        "{}",
        text(&out.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn cli_send_dash_reads_the_text_from_stdin() -> Result<()> {
    let (d, _dir) = cli_daemon().await?;
    let mut child = cli(&d, &["send", "cl", "-", "--wait"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    child.stdin.take().unwrap().write_all(b"echo from-$((6*7))-stdin\n")?;
    let out = child.wait_with_output()?;
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), "from-42-stdin");
    Ok(())
}

#[tokio::test]
async fn cli_ends_quietly_on_a_broken_pipe() -> Result<()> {
    let (d, _dir) = cli_daemon().await?;
    let mut child = cli(&d, &["logs", "cl", "-f"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first)?;
    assert!(!first.is_empty());
    // The reader is gone; more events make the next write fail.
    send_wait(&d, "cl", "echo more-events").await?;
    let out = child.wait_with_output()?;
    assert_ne!(out.status.code(), Some(101), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
    Ok(())
}

#[tokio::test]
async fn cli_attach_of_an_unknown_session_says_not_found() -> Result<()> {
    let (d, _dir) = cli_daemon().await?;
    let out = run(cli(&d, &["attach", "nope"]))?;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no running session named `nope`"),
        "{}",
        text(&out.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn cli_permit_validates_the_decision() -> Result<()> {
    let (d, _dir) = cli_daemon().await?;
    let out = run(cli(&d, &["permit", "cl", "perm_1", "yes"]))?;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("allow"), "{}", text(&out.stderr));
    Ok(())
}

#[tokio::test]
async fn cli_help_names_the_token_and_url_variables() -> Result<()> {
    let out = run({
        let mut c = Command::new(env!("CARGO_BIN_EXE_wasmux"));
        c.arg("--help");
        c
    })?;
    let help = text(&out.stdout);
    assert!(help.contains("WASMUX_TOKEN") && help.contains("WASMUX_URL"), "{help}");
    assert!(help.contains("restart"), "{help}");
    Ok(())
}

#[tokio::test]
async fn cli_ls_shows_exit_codes_and_output_bytes() -> Result<()> {
    let (d, _dir) = cli_daemon().await?;
    let out = run(cli(&d, &["ls"]))?;
    let table = text(&out.stdout);
    let header = table.lines().next().unwrap();
    assert!(header.contains("EXIT") && header.contains("OUTPUT"), "{table}");
    let (_, s) = d.get("/sessions/cl").await?;
    let bytes = s["outputBytes"].as_u64().unwrap();
    assert!(bytes > 0, "{s}");
    let row = table.lines().find(|l| l.starts_with("cl ")).unwrap();
    assert!(
        row.contains(" - ") && row.contains('B'),
        "running: no exit code; bytes with a unit: {row}"
    );
    Ok(())
}
