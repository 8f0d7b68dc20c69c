//! Fixtures and golden event files: where they live, how daemon events are
//! compared with them, and re-recording (`UPDATE_FIXTURES=1`).

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{TestDaemon, built_plugins};
use crate::queue::events;

/// The working directory recorded transcripts name in place of the test's
/// temporary one (paths in tool calls and diffs).
pub const PROJECT: &str = "/work/project";

/// The fixtures the e2e tests record from the fakes (provider, scenario);
/// the other transcripts were recorded by hand from real agents.
pub const E2E_SCENARIOS: &[(&str, &str)] = &[
    ("acp", "basic"),
    ("acp", "permission"),
    ("pi", "basic"),
    ("pi", "steer"),
];

/// Event types the daemon adds around the provider's own events.
const HOST_EVENTS: &[&str] = &[
    "message-queued",
    "message-started",
    "message-done",
    "message-failed",
    "permission-resolved",
    "steer",
];

/// `tests/fixtures/<provider>`.
pub fn fixtures(provider: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(provider)
}

/// The fake agent of `provider` (`fake-pi`, `fake-acp-agent`).
pub fn fake(provider: &str) -> PathBuf {
    let name = if provider == "pi" { "fake-pi" } else { "fake-acp-agent" };
    fixtures(provider).join(name)
}

/// Whether this run re-records fixtures instead of checking them.
pub fn blessing() -> bool {
    std::env::var("UPDATE_FIXTURES").is_ok_and(|v| v == "1")
}

/// `<state>/sessions/<name>/protocol.jsonl`: what the agent printed.
pub fn protocol_log(d: &TestDaemon, name: &str) -> PathBuf {
    d.state_dir().join("sessions").join(name).join("protocol.jsonl")
}

/// `wasmux plugin test <provider>.wasm --protocol <transcript> --events-only`.
pub fn plugin_test(provider: &str, transcript: &Path) -> Result<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_wasmux"))
        .arg("plugin")
        .arg("test")
        .arg(built_plugins().join(format!("{provider}.wasm")))
        .arg("--protocol")
        .arg(transcript)
        .args(["--events-only", "--cwd", PROJECT])
        .output()
        .context("running wasmux plugin test")?;
    if !out.status.success() {
        bail!("plugin test failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// JSON lines of `text`.
pub fn json_lines(text: &str) -> Result<Vec<Value>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("not JSON: {l}")))
        .collect()
}

/// Provider events as the daemon publishes them, comparable across runs:
/// no `seq`/`ts`/`session`, no queue events, no host `turn-aborted` (it
/// carries the message id), and a state only when its value or tool differs
/// from the previous state (the daemon publishes only changes; a session
/// starts `starting`).
pub fn normalize(evs: &[Value]) -> Vec<Value> {
    let mut last = json!(["starting", null]);
    let mut out = Vec::new();
    for e in evs {
        let kind = e["type"].as_str().unwrap_or_default();
        if HOST_EVENTS.contains(&kind) || (kind == "turn-aborted" && e.get("id").is_some()) {
            continue;
        }
        if kind == "state" {
            let now = json!([e["value"], e["tool"]]);
            if now == last {
                continue;
            }
            last = now;
        }
        let mut e = e.clone();
        if let Some(o) = e.as_object_mut() {
            for k in ["seq", "ts", "session"] {
                o.remove(k);
            }
        }
        out.push(e);
    }
    out
}

/// The session's events so far with `cwd` written as [`PROJECT`].
async fn daemon_events(d: &TestDaemon, name: &str, cwd: &Path) -> Result<Vec<Value>> {
    let evs: Vec<Value> = events(d, name, None).await?.into_iter().map(|(_, e)| e).collect();
    let text = serde_json::to_string(&evs)?.replace(&cwd.to_string_lossy().into_owned(), PROJECT);
    Ok(serde_json::from_str(&text)?)
}

/// Check session `name` against fixture `<provider>/<scenario>`: its
/// normalised events equal the golden file's, and (with `exact`) its
/// protocol log equals the recorded transcript byte for byte. Blessing
/// writes the transcript and the golden file instead.
pub async fn check(d: &TestDaemon, name: &str, provider: &str, scenario: &str, cwd: &Path, exact: bool) -> Result<()> {
    let dir = fixtures(provider);
    let transcript_path = dir.join(format!("{scenario}.protocol.jsonl"));
    let golden_path = dir.join(format!("{scenario}.golden.jsonl"));
    let cwd_text = cwd.to_string_lossy().into_owned();
    let transcript = std::fs::read_to_string(protocol_log(d, name))?.replace(&cwd_text, PROJECT);
    if blessing() {
        std::fs::write(&transcript_path, &transcript)?;
        std::fs::write(&golden_path, plugin_test(provider, &transcript_path)?)?;
    } else if exact {
        let recorded = std::fs::read_to_string(&transcript_path)?;
        assert_eq!(
            transcript.lines().collect::<Vec<_>>(),
            recorded.lines().collect::<Vec<_>>(),
            "the fake printed something other than {}",
            transcript_path.display()
        );
    }
    let golden = normalize(&json_lines(&std::fs::read_to_string(&golden_path)?)?);
    // The last lines may still be on their way through the tail.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = normalize(&daemon_events(d, name, cwd).await?);
        if got == golden || Instant::now() > deadline {
            assert_eq!(
                pretty(&got),
                pretty(&golden),
                "events of session {name} differ from {}",
                golden_path.display()
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One event per line, for readable diffs.
fn pretty(evs: &[Value]) -> String {
    evs.iter().map(|e| format!("{e}\n")).collect()
}

/// Send `text` with `?wait=true`; the response body of a turn that succeeded.
pub async fn send_wait(d: &TestDaemon, name: &str, text: &str) -> Result<Value> {
    let w = crate::queue::send_wait(d, name, text).await?;
    assert_eq!(w["ok"], true, "{w}");
    Ok(w)
}

/// The value of every `state` event of session `name`, in order.
pub async fn state_values(d: &TestDaemon, name: &str) -> Result<Vec<String>> {
    Ok(events(d, name, None)
        .await?
        .into_iter()
        .filter(|(_, e)| e["type"] == "state")
        .map(|(_, e)| e["value"].as_str().unwrap_or_default().to_string())
        .collect())
}
