//! A `wasmux serve` process in a temporary state directory, driven over HTTP.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use wasmux_testkit::TestDaemon;

use crate::tmux_baseline::server_pid;

/// A running daemon (the test kit's [`TestDaemon`]: on drop its tmux
/// server and the daemon are killed and the state directory removed), with
/// the helpers the benchmarks use.
pub struct Daemon {
    inner: TestDaemon,
    /// `127.0.0.1:PORT` from `daemon.json`.
    pub addr: String,
    /// The API token.
    pub token: String,
    /// The daemon's pid.
    pub pid: i32,
}

impl Daemon {
    /// Start `bin serve` with `retention_bytes` of stream log retained.
    pub async fn start(bin: &Path, retention_bytes: u64) -> Result<Daemon> {
        Self::start_with_config(bin, &format!("[stream]\nretention_bytes = {retention_bytes}\n")).await
    }

    /// Start `bin serve` in a fresh temporary state directory with `config`
    /// (TOML text) as its `--config` file, and wait for `daemon.json`.
    pub async fn start_with_config(bin: &Path, config_text: &str) -> Result<Daemon> {
        let env = vec![("HISTFILE".to_string(), "/dev/null".to_string())];
        let inner = TestDaemon::launch(bin.to_path_buf(), config_text, "warn", env, |_| Ok(())).await?;
        Ok(Daemon {
            addr: inner.addr.to_string(),
            token: inner.token.clone(),
            pid: inner.pid().context("daemon pid")? as i32,
            inner,
        })
    }

    /// The last 2 KiB of the daemon's log.
    pub fn log_tail(&self) -> String {
        let text = self.inner.log_text();
        text[text.floor_char_boundary(text.len().saturating_sub(2048))..].to_string()
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        self.inner.url(path)
    }

    /// The daemon's state directory.
    pub fn state_dir(&self) -> &Path {
        self.inner.state_dir()
    }

    /// `GET path` with the token; a non-2xx status is an error.
    pub async fn get_json(&self, path: &str) -> Result<Value> {
        let resp = self
            .inner
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await?;
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
            .inner
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
            .inner
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
            .inner
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
        self.inner.tmux_socket()
    }
}
