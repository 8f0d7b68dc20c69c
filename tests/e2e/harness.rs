//! A daemon per test: its own state dir (and with it its own tmux socket),
//! port chosen by the OS, killed and cleaned up on drop.

#![allow(dead_code)]

use anyhow::{Context, Result, bail};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Directory of every plugin built by host/build.rs.
pub fn built_plugins() -> PathBuf {
    PathBuf::from(wasmux::plugins::embedded::BUILT_PLUGINS_DIR)
}

/// Copy built plugin `built` into `dir` as `name`, rewriting its manifest's
/// name and appending `extra` TOML (e.g. a `[config]` table).
pub fn install_plugin(dir: &Path, built: &str, name: &str, extra: &str) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let src = built_plugins();
    let manifest = std::fs::read_to_string(src.join(format!("{built}.toml")))?;
    let mut out = String::new();
    for line in manifest.lines() {
        if line.starts_with("name =") {
            out.push_str(&format!("name = \"{name}\"\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(extra);
    // Manifest first, then the wasm: the daemon picks the pair up whole.
    std::fs::write(dir.join(format!("{name}.toml")), out)?;
    let tmp = dir.join(format!(".{name}.wasm.tmp"));
    std::fs::copy(src.join(format!("{built}.wasm")), &tmp)?;
    std::fs::rename(tmp, dir.join(format!("{name}.wasm")))?;
    Ok(())
}

/// A running daemon.
pub struct TestDaemon {
    child: Option<Child>,
    /// State dir (deleted on drop).
    pub dir: tempfile::TempDir,
    /// Config file contents.
    pub config: String,
    /// Extra environment for the daemon (and so for tmux and the agents).
    pub env: Vec<(String, String)>,
    /// Bound address.
    pub addr: SocketAddr,
    /// API token.
    pub token: String,
    /// HTTP client.
    pub http: reqwest::Client,
    log: PathBuf,
}

impl TestDaemon {
    /// Start with default config.
    pub async fn start() -> Result<TestDaemon> {
        Self::start_with("", |_| Ok(())).await
    }

    /// Start with `config` TOML after `prepare` ran on the state dir.
    pub async fn start_with(config: &str, prepare: impl FnOnce(&Path) -> Result<()>) -> Result<TestDaemon> {
        Self::start_env(config, Vec::new(), prepare).await
    }

    /// Start with `config`, extra environment `env` (e.g. `HOME`, `PATH` for
    /// fake agent CLIs), after `prepare` ran on the state dir.
    pub async fn start_env(
        config: &str,
        env: Vec<(String, String)>,
        prepare: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<TestDaemon> {
        let dir = tempfile::Builder::new().prefix("wasmux-test-").tempdir()?;
        prepare(dir.path())?;
        let mut d = TestDaemon {
            child: None,
            log: dir.path().join("daemon.log"),
            dir,
            env,
            config: config.to_string(),
            addr: "127.0.0.1:0".parse()?,
            token: String::new(),
            http: reqwest::Client::new(),
        };
        d.spawn().await?;
        Ok(d)
    }

    /// The state dir.
    pub fn state_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The plugins folder.
    pub fn plugins_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    async fn spawn(&mut self) -> Result<()> {
        let config_path = self.dir.path().join("config.toml");
        std::fs::write(&config_path, &self.config)?;
        let info = self.dir.path().join("daemon.json");
        let _ = std::fs::remove_file(&info);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = Command::new(env!("CARGO_BIN_EXE_wasmux"))
            .arg("serve")
            .arg("--state-dir")
            .arg(self.dir.path())
            .arg("--config")
            .arg(&config_path)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env(
                "RUST_LOG",
                std::env::var("TEST_DAEMON_LOG").unwrap_or("info,wasmux=debug".into()),
            )
            .env_remove("WASMUX_URL")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawning wasmux serve")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(bytes) = std::fs::read(&info)
                && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
            {
                self.addr = v["addr"].as_str().context("addr")?.parse()?;
                break;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("daemon exited early with {status}:\n{}", self.log_text());
            }
            if Instant::now() > deadline {
                bail!("daemon did not start:\n{}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The daemon listens before plugins load: wait until /ready says
        // start-up is over (it answers 503 with the phase until then).
        self.token = std::fs::read_to_string(self.dir.path().join("token"))?
            .trim()
            .to_string();
        loop {
            if let Ok(r) = self.req(Method::GET, "/ready").send().await
                && (r.status().is_success() || r.status() == StatusCode::UNAUTHORIZED)
            {
                break;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("daemon exited during start-up with {status}:\n{}", self.log_text());
            }
            if Instant::now() > deadline {
                bail!("daemon did not become ready:\n{}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `http://addr{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A request with the token.
    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(&self.token)
    }

    /// Send and decode JSON (Null if the body is not JSON).
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Result<(StatusCode, Value)> {
        let resp = rb.send().await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    /// `GET` with the token.
    pub async fn get(&self, path: &str) -> Result<(StatusCode, Value)> {
        self.send(self.req(Method::GET, path)).await
    }

    /// `POST` JSON with the token.
    pub async fn post(&self, path: &str, body: Value) -> Result<(StatusCode, Value)> {
        self.send(self.req(Method::POST, path).json(&body)).await
    }

    /// `DELETE` with the token.
    pub async fn delete(&self, path: &str) -> Result<(StatusCode, Value)> {
        self.send(self.req(Method::DELETE, path)).await
    }

    /// Wait until `f` returns Some, polling every 50 ms, up to `timeout`.
    pub async fn wait_for<T, F, Fut>(&self, timeout: Duration, what: &str, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f().await? {
                return Ok(v);
            }
            if Instant::now() > deadline {
                bail!(
                    "timed out after {timeout:?} waiting for {what}\n--- daemon log ---\n{}",
                    tail(&self.log_text(), 60)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The row of `GET /plugins` for `name`, if listed.
    pub async fn plugin(&self, name: &str) -> Result<Option<Value>> {
        let (_, list) = self.get("/plugins").await?;
        Ok(list["plugins"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == name)
            .cloned())
    }

    /// Kill the daemon with SIGKILL (no cleanup) and wait for it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop with SIGTERM and wait.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = c.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        c.wait().ok()
    }

    /// Start again on the same state dir (after `kill9` or `terminate`).
    pub async fn restart(&mut self) -> Result<()> {
        self.kill9();
        self.spawn().await
    }

    /// The raw-output directory of session `name` (what its pipe sink
    /// writes, also while the daemon is down).
    pub fn raw_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join("sessions").join(name).join("raw")
    }

    /// Wait (without the daemon) until session `name`'s pipe sink has
    /// recorded output satisfying `done` (given every retained raw byte).
    pub async fn wait_raw(&self, name: &str, what: &str, done: impl Fn(u64, &[u8]) -> bool) -> Result<()> {
        let dir = self.raw_dir(name);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let mut bytes = Vec::new();
            for (_, path) in wasmux::tmux::sink::raw_files(&dir).unwrap_or_default() {
                bytes.extend(std::fs::read(path).unwrap_or_default());
            }
            let end = wasmux::tmux::sink::end_offset(&dir).unwrap_or(0);
            if done(end, &bytes) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for the pipe sink of `{name}` to record {what}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The tmux socket of this daemon.
    pub fn tmux_socket(&self) -> PathBuf {
        self.dir.path().join("tmux.sock")
    }
}

/// Stop the tmux server on `socket`: `kill-server` with a timeout (it can
/// hang on tmux 3.3a), then SIGKILL of the server pid.
pub fn kill_tmux_server(socket: &Path) {
    let pid = Command::new("tmux")
        .arg("-S")
        .arg(socket)
        .args(["display", "-p", "#{pid}"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<i32>().ok());
    if let Ok(mut child) = Command::new("tmux")
        .arg("-S")
        .arg(socket)
        .arg("kill-server")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    let still_tmux =
        |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with("tmux"));
    if let Some(pid) = pid.filter(|p| still_tmux(*p)) {
        // SAFETY: signalling the test's own tmux server.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.kill9();
        let socket = self.tmux_socket();
        if socket.exists() {
            kill_tmux_server(&socket);
        }
    }
}
