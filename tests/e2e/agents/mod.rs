//! The providers against the **real** agent CLIs: the pinned
//! `@anthropic-ai/claude-code`, `@openai/codex`, `@google/gemini-cli`,
//! OpenCode and `@mariozechner/pi-coding-agent` (`tests/agents/`,
//! installed under `target/agent-clis` by `wasmux_testkit::agent_clis`) run
//! in real wasmux sessions, their model API pointed at the scripted
//! [`ModelStub`] on loopback, onboarding pre-answered in a per-test `HOME`
//! (`wasmux_testkit::home`). Node.js and npm missing fail these tests with
//! the install hint.

mod acp;
mod claude;
mod codex;
mod pi;
mod scenarios;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use wasmux_testkit::model_stub::ModelStub;
use wasmux_testkit::{agent_clis, home};

use crate::harness::TestDaemon;
use crate::queue::events;

/// How long a real CLI may take to start or to finish a turn.
pub const LONG: Duration = Duration::from_secs(120);

/// Which CLI a rig runs.
#[derive(Clone, Copy, PartialEq)]
pub enum Cli {
    /// Claude Code (`claude`).
    Claude,
    /// Codex (`codex`).
    Codex,
    /// Gemini CLI (`gemini --acp`).
    Gemini,
    /// OpenCode (`opencode acp`).
    OpenCode,
    /// pi (`pi --mode rpc`).
    Pi,
}

impl Cli {
    fn provider(self) -> &'static str {
        match self {
            Cli::Claude => "claude-code",
            Cli::Codex => "codex",
            Cli::Gemini => "gemini",
            Cli::OpenCode => "opencode",
            Cli::Pi => "pi",
        }
    }

    /// The environment and arguments of a session talking to the stub at
    /// `url`.
    fn session_setup(self, url: &str) -> (Vec<(String, String)>, Vec<&'static str>) {
        match self {
            Cli::Claude => (home::claude_env(url), vec!["--permission-mode", "default"]),
            Cli::Codex => (home::codex_env(), vec![]),
            Cli::Gemini => (home::gemini_env(url), vec![]),
            Cli::OpenCode => (home::opencode_env(), vec![]),
            Cli::Pi => (home::pi_env(), vec![]),
        }
    }
}

/// A daemon running one kind of real agent against a model stub, with a
/// `HOME` of its own and a project folder holding `hello.py`.
pub struct Rig {
    /// The daemon.
    pub d: TestDaemon,
    /// The model API stub.
    pub stub: ModelStub,
    /// The agents' `HOME`.
    pub home: tempfile::TempDir,
    /// The sessions' working directory.
    pub project: PathBuf,
    _project: tempfile::TempDir,
    cli: Cli,
}

/// Start a rig for `cli`: install the CLIs (once), write the onboarding
/// answers, start the stub and the daemon.
pub async fn rig(cli: Cli) -> Result<Rig> {
    rig_with(cli, true).await
}

/// [`rig`], with the project folder trusted in the CLI's config or not.
pub async fn rig_with(cli: Cli, trusted: bool) -> Result<Rig> {
    let bin = tokio::task::spawn_blocking(agent_clis::bin_dir).await??;
    let stub = ModelStub::start().await?;
    let home_dir = tempfile::Builder::new().prefix("agent-home-").tempdir()?;
    let project_dir = tempfile::Builder::new().prefix("agent-project-").tempdir()?;
    // The CLIs resolve the cwd: use the canonical path everywhere.
    let project = project_dir.path().canonicalize()?;
    std::fs::write(project.join("hello.py"), "print(\"Hello\")\n")?;
    let trusted_dirs: Vec<&Path> = if trusted { vec![project.as_path()] } else { vec![] };
    let h = home_dir.path();
    match cli {
        Cli::Claude => home::claude(
            h,
            &home::ClaudeSetup {
                trusted: &trusted_dirs,
                version: &agent_clis::pinned_version("@anthropic-ai/claude-code")?,
            },
        )?,
        Cli::Codex => home::codex(&h.join(".codex"), &stub.url(), &trusted_dirs)?,
        Cli::Gemini => home::gemini(h)?,
        Cli::OpenCode => home::opencode(h, &stub.url(), &agent_clis::pinned_version("opencode-linux-x64")?)?,
        Cli::Pi => home::pi(h, &stub.url())?,
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let hs = h.display();
    let config = format!("[sessions]\ntranscript_roots = [\"{hs}/.claude/projects\", \"{hs}/.codex\"]\n");
    let env = vec![("HOME".to_string(), hs.to_string()), ("PATH".to_string(), path)];
    let d = TestDaemon::start_env(&config, env, |_| Ok(())).await?;
    Ok(Rig {
        d,
        stub,
        home: home_dir,
        project,
        _project: project_dir,
        cli,
    })
}

impl Rig {
    /// The session body for `name` (the CLI's env and args).
    pub fn session_body(&self, name: &str) -> Value {
        let (env, args) = self.cli.session_setup(&self.stub.url());
        let env: serde_json::Map<String, Value> = env.into_iter().map(|(k, v)| (k, json!(v))).collect();
        json!({"name": name, "provider": self.cli.provider(), "cwd": self.project, "env": env, "args": args,
            "cols": 120, "rows": 40})
    }

    /// Create session `name` (not waiting for it).
    pub async fn create(&self, name: &str) -> Result<()> {
        self.create_with_env(name, &[]).await
    }

    /// Create session `name` with `extra` set in its environment.
    pub async fn create_with_env(&self, name: &str, extra: &[(&str, &str)]) -> Result<()> {
        let mut body = self.session_body(name);
        for (k, v) in extra {
            body["env"][k] = json!(v);
        }
        let (status, created) = self.d.post("/sessions", body).await?;
        if status != 201 {
            bail!("creating {name}: {status} {created}");
        }
        Ok(())
    }

    /// Create session `name` and wait until it is idle.
    pub async fn start(&self, name: &str) -> Result<()> {
        self.create(name).await?;
        self.wait_state(name, "idle").await
    }

    /// Wait until the state of `name` is `value`; on timeout the pane is in
    /// the error.
    pub async fn wait_state(&self, name: &str, value: &str) -> Result<()> {
        let got = self
            .d
            .wait_for(LONG, &format!("{name} {value}"), || async {
                Ok((self.state(name).await?["value"] == value).then_some(()))
            })
            .await;
        got.map_err(|e| anyhow::anyhow!("{e}\n{}", self.diagnostics(name)))
    }

    /// The `state` object of `GET /sessions/{name}/state`.
    pub async fn state(&self, name: &str) -> Result<Value> {
        Ok(self.d.get(&format!("/sessions/{name}/state")).await?.1["state"].clone())
    }

    /// The pane of `name` and, for a bridged agent, the end of its
    /// protocol log: what a failure report shows.
    pub fn diagnostics(&self, name: &str) -> String {
        let log = self.d.state_dir().join("sessions").join(name).join("protocol.jsonl");
        let protocol = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = protocol.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!(
            "--- pane ---\n{}\n--- protocol.jsonl (end) ---\n{tail}",
            self.pane(name)
        )
    }

    /// What the pane of `name` shows now.
    pub fn pane(&self, name: &str) -> String {
        let target = format!("={name}:");
        crate::harness::tmux(&self.d.tmux_socket(), &["capture-pane", "-p", "-t", &target])
            .unwrap_or_else(|e| format!("(capture-pane failed: {e:#})"))
    }

    /// `POST /messages?wait=true` of `text`; the answer.
    pub async fn send_wait(&self, name: &str, text: &str) -> Result<Value> {
        let url = format!("/sessions/{name}/messages?wait=true&timeout=120");
        let (status, w) = self.d.post(&url, json!({"text": text})).await?;
        if status != 200 {
            bail!("{url}: {status} {w}");
        }
        Ok(w)
    }

    /// Enqueue `text`; the message id.
    pub async fn send(&self, name: &str, text: &str) -> Result<String> {
        let (status, q) = self
            .d
            .post(&format!("/sessions/{name}/messages"), json!({"text": text}))
            .await?;
        if status != 202 {
            bail!("enqueue: {status} {q}");
        }
        Ok(q["id"].as_str().context("id")?.to_string())
    }

    /// Wait for the open permission request of `name`.
    pub async fn permission(&self, name: &str) -> Result<Value> {
        let got = self
            .d
            .wait_for(LONG, "a permission request", || async {
                let (_, s) = self.d.get(&format!("/sessions/{name}/state")).await?;
                let waiting = s["state"]["value"] == "waiting-permission";
                Ok(s["permissions"].get(0).filter(|_| waiting).cloned())
            })
            .await;
        got.map_err(|e| anyhow::anyhow!("{e}\n{}", self.diagnostics(name)))
    }

    /// Wait until message `id` left the queue; its row.
    pub async fn done(&self, name: &str, id: &str) -> Result<Value> {
        let got = self
            .d
            .wait_for(LONG, &format!("message {id} to finish"), || async {
                let (_, m) = self.d.get(&format!("/sessions/{name}/messages/{id}")).await?;
                let st = m["status"].as_str().unwrap_or("").to_string();
                Ok((st != "queued" && st != "running").then_some(m))
            })
            .await;
        got.map_err(|e| anyhow::anyhow!("{e}\n{}", self.diagnostics(name)))
    }

    /// The stored events of `name` (without envelope fields).
    pub async fn events(&self, name: &str) -> Result<Vec<Value>> {
        Ok(events(&self.d, name, None).await?.into_iter().map(|(_, e)| e).collect())
    }

    /// The `history` rows of `name`.
    pub async fn history(&self, name: &str) -> Result<Vec<Value>> {
        let (_, h) = self.d.get(&format!("/sessions/{name}/history")).await?;
        let rows = h["messages"].as_array().or(h.as_array()).cloned().unwrap_or_default();
        Ok(rows)
    }
}

/// The newest `.jsonl` file under `dir` (recursively).
fn newest_jsonl(dir: &Path) -> Option<PathBuf> {
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "jsonl")
                && let Ok(m) = e.metadata().and_then(|m| m.modified())
                && best.as_ref().is_none_or(|(t, _)| m > *t)
            {
                best = Some((m, p));
            }
        }
    }
    best.map(|(_, p)| p)
}

impl Rig {
    /// With `UPDATE_FIXTURES` set, record the transcript this rig's agent
    /// wrote last (Claude Code's under `~/.claude/projects`, Codex's rollout
    /// under `~/.codex/sessions`) as `tests/fixtures/<provider>/session.jsonl`,
    /// the project written as `/home/dev/greeter` and `HOME` as `/home/dev`
    /// (what `plugin test --cwd /home/dev/greeter` replays).
    pub fn record_transcript(&self) -> Result<()> {
        if std::env::var_os("UPDATE_FIXTURES").is_none() {
            return Ok(());
        }
        let root = match self.cli {
            Cli::Claude => self.home.path().join(".claude/projects"),
            Cli::Codex => self.home.path().join(".codex/sessions"),
            _ => bail!("{} writes no transcript", self.cli.provider()),
        };
        let path = newest_jsonl(&root).with_context(|| format!("no transcript under {}", root.display()))?;
        let text = std::fs::read_to_string(&path)?;
        let project = self.project.display().to_string();
        let slug = project.replace(['/', '.', '_'], "-");
        let home = self.home.path().canonicalize()?.display().to_string();
        let text = text
            .replace(&project, "/home/dev/greeter")
            .replace(&slug, "-home-dev-greeter")
            .replace(&home, "/home/dev")
            .replace(&self.home.path().display().to_string(), "/home/dev");
        let out = agent_clis::repo()
            .join("tests/fixtures")
            .join(self.cli.provider())
            .join("session.jsonl");
        std::fs::write(&out, text)?;
        eprintln!("recorded {} as {}", path.display(), out.display());
        Ok(())
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        // Codex's app-server daemon (per CODEX_HOME) outlives its CLI.
        agent_clis::kill_processes_under(self.home.path());
    }
}

/// Events of type `kind` in `evs`.
pub fn of<'a>(evs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    evs.iter().filter(|e| e["type"] == kind).collect()
}

/// The events from the last `message-started` on.
pub fn last_turn(evs: &[Value]) -> &[Value] {
    let at = evs.iter().rposition(|e| e["type"] == "message-started").unwrap_or(0);
    &evs[at..]
}

/// Types of `evs`, in order, for failure reports.
pub fn types(evs: &[Value]) -> Vec<String> {
    evs.iter()
        .map(|e| e["type"].as_str().unwrap_or("?").to_string())
        .collect()
}
