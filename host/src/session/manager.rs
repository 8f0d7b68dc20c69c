//! The set of sessions: create (launch through the provider plugin into a
//! fresh tmux session with its pipe sink), re-attach after a daemon
//! restart, supervise the control client, and delete.

use rand::RngCore;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

use super::ingest::{self, Ended};
use super::launch::{LaunchContext, ResolvedLaunch, resolve, valid_env_name, write_agent_script, write_script};
use super::raw::RawReader;
use super::{ExitInfo, IngestState, Session, StateInfo};
use crate::config::Config;
use crate::outlog::OutputLog;
use crate::plugins::provider_instance::{self, LaunchRequest, LaunchSpec};
use crate::plugins::{Capability, Kind, PluginError, PluginRegistry};
use crate::store::{SessionRow, Store};
use crate::tmux::client::ControlClient;
use crate::tmux::{Tmux, TmuxError, shell_quote, validate_session_name};

/// Body of `POST /sessions`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// Session name (`[A-Za-z0-9_-]{1,64}`); generated if absent.
    pub name: Option<String>,
    /// Provider plugin, e.g. `shell` or `demo`.
    pub provider: String,
    /// Working directory (absolute; default: the daemon user's home).
    pub cwd: Option<String>,
    /// Extra arguments for the agent.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Terminal width (default from config).
    pub cols: Option<u16>,
    /// Terminal height (default from config).
    pub rows: Option<u16>,
}

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Bad input (400).
    #[error("{0}")]
    Invalid(String),
    /// No such session (404).
    #[error("no session named `{0}`")]
    NotFound(String),
    /// A session of that name exists (409).
    #[error("a session named `{0}` already exists")]
    Exists(String),
    /// A session of that name exists and has exited (409).
    #[error(
        "a session named `{0}` already exists and has exited; `wasmux restart {0}` starts it again, `wasmux rm {0}` deletes it"
    )]
    ExistsExited(String),
    /// The session's agent has exited (409).
    #[error("session `{0}` has exited; `wasmux restart {0}` (POST /sessions/{0}/restart) starts its agent again")]
    Exited(String),
    /// The session's agent is running (409).
    #[error("session `{0}` is running")]
    Running(String),
    /// The agent's program is not installed where the session looks (400).
    #[error(
        "the agent command `{program}` was not found on the session's PATH ({path}); install it or pass PATH in the session's env"
    )]
    CommandNotFound {
        /// The program.
        program: String,
        /// The PATH searched.
        path: String,
    },
    /// The provider plugin failed or refused.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// tmux failed.
    #[error(transparent)]
    Tmux(#[from] TmuxError),
    /// Storage failed.
    #[error("{0}")]
    Internal(String),
}

impl From<crate::store::StoreError> for SessionError {
    fn from(e: crate::store::StoreError) -> Self {
        SessionError::Internal(e.to_string())
    }
}

impl From<crate::outlog::LogError> for SessionError {
    fn from(e: crate::outlog::LogError) -> Self {
        SessionError::Internal(format!("output log: {e}"))
    }
}

impl From<std::io::Error> for SessionError {
    fn from(e: std::io::Error) -> Self {
        SessionError::Internal(e.to_string())
    }
}

/// Creates, restores, finds and deletes sessions.
pub struct SessionManager {
    /// The tmux server.
    pub tmux: Tmux,
    store: Arc<Store>,
    plugins: Arc<PluginRegistry>,
    config: Arc<Config>,
    sessions_dir: PathBuf,
    exe: PathBuf,
    sessions: RwLock<BTreeMap<String, Arc<Session>>>,
    /// Per session: the stop signal of its supervisor task, and the task.
    supervisors: Mutex<HashMap<String, Supervisor>>,
    create_lock: tokio::sync::Mutex<()>,
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

impl SessionManager {
    /// A manager keeping session data under `state_dir/sessions`.
    pub fn new(
        state_dir: &Path,
        store: Arc<Store>,
        plugins: Arc<PluginRegistry>,
        config: Arc<Config>,
    ) -> std::io::Result<SessionManager> {
        let sessions_dir = state_dir.join("sessions");
        std::fs::create_dir_all(&sessions_dir)?;
        Ok(SessionManager {
            tmux: Tmux::new(state_dir)?,
            store,
            plugins,
            config,
            sessions_dir,
            exe: std::env::current_exe()?,
            sessions: RwLock::new(BTreeMap::new()),
            supervisors: Mutex::new(HashMap::new()),
            create_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The session named `name`.
    pub fn get(&self, name: &str) -> Result<Arc<Session>, SessionError> {
        self.sessions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .ok_or_else(|| SessionError::NotFound(name.to_string()))
    }

    /// Every session, by name.
    pub fn list(&self) -> Vec<Arc<Session>> {
        self.sessions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The `pipe-pane` shell command (`#` doubled: tmux expands formats in it).
    fn sink_command(&self, raw_dir: &Path) -> String {
        format!(
            "exec {} pipe-sink {}",
            shell_quote(&self.exe.to_string_lossy()),
            shell_quote(&raw_dir.to_string_lossy())
        )
        .replace('#', "##")
    }

    fn open_log(&self, dir: &Path) -> Result<Arc<OutputLog>, SessionError> {
        // Retention drops whole segments: keep segments well below it.
        let retention = self.config.stream.retention_bytes;
        let segment = (retention / 8).clamp(64 << 10, crate::outlog::SEGMENT_BYTES);
        Ok(Arc::new(OutputLog::open_with(&dir.join("log"), retention, segment)?))
    }

    fn build_session(&self, row: SessionRow, dir: PathBuf, log: Arc<OutputLog>, state: StateInfo) -> Arc<Session> {
        let ingested = log.meta().last_raw_end;
        Arc::new(Session {
            name: row.name.clone(),
            dir,
            row: Mutex::new(row),
            log,
            pane: Mutex::new(None),
            control: Mutex::new(None),
            live: broadcast::channel(self.config.stream.client_buffer_frames.max(16)).0,
            state: watch::channel(state).0,
            exit: watch::channel(None).0,
            ingest: Mutex::new(IngestState::default()),
            ingested: watch::channel(ingested).0,
            startup: Mutex::new(Vec::new()),
            stream_clients: Default::default(),
            tmux: self.tmux.clone(),
        })
    }

    /// Create a session: ask the provider how to launch, start it in tmux.
    pub async fn create(self: &Arc<Self>, req: CreateSession) -> Result<Arc<Session>, SessionError> {
        let _guard = self.create_lock.lock().await;
        let name = match req.name.clone() {
            Some(n) => n,
            None => format!(
                "{}-{}",
                req.provider
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect::<String>(),
                &random_hex(3)
            ),
        };
        validate_session_name(&name).map_err(SessionError::Invalid)?;
        let cwd = match &req.cwd {
            Some(c) => c.clone(),
            None => dirs::home_dir()
                .unwrap_or_else(|| PathBuf::from("/"))
                .to_string_lossy()
                .into_owned(),
        };
        if !Path::new(&cwd).is_absolute() || !Path::new(&cwd).is_dir() {
            return Err(SessionError::Invalid(format!(
                "cwd {cwd:?} is not an existing absolute directory"
            )));
        }
        for (k, v) in &req.env {
            if !valid_env_name(k) {
                return Err(SessionError::Invalid(format!(
                    "environment variable name {k:?} is invalid"
                )));
            }
            if v.contains('\0') {
                return Err(SessionError::Invalid(format!(
                    "environment variable {k} contains a NUL byte, which no process environment can hold"
                )));
            }
        }
        let cols = req.cols.unwrap_or(self.config.sessions.cols);
        let rows = req.rows.unwrap_or(self.config.sessions.rows);
        if !(10..=1000).contains(&cols) || !(5..=500).contains(&rows) {
            return Err(SessionError::Invalid(format!(
                "size {cols}x{rows} is out of range (cols 10-1000, rows 5-500)"
            )));
        }
        if let Ok(existing) = self.get(&name)
            && existing.exited().is_some()
        {
            return Err(SessionError::ExistsExited(name));
        }
        if self.get(&name).is_ok() || self.store.session_get(&name)?.is_some() {
            return Err(SessionError::Exists(name));
        }
        if self.tmux.list_sessions().await?.contains(&name) {
            return Err(SessionError::Exists(name));
        }
        let plugin = self.plugins.of_kind(&req.provider, Kind::Provider).map_err(|_| {
            SessionError::Invalid(format!(
                "unknown provider `{}`; loaded providers: {}",
                req.provider,
                self.plugins
                    .all()
                    .iter()
                    .filter(|p| p.manifest.kind == Kind::Provider)
                    .map(|p| p.name().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let mut row = SessionRow {
            name: name.clone(),
            provider: req.provider.clone(),
            cwd: cwd.clone(),
            args: req.args.clone(),
            env: req.env.clone(),
            cols,
            rows,
            uuid: uuid_v4(),
            nonce: String::new(),
            created_at: crate::util::now_ms(),
            status: "running".into(),
            exit_code: None,
            labels: BTreeMap::new(),
            launch: String::new(),
            pane: None,
        };
        let dir = self.sessions_dir.join(&name);
        let prepared = self.prepare_launch(&plugin, &mut row, &dir, true).await?;
        let log = match self.open_log(&dir) {
            Ok(log) => log,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let (control, pane) = match self.spawn_pane(&row, &prepared.script, &dir).await {
            Ok(p) => p,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        row.pane = Some(pane.clone());
        if !self.store.session_insert(&row)? {
            self.tmux.kill_session(&name).await.ok();
            return Err(SessionError::Exists(name));
        }
        let session = self.build_session(row, dir.clone(), log, StateInfo::new("starting", "process", None));
        *session.startup.lock().unwrap_or_else(|p| p.into_inner()) = prepared.startup;
        self.start(&session, control, pane, RawReader::new(dir.join("raw"), 0));
        tracing::info!(session = %name, provider = %req.provider, "session created");
        Ok(session)
    }

    /// Ask `plugin` how to launch `row`'s agent, check that its program can
    /// run, and write the pane's scripts into `dir` (emptied first when
    /// `fresh`). Sets `row.nonce` and `row.launch`.
    async fn prepare_launch(
        &self,
        plugin: &Arc<crate::plugins::LoadedPlugin>,
        row: &mut SessionRow,
        dir: &Path,
        fresh: bool,
    ) -> Result<PreparedLaunch, SessionError> {
        let spec = provider_instance::launch(plugin, &row.launch_request()).await?;
        self.check_spec(plugin, &spec)?;
        if spec.command.is_empty() {
            return Err(SessionError::Plugin(PluginError::Refused {
                plugin: plugin.name().to_string(),
                kind: "internal".into(),
                message: "the launch spec has an empty command".into(),
            }));
        }
        let launch = resolve(
            &spec,
            &LaunchContext {
                exe: &self.exe,
                session: &row.name,
                session_dir: dir,
                uuid: &row.uuid,
                cwd: &row.cwd,
            },
        );
        let env = agent_env(&launch, row);
        check_program(&launch, &env)?;
        if fresh && dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir.join("raw"))?;
        row.nonce = random_hex(12);
        let script = write_script(dir, &row.cwd, &launch.command, &env, &row.nonce)?;
        row.launch = launch_json(&spec, &launch);
        Ok(PreparedLaunch {
            script,
            startup: spec.startup,
        })
    }

    /// Start `row`'s tmux session running `script`, with its pipe sink into
    /// `dir/raw`, from a new control client. The pane id comes from the
    /// creating command itself (`new-session -P`), never from a later
    /// untargeted query: tmux answers those for whichever session it
    /// considers current, which is another session's pane about 3 times in
    /// 10 when sessions are created back to back.
    async fn spawn_pane(
        &self,
        row: &SessionRow,
        script: &Path,
        dir: &Path,
    ) -> Result<(Arc<ControlClient>, String), SessionError> {
        let name = &row.name;
        let mut args: Vec<String> = vec!["new-session".into()];
        if !self.config.stream.output_notifications {
            args.extend(["-f".into(), "no-output".into()]);
        }
        args.extend([
            "-P".into(),
            "-F".into(),
            "#{session_name} #{pane_id}".into(),
            "-s".into(),
            name.clone(),
            "-x".into(),
            row.cols.to_string(),
            "-y".into(),
            row.rows.to_string(),
            "-c".into(),
            row.cwd.clone(),
            "/bin/sh".into(),
            script.to_string_lossy().into_owned(),
            ";".into(),
            "pipe-pane".into(),
            "-O".into(),
            "-t".into(),
            format!("={name}:"),
            self.sink_command(&dir.join("raw")),
        ]);
        let counts = self.config.stream.output_notifications;
        let control = ControlClient::spawn(&self.tmux, &args, counts, counts)?;
        let created = control.startup_reply().await.map_err(|e| {
            SessionError::Tmux(TmuxError::Command {
                command: "new-session".into(),
                message: format!("tmux could not create the session: {e}"),
            })
        })?;
        let text = created.text();
        let pane = match text.trim().split_once(' ') {
            Some((session, pane)) if session == name && is_pane_id(pane) => pane.to_string(),
            _ => {
                self.tmux.kill_session(name).await.ok();
                return Err(SessionError::Tmux(TmuxError::Command {
                    command: "new-session".into(),
                    message: format!("tmux answered {text:?} for the new session `{name}`"),
                }));
            }
        };
        Ok((control, pane))
    }

    fn check_spec(&self, plugin: &crate::plugins::LoadedPlugin, spec: &LaunchSpec) -> Result<(), SessionError> {
        let need = |cap: Capability, what: &str| -> Result<(), SessionError> {
            if plugin.granted.contains(&cap) {
                Ok(())
            } else {
                Err(SessionError::Plugin(PluginError::NotGranted {
                    plugin: plugin.name().to_string(),
                    capability: cap,
                    detail: what.to_string(),
                }))
            }
        };
        if spec.transcript.is_some() {
            need(Capability::Transcript, "its launch spec tails a transcript")?;
        }
        if spec.bridge {
            need(Capability::Bridge, "its launch spec runs the agent under the bridge")?;
        }
        Ok(())
    }

    /// Register `session` and start supervising it.
    fn start(self: &Arc<Self>, session: &Arc<Session>, control: Arc<ControlClient>, pane: String, reader: RawReader) {
        *session.pane.lock().unwrap_or_else(|p| p.into_inner()) = Some(pane);
        *session.control.lock().unwrap_or_else(|p| p.into_inner()) = Some(control.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        self.sessions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(session.name.clone(), session.clone());
        let me = self.clone();
        let name = session.name.clone();
        let session = session.clone();
        let task = tokio::spawn(async move { me.supervise(session, control, reader, stop_rx).await });
        self.supervisors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, Supervisor { stop: stop_tx, task });
    }

    /// Stop session `name`'s supervisor and wait until it has returned, so
    /// it can no longer act on the session (e.g. mark it exited after a
    /// relaunch gave it a new pane).
    async fn stop_supervisor(&self, name: &str) {
        let sup = self.supervisors.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
        if let Some(sup) = sup {
            let _ = sup.stop.send(true);
            let _ = sup.task.await;
        }
    }

    async fn supervise(
        self: Arc<Self>,
        session: Arc<Session>,
        mut control: Arc<ControlClient>,
        mut reader: RawReader,
        stop: watch::Receiver<bool>,
    ) {
        let nonce = session.row().nonce;
        loop {
            match ingest::run(
                session.clone(),
                control.clone(),
                &mut reader,
                nonce.clone(),
                stop.clone(),
            )
            .await
            {
                Ended::Stopped => return,
                Ended::ClientLost => {
                    if session.exited().is_none()
                        && self.tmux.list_sessions().await.is_ok_and(|l| l.contains(&session.name))
                    {
                        let stored = session.row().pane;
                        match self.attach(&session.name, stored.as_deref()).await {
                            Ok((c, pane)) => {
                                *session.pane.lock().unwrap_or_else(|p| p.into_inner()) = Some(pane);
                                *session.control.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
                                control = c;
                                continue;
                            }
                            Err(e) => {
                                tracing::warn!(session = %session.name, error = %e, "re-attaching failed; retrying");
                                tokio::time::sleep(Duration::from_secs(1)).await;
                                continue;
                            }
                        }
                    }
                    self.finish(&session);
                    return;
                }
            }
        }
    }

    /// Mark `session` exited (its pane is gone).
    fn finish(&self, session: &Session) {
        let code = session.row().exit_code;
        *session.control.lock().unwrap_or_else(|p| p.into_inner()) = None;
        *session.pane.lock().unwrap_or_else(|p| p.into_inner()) = None;
        session.update_row(|r| r.status = "exited".into());
        if let Err(e) = self.store.session_exited(&session.name, code) {
            tracing::error!(session = %session.name, error = %e, "recording exit failed");
        }
        session.set_state(StateInfo::new("exited", "process", None));
        session.exit.send_if_modified(|e| {
            if e.is_none() {
                *e = Some(ExitInfo { code });
                true
            } else {
                false
            }
        });
        tracing::info!(session = %session.name, code = ?code, "session ended");
    }

    /// Attach a control client to an existing tmux session and find the
    /// agent's pane: the stored pane id, verified to belong to this session
    /// (every query names its target). Makes sure its pipe sink runs.
    async fn attach(
        &self,
        name: &str,
        stored_pane: Option<&str>,
    ) -> Result<(Arc<ControlClient>, String), SessionError> {
        let mut args = vec!["attach-session".to_string(), "-t".to_string(), format!("={name}")];
        let counts = self.config.stream.output_notifications;
        if !counts {
            args.extend(["-f".into(), "no-output".into()]);
        }
        let control = ControlClient::spawn(&self.tmux, &args, false, counts)?;
        control.startup_reply().await?;
        let pane = match stored_pane {
            Some(p) if is_pane_id(p) => p.to_string(),
            // A row from before pane ids were stored: the session's first pane.
            _ => control
                .command(&format!("list-panes -s -t ={name} -F '#{{pane_id}}'"))
                .await?
                .text()
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        if !is_pane_id(&pane) {
            return Err(SessionError::Tmux(TmuxError::Invalid(format!(
                "session `{name}` has no pane"
            ))));
        }
        let info = control
            .command(&format!("display -p -t {pane} '#{{session_name}} #{{pane_pipe}}'"))
            .await?
            .text();
        let mut parts = info.split_whitespace();
        if parts.next() != Some(name) {
            return Err(SessionError::Tmux(TmuxError::Invalid(format!(
                "pane {pane} belongs to tmux session {info:?}, not `{name}`"
            ))));
        }
        if parts.next() != Some("1") {
            let raw = self.sessions_dir.join(name).join("raw");
            std::fs::create_dir_all(&raw)?;
            tracing::warn!(session = name, "pipe sink was not running; restarting it");
            control
                .command(&format!(
                    "pipe-pane -O -t {pane} {}",
                    tmux_quote(&self.sink_command(&raw))
                ))
                .await?;
        }
        Ok((control, pane))
    }

    /// Load stored sessions: re-attach those whose tmux session still runs,
    /// mark the others exited (after logging what their sink recorded).
    pub async fn restore(self: &Arc<Self>) -> Result<(), SessionError> {
        let alive = self.tmux.list_sessions().await.unwrap_or_default();
        for row in self.store.session_list()? {
            let dir = self.sessions_dir.join(&row.name);
            let log = self.open_log(&dir)?;
            let raw_pos = log.meta().last_raw_end;
            let running = row.status == "running";
            let session = self.build_session(
                row.clone(),
                dir.clone(),
                log,
                StateInfo::new(if running { "starting" } else { "exited" }, "process", None),
            );
            if running && alive.contains(&row.name) {
                match self.attach(&row.name, row.pane.as_deref()).await {
                    Ok((control, pane)) => {
                        if row.pane.as_deref() != Some(pane.as_str()) {
                            self.store.session_set_pane(&row.name, &pane)?;
                            session.update_row(|r| r.pane = Some(pane.clone()));
                        }
                        tracing::info!(session = %row.name, from = raw_pos, "re-attached session");
                        self.start(&session, control, pane, RawReader::new(dir.join("raw"), raw_pos));
                        continue;
                    }
                    Err(e) => tracing::error!(session = %row.name, error = %e, "re-attach failed; marking exited"),
                }
            }
            if running {
                // Take what the sink recorded while we were down.
                let mut reader = RawReader::new(dir.join("raw"), raw_pos);
                let mut scanner = super::launch::ExitScanner::new(&row.nonce);
                loop {
                    let data = reader.read(ingest::CHUNK_BYTES, None)?;
                    if data.is_empty() {
                        break;
                    }
                    session.log.append(reader.pos(), &data)?;
                    if let Some(code) = scanner.scan(&data) {
                        session.update_row(|r| r.exit_code = Some(code));
                    }
                }
                reader.discard_before(reader.pos());
                self.finish(&session);
            } else {
                session.exit.send_replace(Some(ExitInfo { code: row.exit_code }));
            }
            self.sessions
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(row.name.clone(), session);
        }
        Ok(())
    }

    /// Kill the session's agent and delete everything about it.
    pub async fn delete(&self, name: &str) -> Result<(), SessionError> {
        let session = self.get(name)?;
        self.stop_supervisor(name).await;
        self.tmux.kill_session(name).await?;
        session.set_state(StateInfo::new("exited", "process", None));
        session.exit.send_if_modified(|e| {
            if e.is_none() {
                *e = Some(ExitInfo { code: None });
                true
            } else {
                false
            }
        });
        self.sessions.write().unwrap_or_else(|p| p.into_inner()).remove(name);
        self.store.session_delete(name)?;
        let _ = std::fs::remove_dir_all(&session.dir);
        tracing::info!(session = name, "session deleted");
        Ok(())
    }

    /// Restart the agent in its pane (same log, same pipe) with a fresh
    /// launch spec from `plugin`.
    pub async fn respawn(
        &self,
        session: &Session,
        plugin: &Arc<crate::plugins::LoadedPlugin>,
        req: &LaunchRequest,
    ) -> Result<(), SessionError> {
        let (control, pane) = session
            .control()
            .map_err(|_| SessionError::Exited(session.name.clone()))?;
        let spec = provider_instance::launch(plugin, req).await?;
        self.check_spec(plugin, &spec)?;
        let row = session.row();
        let launch = resolve(
            &spec,
            &LaunchContext {
                exe: &self.exe,
                session: &row.name,
                session_dir: &session.dir,
                uuid: &row.uuid,
                cwd: &row.cwd,
            },
        );
        let env = agent_env(&launch, &row);
        check_program(&launch, &env)?;
        write_agent_script(&session.dir, &launch.command, &env)?;
        std::fs::write(session.dir.join("restart"), b"")?;
        // Kill the agent's process tree; launch.sh starts agent.sh again.
        // (tmux's respawn-pane from a control client can crash tmux 3.3a.)
        let pid: i32 = control
            .command(&format!("display -p -t {pane} '#{{pane_pid}}'"))
            .await?
            .text()
            .trim()
            .parse()
            .map_err(|_| SessionError::Internal("tmux did not report the pane's pid".into()))?;
        super::procs::kill_descendants(pid, Duration::from_secs(2)).await;
        session.update_row(|r| {
            r.launch = launch_json(&spec, &launch);
            r.exit_code = None;
        });
        session.exit.send_replace(None);
        *session.startup.lock().unwrap_or_else(|p| p.into_inner()) = spec.startup.clone();
        session.set_state(StateInfo::new("starting", "process", None));
        tracing::info!(session = %row.name, "agent restarted");
        Ok(())
    }

    /// Start an exited session's agent again in a new tmux session of the
    /// same name. The output log (epoch, seq numbering) and the raw offsets
    /// continue where they ended; the stored row gets the new pane, nonce
    /// and launch spec.
    pub async fn relaunch(self: &Arc<Self>, name: &str) -> Result<Arc<Session>, SessionError> {
        let _guard = self.create_lock.lock().await;
        let session = self.get(name)?;
        if session.exited().is_none() {
            return Err(SessionError::Running(name.to_string()));
        }
        // A pane that printed its exit marker may still be closing: its
        // supervisor goes first, so it cannot mark the new life exited.
        self.stop_supervisor(name).await;
        self.tmux.kill_session(name).await?;
        let mut row = session.row();
        let plugin = self.plugins.of_kind(&row.provider, Kind::Provider)?;
        let prepared = self.prepare_launch(&plugin, &mut row, &session.dir, false).await?;
        let (control, pane) = self.spawn_pane(&row, &prepared.script, &session.dir).await?;
        row.pane = Some(pane.clone());
        row.status = "running".into();
        row.exit_code = None;
        self.store.session_relaunched(&row)?;
        session.update_row(|r| *r = row.clone());
        session.exit.send_replace(None);
        session.set_state(StateInfo::new("starting", "process", None));
        *session.startup.lock().unwrap_or_else(|p| p.into_inner()) = prepared.startup;
        let pos = session.log.meta().last_raw_end;
        self.start(&session, control, pane, RawReader::new(session.dir.join("raw"), pos));
        tracing::info!(session = name, from = pos, "exited session relaunched");
        Ok(session)
    }

    /// Replace a session's labels.
    pub fn set_labels(&self, name: &str, labels: BTreeMap<String, String>) -> Result<(), SessionError> {
        let session = self.get(name)?;
        self.store.session_set_labels(name, &labels)?;
        session.update_row(|r| r.labels = labels);
        Ok(())
    }

    /// Record a resize in the store.
    pub fn record_size(&self, name: &str, cols: u16, rows: u16) {
        let _ = self.store.session_resize(name, cols, rows);
    }
}

/// A session's supervisor task and its stop signal.
struct Supervisor {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// What [`SessionManager::prepare_launch`] produced.
struct PreparedLaunch {
    /// `launch.sh`, what the pane runs.
    script: PathBuf,
    /// Input actions to perform once the agent runs.
    startup: Vec<crate::plugins::bindings::types::InputAction>,
}

/// Whether `s` looks like a tmux pane id (`%` and digits).
fn is_pane_id(s: &str) -> bool {
    s.len() > 1 && s.starts_with('%') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

/// The agent's environment: the provider's, the session's, `WASMUX_SESSION`,
/// and `PATH` (the session's, else the daemon's: the pane would otherwise
/// get the tmux server's, which is whatever PATH the first daemon had).
fn agent_env(launch: &ResolvedLaunch, row: &SessionRow) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = launch.env.iter().cloned().collect();
    env.extend(row.env.clone());
    env.insert("WASMUX_SESSION".into(), row.name.clone());
    if !env.contains_key("PATH")
        && let Ok(path) = std::env::var("PATH")
    {
        env.insert("PATH".into(), path);
    }
    env
}

/// Fail with [`SessionError::CommandNotFound`] unless the agent's program
/// (the command after `wasmux bridge … --` for bridged agents) is an
/// executable file, found on `env`'s `PATH` when it names no directory.
fn check_program(launch: &ResolvedLaunch, env: &BTreeMap<String, String>) -> Result<(), SessionError> {
    let argv = if launch.bridge {
        let after = launch.command.iter().position(|a| a == "--").map_or(0, |i| i + 1);
        &launch.command[after..]
    } else {
        &launch.command[..]
    };
    let Some(program) = argv.first() else {
        return Err(SessionError::Invalid("the agent command is empty".into()));
    };
    let path = env.get("PATH").cloned().unwrap_or_default();
    if find_program(program, &path).is_some() {
        return Ok(());
    }
    Err(SessionError::CommandNotFound {
        program: program.clone(),
        path,
    })
}

/// The executable file `program` names: itself when it contains `/`, else
/// the first match in the `:`-separated `path`.
pub fn find_program(program: &str, path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(program))
        .find(|p| executable(p))
}

/// Quote a whole argument for tmux's command parser: double quotes with
/// `\`, `"` and `$` escaped.
fn tmux_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '\\' | '"' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn launch_json(spec: &LaunchSpec, launch: &ResolvedLaunch) -> String {
    serde_json::json!({
        "command": launch.command,
        "transcript": launch.transcript,
        "bridge": launch.bridge,
        "screenPollMs": spec.screen_poll_ms,
    })
    .to_string()
}
