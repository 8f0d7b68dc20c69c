//! A daemon per test or benchmark: its own state dir (and with it its own
//! tmux socket), port chosen by the OS, killed and cleaned up on drop.

use anyhow::{Context, Result, bail};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tmux::kill_tmux_server;

/// The `wasmux` binary: `$WASMUX_BIN`, else the one cargo built beside the
/// running test or benchmark (`target/<profile>/wasmux`).
pub fn wasmux_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("WASMUX_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    // Tests run from target/<profile>/deps/, benchmarks from target/<profile>/.
    let dir = exe.parent().context("the running executable has no folder")?;
    for d in [Some(dir), dir.parent().filter(|_| dir.ends_with("deps"))]
        .into_iter()
        .flatten()
    {
        let candidate = d.join("wasmux");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "no wasmux binary beside {} (run `cargo build`, or set WASMUX_BIN)",
        exe.display()
    )
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
    /// A soft `RLIMIT_NOFILE` the daemon starts with (at the next
    /// [`TestDaemon::restart`]), as a login shell may set one.
    pub nofile_soft: Option<u64>,
    log: PathBuf,
    bin: PathBuf,
    rust_log: String,
    /// Ends the test process with diagnostics if this daemon outlives
    /// [`watchdog_limit`] (a hang fails fast instead of holding CI).
    _watchdog: Watchdog,
}

/// How long one test's daemon may live: `WASMUX_TEST_WATCHDOG_SECS`,
/// default 20 minutes (the slowest test takes about 3 under load).
pub fn watchdog_limit() -> Duration {
    let secs = std::env::var("WASMUX_TEST_WATCHDOG_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1200);
    Duration::from_secs(secs)
}

/// A thread that, unless dropped first, writes what the stuck test was
/// doing to stderr (uncaptured) and aborts the test process.
struct Watchdog {
    _cancel: std::sync::mpsc::Sender<()>,
}

impl Watchdog {
    fn start(log: PathBuf, socket: PathBuf) -> Watchdog {
        let (cancel, cancelled) = std::sync::mpsc::channel::<()>();
        let test = std::thread::current().name().unwrap_or("?").to_string();
        let limit = watchdog_limit();
        std::thread::spawn(move || {
            if cancelled.recv_timeout(limit) != Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                return;
            }
            use std::io::Write;
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            let panes = crate::tmux::tmux(
                &socket,
                &["list-panes", "-a", "-F", "#{session_name} #{pane_pid} #{pane_dead}"],
            )
            .unwrap_or_else(|e| format!("{e:#}"));
            let report = format!(
                "\n=== watchdog: test `{test}` still holds its daemon after {limit:?}; aborting the test process ===\n--- tmux panes ---\n{panes}\n--- daemon log (end) ---\n{}\n",
                tail(&log, 80)
            );
            let _ = std::io::stderr().write_all(report.as_bytes());
            std::process::abort();
        });
        Watchdog { _cancel: cancel }
    }
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
        let log = std::env::var("TEST_DAEMON_LOG").unwrap_or("info,wasmux=debug".into());
        Self::launch(wasmux_bin()?, config, &log, env, prepare).await
    }

    /// Start `bin serve` with `config`, `RUST_LOG=rust_log` and `env`, after
    /// `prepare` ran on the state dir (benchmarks pass their own binary and a
    /// quiet log).
    pub async fn launch(
        bin: PathBuf,
        config: &str,
        rust_log: &str,
        env: Vec<(String, String)>,
        prepare: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<TestDaemon> {
        let dir = tempfile::Builder::new().prefix("wasmux-test-").tempdir()?;
        prepare(dir.path())?;
        let watchdog = Watchdog::start(dir.path().join("daemon.log"), dir.path().join("tmux.sock"));
        let mut d = TestDaemon {
            child: None,
            log: dir.path().join("daemon.log"),
            dir,
            env,
            config: config.to_string(),
            addr: "127.0.0.1:0".parse()?,
            token: String::new(),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                // Per read: long-polls and SSE streams stay open, a daemon
                // that stops answering fails the test.
                .read_timeout(Duration::from_secs(300))
                .build()?,
            bin,
            nofile_soft: None,
            rust_log: rust_log.to_string(),
            _watchdog: watchdog,
        };
        d.spawn().await?;
        Ok(d)
    }

    /// The daemon's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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
        let mut cmd = Command::new(&self.bin);
        if let Some(soft) = self.nofile_soft {
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                    let mut l = libc::rlimit {
                        rlim_cur: 0,
                        rlim_max: 0,
                    };
                    libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
                    l.rlim_cur = soft.min(l.rlim_max);
                    libc::setrlimit(libc::RLIMIT_NOFILE, &l);
                    Ok(())
                })
            };
        }
        let child = cmd
            .arg("serve")
            .arg("--state-dir")
            .arg(self.dir.path())
            .arg("--config")
            .arg(&config_path)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("RUST_LOG", &self.rust_log)
            .env_remove("WASMUX_URL")
            .env_remove("TMUX")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawning {} serve", self.bin.display()))?;
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
        self.token = std::fs::read_to_string(self.dir.path().join("token"))?
            .trim()
            .to_string();
        // The daemon listens before plugins load: wait until /ready says
        // start-up is over (it answers 503 with the phase until then).
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
