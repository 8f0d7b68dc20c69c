//! The `claude-code` and `codex` providers on what the real CLIs write:
//! `wasmux plugin test` replays each provider's fixture — a transcript
//! recorded from the pinned real CLI by `tests/e2e/agents/` (run them with
//! `UPDATE_FIXTURES=1` to record again) — and must print its golden events
//! (`session.golden.jsonl`). The daemon-level scenarios run the real CLIs
//! themselves (`tests/e2e/agents/`).
//!
//! Set `UPDATE_GOLDEN=1` to rewrite the golden files from what was observed
//! (then review the diff).

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

use crate::harness::built_plugins;

fn fixture(provider: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(provider)
        .join(file)
}

/// Compare `actual` with the JSON lines of `golden` (each without `ts`), or
/// rewrite the file when `UPDATE_GOLDEN` is set.
fn assert_golden(golden: &Path, actual: &[Value]) -> Result<()> {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("ts");
        }
        v
    };
    let actual: Vec<Value> = actual.iter().map(strip).collect();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let text: String = actual.iter().map(|v| format!("{v}\n")).collect();
        std::fs::write(golden, text)?;
        return Ok(());
    }
    let text = std::fs::read_to_string(golden).with_context(|| format!("reading {}", golden.display()))?;
    let expected: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map(|v| strip(&v)))
        .collect::<Result<_, _>>()?;
    if actual != expected {
        let show = |vs: &[Value]| vs.iter().map(|v| format!("  {v}")).collect::<Vec<_>>().join("\n");
        let first = actual
            .iter()
            .zip(&expected)
            .position(|(a, e)| a != e)
            .unwrap_or(actual.len().min(expected.len()));
        bail!(
            "events differ from {} at index {first}\n--- expected ({}) ---\n{}\n--- actual ({}) ---\n{}",
            golden.display(),
            expected.len(),
            show(&expected),
            actual.len(),
            show(&actual)
        );
    }
    Ok(())
}

/// `wasmux plugin test` on a fixture: its events, parsed.
fn plugin_test(provider: &str) -> Result<Vec<Value>> {
    let cache = tempfile::tempdir()?;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wasmux"))
        .arg("plugin")
        .arg("test")
        .arg(built_plugins().join(format!("{provider}.wasm")))
        .arg("--transcript")
        .arg(fixture(provider, "session.jsonl"))
        .args(["--cwd", "/home/dev/greeter", "--events-only"])
        .env("XDG_CACHE_HOME", cache.path())
        .output()?;
    if !out.status.success() {
        bail!("plugin test failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8(out.stdout)?
        .lines()
        .map(|l| Ok(serde_json::from_str(l)?))
        .collect()
}

#[test]
fn plugin_test_replays_the_claude_code_fixture_to_its_golden_events() -> Result<()> {
    assert_golden(
        &fixture("claude-code", "session.golden.jsonl"),
        &plugin_test("claude-code")?,
    )
}

#[test]
fn plugin_test_replays_the_codex_fixture_to_its_golden_events() -> Result<()> {
    assert_golden(&fixture("codex", "session.golden.jsonl"), &plugin_test("codex")?)
}

/// What each provider launches and tails, as `wasmux plugin test` shows it.
#[test]
fn launch_specs_run_the_real_programs_and_tail_their_transcripts() -> Result<()> {
    let cases = [
        (
            "claude-code",
            json!(["claude", "--session-id", "{uuid}"]),
            "~/.claude/projects/{cwd-slug}/{uuid}.jsonl",
        ),
        (
            "codex",
            json!(["codex", "--no-daemon"]),
            "~/.codex/sessions/*/*/*/rollout-*.jsonl",
        ),
    ];
    for (provider, command, transcript) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wasmux"))
            .arg("plugin")
            .arg("test")
            .arg(built_plugins().join(format!("{provider}.wasm")))
            .env("XDG_CACHE_HOME", tempfile::tempdir()?.path())
            .output()?;
        let first = out.stdout.split(|&b| b == b'\n').next().unwrap_or_default();
        let launch = serde_json::from_slice::<Value>(first)?["launch"].clone();
        assert_eq!(launch["command"], command, "{provider}: {launch}");
        assert_eq!(launch["transcript"], transcript, "{provider}: {launch}");
        assert_eq!(launch["screenPollMs"], 250, "{provider}: {launch}");
        assert_eq!(launch["bridge"], false, "{provider}: {launch}");
    }
    Ok(())
}
