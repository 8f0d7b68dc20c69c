//! A `wasmux serve` process in a temporary state directory, driven over HTTP.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::tmux_baseline::{kill_tmux_server, server_pid};
use crate::workload::TempDir;

/// A running daemon; on drop its tmux server and then the daemon itself are
/// killed and the state directory removed.
pub struct Daemon {
    child: Child,
    state: TempDir,
    http: reqwest::Client,
    /// `127.0.0.1:PORT` from `daemon.json`.
    pub addr: String,
    /// The API token.
    pub token: String,
    /// The daemon's pid.
    pub pid: i32,
}

impl Daemon {
    /// Start `bin serve --state-dir <tmp> --listen 127.0.0.1:0 --config <tmp>/bench.toml`
    /// with `retention_bytes` of stream log retained, and wait for `daemon.json`.
    pub async fn start(bin: &Path, retention_bytes: u64) -> Result<Daemon> {
        Self::start_with_config(bin, &format!("[stream]\nretention_bytes = {retention_bytes}\n")).await
    }

    /// Start `bin serve` in a fresh temporary state directory with `config`
    /// (TOML text) as its `--config` file, and wait for `daemon.json`.
    pub async fn start_with_config(bin: &Path, config_text: &str) -> Result<Daemon> {
        let state = TempDir::new("daemon")?;
        let config = state.path().join("bench.toml");
        fs::write(&config, config_text)?;
        let log = fs::File::create(state.path().join("daemon.log"))?;
        let child = Command::new(bin)
            .arg("serve")
            .arg("--state-dir")
            .arg(state.path())
            .args(["--listen", "127.0.0.1:0"])
            .arg("--config")
            .arg(&config)
            .env_remove("TMUX")
            .env("HISTFILE", state.path().join("history"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut d = Daemon {
            pid: child.id() as i32,
            child,
            state,
            http: reqwest::Client::new(),
            addr: String::new(),
            token: String::new(),
        };
        let info = d.state.path().join("daemon.json");
        let stop = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = d.child.try_wait()? {
                bail!(
                    "wasmux serve exited with {status} before writing daemon.json; its log:\n{}",
                    d.log_tail()
                );
            }
            if let Ok(text) = fs::read_to_string(&info)
                && let Ok(v) = serde_json::from_str::<Value>(&text)
                && let Some(addr) = v["addr"].as_str()
            {
                d.addr = addr.to_string();
                break;
            }
            if Instant::now() > stop {
                bail!("no {} after 120s; daemon log:\n{}", info.display(), d.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        d.token = fs::read_to_string(d.state.path().join("token"))
            .context("reading the token")?
            .trim()
            .to_string();
        Ok(d)
    }

    /// The last 2 KiB of the daemon's stderr.
    pub fn log_tail(&self) -> String {
        let text = fs::read(self.state.path().join("daemon.log")).unwrap_or_default();
        String::from_utf8_lossy(&text[text.len().saturating_sub(2048)..]).into_owned()
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The daemon's state directory.
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// `GET path` with the token; a non-2xx status is an error.
    pub async fn get_json(&self, path: &str) -> Result<Value> {
        let resp = self.http.get(self.url(path)).bearer_auth(&self.token).send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("GET {path}: {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("GET {path}: not JSON: {text}"))
    }

    /// `POST path` with a JSON `body` and the token; returns the status and
    /// the JSON reply (any status).
    pub async fn post_json(&self, path: &str, body: &Value) -> Result<(u16, Value)> {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let v = serde_json::from_str(&text).with_context(|| format!("POST {path}: {status}, not JSON: {text}"))?;
        Ok((status, v))
    }

    /// `POST /sessions` a shell session named `name` in `cwd`, then wait until
    /// its log has output (`lastSeq >= 1`: the prompt).
    pub async fn create_shell(&self, name: &str, cwd: &Path) -> Result<()> {
        let resp = self
            .http
            .post(self.url("/sessions"))
            .bearer_auth(&self.token)
            .json(&json!({"name": name, "provider": "shell", "cwd": cwd}))
            .send()
            .await?;
        let status = resp.status();
        if status.as_u16() != 201 {
            bail!("POST /sessions: {status}: {}", resp.text().await.unwrap_or_default());
        }
        let stop = Instant::now() + Duration::from_secs(30);
        while self.last_seq(name).await? < 1 {
            if Instant::now() > stop {
                bail!(
                    "session {name} printed nothing within 30s; daemon log:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// `GET /sessions/{name}`.
    pub async fn session(&self, name: &str) -> Result<Value> {
        let resp = self
            .http
            .get(self.url(&format!("/sessions/{name}")))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            bail!(
                "GET /sessions/{name}: {status}: {}",
                resp.text().await.unwrap_or_default()
            );
        }
        Ok(resp.json().await?)
    }

    /// `lastSeq` of the session's output log.
    pub async fn last_seq(&self, name: &str) -> Result<u64> {
        let v = self.session(name).await?;
        v["lastSeq"].as_u64().with_context(|| format!("no lastSeq in {v}"))
    }

    /// Pid of the daemon's tmux server (`<state>/tmux.sock`).
    pub async fn tmux_pid(&self) -> Result<i32> {
        server_pid(&self.tmux_socket()).await
    }

    fn tmux_socket(&self) -> PathBuf {
        self.state.path().join("tmux.sock")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        kill_tmux_server(&self.tmux_socket());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
