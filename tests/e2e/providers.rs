//! The `claude-code` and `codex` providers end to end. A real daemon and
//! tmux run each agent's fake CLI (`tests/fixtures/<provider>/fake-*`, found
//! first on `PATH` under the real program's name, with `HOME` a temp dir):
//! it plays the fixture transcript turn by turn, writing it exactly where
//! the real CLI would, and draws the real CLI's idle prompt and permission
//! dialogs. Messages go in through the API; the stored events must equal
//! the golden sequence (`daemon.golden.jsonl`), the state transitions the
//! expected ones, and `wasmux plugin test` on each fixture its golden
//! output (`session.golden.jsonl`).
//!
//! Set `UPDATE_GOLDEN=1` to rewrite the golden files from what was observed
//! (then review the diff).

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{TestDaemon, built_plugins};
use crate::queue::{events, send_wait, wait_done};

/// One provider under test.
struct Agent {
    /// Provider plugin name (and fixture directory).
    provider: &'static str,
    /// The program its launch spec runs.
    program: &'static str,
    /// The fake CLI standing in for it.
    fake: &'static str,
}

const CLAUDE: Agent = Agent {
    provider: "claude-code",
    program: "claude",
    fake: "fake-claude",
};

const CODEX: Agent = Agent {
    provider: "codex",
    program: "codex",
    fake: "fake-codex",
};

/// The prompts of the fixtures' two turns.
const ASK: &str = "What does this project do?";
const EDIT: &str = "Change the greeting to say hello, world";

fn fixture(provider: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(provider)
        .join(file)
}

/// A daemon whose agents get a temp `HOME` and the fake CLI on `PATH`.
struct Rig {
    d: TestDaemon,
    home: tempfile::TempDir,
    project: tempfile::TempDir,
    _bin: tempfile::TempDir,
}

async fn rig(agent: &Agent) -> Result<Rig> {
    let home = tempfile::tempdir()?;
    let bin = tempfile::tempdir()?;
    let project = tempfile::tempdir()?;
    std::fs::write(project.path().join("hello.py"), "print(\"Hello\")")?;
    std::os::unix::fs::symlink(fixture(agent.provider, agent.fake), bin.path().join(agent.program))?;
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let h = home.path().display();
    let config = format!("[sessions]\ntranscript_roots = [\"{h}/.claude/projects\", \"{h}/.codex/sessions\"]\n");
    let env = vec![("HOME".to_string(), h.to_string()), ("PATH".to_string(), path)];
    let d = TestDaemon::start_env(&config, env, |_| Ok(())).await?;
    Ok(Rig {
        d,
        home,
        project,
        _bin: bin,
    })
}

/// `(value, source, tool)` of the session's state.
async fn state(d: &TestDaemon, name: &str) -> Result<(String, String, Option<String>)> {
    let (_, s) = d.get(&format!("/sessions/{name}/state")).await?;
    let st = &s["state"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    Ok((
        text(&st["value"]),
        text(&st["source"]),
        st["tool"].as_str().map(str::to_string),
    ))
}

/// Create the session and wait until the screen shows the agent idle.
async fn start(r: &Rig, agent: &Agent, name: &str) -> Result<()> {
    let body = json!({"name": name, "provider": agent.provider, "cwd": r.project.path()});
    let (status, created) = r.d.post("/sessions", body).await?;
    assert_eq!(status, 201, "{created}");
    let ready =
        r.d.wait_for(Duration::from_secs(60), "the agent's idle prompt", || async {
            Ok((state(&r.d, name).await?.0 == "idle").then_some(()))
        })
        .await;
    if let Err(e) = ready {
        let (_, row) = r.d.get(&format!("/sessions/{name}")).await?;
        let raw = r.d.state_dir().join("sessions").join(name).join("raw");
        let sizes: Vec<String> = std::fs::read_dir(&raw)
            .into_iter()
            .flatten()
            .flatten()
            .map(|f| {
                format!(
                    "{} {:?}",
                    f.file_name().to_string_lossy(),
                    f.metadata().map(|m| m.len())
                )
            })
            .collect();
        bail!(
            "{e}\n--- session ---\n{row}\n--- raw output files ---\n{sizes:?}\n--- pane ---\n{}",
            pane(&r.d, name)
        );
    }
    assert_eq!(state(&r.d, name).await?, ("idle".into(), "screen".into(), None));
    Ok(())
}

/// What the session's pane shows now (for failure reports).
fn pane(d: &TestDaemon, name: &str) -> String {
    let out = std::process::Command::new("tmux")
        .arg("-S")
        .arg(d.tmux_socket())
        .args(["capture-pane", "-p", "-t", &format!("={name}:")])
        .output();
    match out {
        Ok(o) => format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => format!("(tmux capture-pane failed: {e})"),
    }
}

/// Send `text` and wait for its turn; the reply.
/// Send `text` (which makes the agent ask for permission), answer the
/// request with `decision`, and wait for the turn; the pending request as
/// the API showed it and the finished message.
async fn send_and_answer(d: &TestDaemon, name: &str, text: &str, decision: &str) -> Result<(Value, Value)> {
    let (status, queued) = d
        .post(&format!("/sessions/{name}/messages"), json!({"text": text}))
        .await?;
    assert_eq!(status, 202, "{queued}");
    let pending = d
        .wait_for(Duration::from_secs(60), "a permission request", || async {
            let (_, s) = d.get(&format!("/sessions/{name}/state")).await?;
            let waiting = s["state"]["value"] == "waiting-permission";
            Ok(s["permissions"].get(0).filter(|_| waiting).cloned())
        })
        .await?;
    let id = pending["permissionId"].as_str().context("permissionId")?;
    let url = format!("/sessions/{name}/permissions/{id}");
    let (status, body) = d.post(&url, json!({"decision": decision})).await?;
    assert_eq!(status, 200, "{body}");
    let (status, _) = d.post(&url, json!({"decision": decision})).await?;
    assert_eq!(status, 409, "the first answer wins");
    let done = wait_done(d, name, queued["id"].as_str().context("id")?).await?;
    Ok((pending, done))
}

/// Stored events without `seq`, `session` and `ts`, message ids numbered in
/// order of appearance (`msg-1`, …), permission ids likewise (`perm-1`, …).
fn normalise(evs: &[(u64, Value)]) -> Vec<Value> {
    let mut ids: Vec<String> = Vec::new();
    let mut perms: Vec<String> = Vec::new();
    evs.iter()
        .map(|(_, e)| {
            let mut e = e.clone();
            let obj = e.as_object_mut().expect("events are objects");
            for k in ["seq", "session", "ts"] {
                obj.remove(k);
            }
            // Permission ids are salted per launch: number them too.
            if let Some(id) = obj.get("permissionId").and_then(Value::as_str).map(str::to_string) {
                let n = perms.iter().position(|i| *i == id).unwrap_or_else(|| {
                    perms.push(id.clone());
                    perms.len() - 1
                });
                obj.insert("permissionId".into(), json!(format!("perm-{}", n + 1)));
            }
            if obj["type"].as_str().is_some_and(|t| t.starts_with("message-"))
                && let Some(id) = obj.get("id").and_then(Value::as_str).map(str::to_string)
            {
                let n = ids.iter().position(|i| *i == id).unwrap_or_else(|| {
                    ids.push(id.clone());
                    ids.len() - 1
                });
                obj.insert("id".into(), json!(format!("msg-{}", n + 1)));
            }
            e
        })
        .collect()
}

/// The state events of `evs` as `value/source[/tool]`.
fn transitions(evs: &[Value]) -> Vec<String> {
    evs.iter()
        .filter(|e| e["type"] == "state")
        .map(|e| {
            let mut s = format!(
                "{}/{}",
                e["value"].as_str().unwrap_or("?"),
                e["source"].as_str().unwrap_or("?")
            );
            if let Some(tool) = e["tool"].as_str() {
                s.push('/');
                s.push_str(tool);
            }
            s
        })
        .collect()
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

/// Both turns of the fixture, the second one allowed; the whole event
/// sequence against the golden file.
async fn two_turns(agent: &Agent, name: &str) -> Result<(Rig, Vec<Value>, Value)> {
    let r = rig(agent).await?;
    start(&r, agent, name).await?;
    let first = send_wait(&r.d, name, ASK).await?;
    assert_eq!(first["ok"], true, "{first}");
    let (pending, done) = send_and_answer(&r.d, name, EDIT, "allow").await?;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(state(&r.d, name).await?, ("idle".into(), "transcript".into(), None));
    let evs = normalise(&events(&r.d, name, None).await?);
    assert_golden(&fixture(agent.provider, "daemon.golden.jsonl"), &evs)?;
    Ok((r, evs, pending))
}

#[tokio::test]
async fn claude_code_turns_tools_edit_and_permission_match_the_golden_events() -> Result<()> {
    let (r, evs, pending) = two_turns(&CLAUDE, "cc").await?;
    assert_eq!(pending["toolName"], "Edit", "{pending}");
    assert_eq!(
        pending["description"],
        "Edit file: hello.py — Do you want to make this edit to hello.py?"
    );
    assert_eq!(
        transitions(&evs),
        [
            "idle/screen",
            "working/transcript",
            "working/transcript/Bash",
            "working/transcript",
            "working/transcript/Read",
            "working/transcript",
            "idle/transcript",
            "working/transcript",
            "working/transcript/Edit",
            "waiting-permission/screen/Edit",
            "working/screen/Edit",
            "working/transcript",
            "idle/transcript",
        ]
    );
    // The transcript is where Claude Code keeps it: the pinned session id
    // under the cwd's slug.
    let (_, row) = r.d.get("/sessions/cc").await?;
    let slug: String = r
        .project
        .path()
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let path = r
        .home
        .path()
        .join(".claude/projects")
        .join(slug)
        .join(format!("{}.jsonl", row["uuid"].as_str().context("uuid")?));
    assert!(path.is_file(), "{} missing", path.display());
    Ok(())
}

#[tokio::test]
async fn codex_turns_tools_patch_and_approval_match_the_golden_events() -> Result<()> {
    let (r, evs, pending) = two_turns(&CODEX, "cx").await?;
    assert_eq!(pending["toolName"], "apply_patch", "{pending}");
    assert_eq!(
        transitions(&evs),
        [
            "idle/screen",
            "working/transcript",
            "working/transcript/exec_command",
            "working/transcript",
            "working/transcript/exec_command",
            "working/transcript",
            "idle/transcript",
            "working/transcript",
            "working/transcript/apply_patch",
            "waiting-permission/screen/apply_patch",
            "working/screen/apply_patch",
            "working/transcript",
            "idle/transcript",
        ]
    );
    let rollouts = wasmux::agent::tail::glob(&format!(
        "{}/.codex/sessions/*/*/*/rollout-*.jsonl",
        r.home.path().display()
    ));
    assert_eq!(rollouts.len(), 1, "{rollouts:?}");
    Ok(())
}

/// The second turn refused: the agent records the refusal, the turn is
/// aborted, nothing is edited, and the agent is idle again.
async fn refused(agent: &Agent, name: &str) -> Result<()> {
    let r = rig(agent).await?;
    start(&r, agent, name).await?;
    send_wait(&r.d, name, ASK).await?;
    let (_, done) = send_and_answer(&r.d, name, EDIT, "deny").await?;
    assert_eq!(done["status"], "aborted", "{done}");
    r.d.wait_for(Duration::from_secs(30), "idle after the refusal", || async {
        Ok((state(&r.d, name).await?.0 == "idle").then_some(()))
    })
    .await?;
    let evs = normalise(&events(&r.d, name, None).await?);
    let resolved: Vec<&Value> = evs.iter().filter(|e| e["type"] == "permission-resolved").collect();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["decision"], "deny");
    assert!(evs.iter().any(|e| e["type"] == "turn-aborted"), "{evs:#?}");
    assert!(
        !evs.iter().any(|e| e["type"] == "file-edit"),
        "a refused edit is no edit"
    );
    Ok(())
}

#[tokio::test]
async fn claude_code_refused_permission_aborts_the_turn() -> Result<()> {
    refused(&CLAUDE, "ccdeny").await
}

#[tokio::test]
async fn codex_refused_approval_aborts_the_turn() -> Result<()> {
    refused(&CODEX, "cxdeny").await
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
        ("codex", json!(["codex"]), "~/.codex/sessions/*/*/*/rollout-*.jsonl"),
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
