//! The registry of sessions: create (launch through the provider into a
//! fresh tmux session), restore after a daemon restart, find, restart and
//! delete. Each entry has one owner per half: the terminal reports how the
//! agent's process ended, the agent decides its state.

use rand::RngCore;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::{Session, SessionError};
use crate::agent::{Agent, AgentHost, life::LaunchMode};
use crate::config::Config;
use crate::events::{AgentState, StateInfo};
use crate::plugins::registry::PluginChange;
use crate::plugins::{Kind, PluginRegistry};
use crate::store::{RowCell, SessionRow, SessionStatus, Store};
use crate::terminal::script::valid_env_name;
use crate::terminal::{Terminal, TerminalHost};
use crate::tmux::{Tmux, validate_session_name};

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

/// Every session, by name.
pub struct Registry {
    terminals: Arc<TerminalHost>,
    agents: Arc<AgentHost>,
    sessions_dir: PathBuf,
    sessions: RwLock<BTreeMap<String, Arc<Session>>>,
    create_lock: tokio::sync::Mutex<()>,
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

impl Registry {
    /// A registry keeping session data under `state_dir/sessions`.
    pub fn new(
        state_dir: &Path,
        store: Arc<Store>,
        plugins: Arc<PluginRegistry>,
        config: Arc<Config>,
    ) -> std::io::Result<Arc<Registry>> {
        let sessions_dir = state_dir.join("sessions");
        std::fs::create_dir_all(&sessions_dir)?;
        let terminals = Arc::new(TerminalHost::new(state_dir, config.clone(), store.clone())?);
        let agents = Arc::new(AgentHost {
            store,
            plugins,
            config,
            exe: terminals.exe.clone(),
        });
        let me = Arc::new(Registry {
            terminals,
            agents,
            sessions_dir,
            sessions: RwLock::new(BTreeMap::new()),
            create_lock: tokio::sync::Mutex::new(()),
        });
        tokio::spawn(me.clone().follow_plugins());
        Ok(me)
    }

    /// The tmux server.
    pub fn tmux(&self) -> &Tmux {
        &self.terminals.tmux
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

    fn insert(&self, s: Arc<Session>) {
        self.sessions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(s.name.clone(), s);
    }

    fn entry(&self, row: SessionRow, state: StateInfo) -> Result<Arc<Session>, SessionError> {
        let dir = self.sessions_dir.join(&row.name);
        let row = Arc::new(RowCell::new(row));
        let terminal = Terminal::open(self.terminals.clone(), row.clone(), dir)?;
        let agent = Agent::new(self.agents.clone(), row.clone(), terminal.clone(), state)?;
        Ok(Arc::new(Session {
            name: row.get().name,
            terminal,
            agent,
            row,
        }))
    }

    fn validate(&self, req: &CreateSession) -> Result<(String, String, u16, u16), SessionError> {
        let name = match req.name.clone() {
            Some(n) => n,
            None => format!(
                "{}-{}",
                req.provider
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect::<String>(),
                random_hex(3)
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
        if let Some(i) = req.args.iter().position(|a| a.contains('\0')) {
            return Err(SessionError::Invalid(format!(
                "argument {i} contains a NUL byte, which no process argument can hold"
            )));
        }
        let config = &self.agents.config;
        let cols = req.cols.unwrap_or(config.sessions.cols);
        let rows = req.rows.unwrap_or(config.sessions.rows);
        if !(10..=1000).contains(&cols) || !(5..=500).contains(&rows) {
            return Err(SessionError::Invalid(format!(
                "size {cols}x{rows} is out of range (cols 10-1000, rows 5-500)"
            )));
        }
        if self.agents.plugins.of_kind(&req.provider, Kind::Provider).is_err() {
            let loaded: Vec<String> = self
                .agents
                .plugins
                .all()
                .iter()
                .filter(|p| p.manifest.kind == Kind::Provider)
                .map(|p| p.name().to_string())
                .collect();
            return Err(SessionError::Invalid(format!(
                "unknown provider `{}`; loaded providers: {}",
                req.provider,
                loaded.join(", ")
            )));
        }
        Ok((name, cwd, cols, rows))
    }

    /// Create a session: ask the provider how to launch, start it in tmux.
    pub async fn create(&self, req: CreateSession) -> Result<Arc<Session>, SessionError> {
        let _guard = self.create_lock.lock().await;
        let (name, cwd, cols, rows) = self.validate(&req)?;
        if let Ok(existing) = self.get(&name) {
            return Err(if existing.terminal.exited().is_some() {
                SessionError::ExistsExited(name)
            } else {
                SessionError::Exists(name)
            });
        }
        if self.agents.store.session_get(&name)?.is_some() || self.tmux().list_sessions().await?.contains(&name) {
            return Err(SessionError::Exists(name));
        }
        let dir = self.sessions_dir.join(&name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        let row = SessionRow {
            name: name.clone(),
            provider: req.provider.clone(),
            cwd,
            args: req.args,
            env: req.env,
            cols,
            rows,
            uuid: uuid_v4(),
            nonce: String::new(),
            created_at: crate::util::now_ms(),
            status: SessionStatus::Running,
            exit_code: None,
            labels: BTreeMap::new(),
            launch: String::new(),
            pane: None,
        };
        if !self.agents.store.session_insert(&row)? {
            return Err(SessionError::Exists(name));
        }
        let session = self.entry(row, StateInfo::starting())?;
        if let Err(e) = session.agent.launch(LaunchMode::Create).await {
            // Nothing is left behind: the name is free again.
            let _ = session.terminal.stop().await;
            let _ = self.agents.store.session_delete(&name);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        session.agent.start_tasks(0);
        self.insert(session.clone());
        tracing::info!(session = %name, provider = %req.provider, "session created");
        Ok(session)
    }

    /// Load stored sessions after a start: re-attach those whose tmux
    /// session still runs, mark the others exited (after logging what their
    /// sink recorded). A turn that was running when the daemon stopped is
    /// reconciled by its session if the agent still runs (see
    /// `Agent::resume_turn`), else fails with `daemon restarted` (or is
    /// re-queued with `sessions.redeliver_after_restart`).
    pub async fn restore(&self) -> Result<(), SessionError> {
        let store = &self.agents.store;
        let alive = self.tmux().list_sessions().await.unwrap_or_default();
        let n = store.message_recover_running(self.agents.config.sessions.redeliver_after_restart, &alive)?;
        if n > 0 {
            tracing::warn!(
                messages = n,
                redeliver = self.agents.config.sessions.redeliver_after_restart,
                "messages were running when the daemon stopped (their agents are gone, or re-delivery is on)"
            );
        }
        for row in store.session_list()? {
            // Carry the last known state over the restart (the fresh provider
            // instance has not seen anything yet), unless the agent is gone.
            let last = store.event_last_state(&row.name)?;
            let state = match (row.status, last) {
                (SessionStatus::Running, Some(s)) if s.value != AgentState::Exited => s,
                (SessionStatus::Running, _) => StateInfo::starting(),
                (SessionStatus::Exited, _) => StateInfo::exited(),
            };
            let name = row.name.clone();
            let session = self.entry(row, state)?;
            session.terminal.restore(alive.contains(&name)).await?;
            // A log rebuilt under a new epoch numbers from 1: a cursor past
            // its end would wait forever for output the provider then never
            // sees.
            let cursor = store
                .session_provider_seq(&name)?
                .min(session.terminal.log.meta().last_seq);
            session.agent.resume().await;
            session.agent.start_tasks(cursor);
            self.insert(session);
        }
        Ok(())
    }

    /// Start a session's agent again (see [`Agent::restart`]).
    pub async fn restart(&self, name: &str) -> Result<Arc<Session>, SessionError> {
        let _guard = self.create_lock.lock().await;
        let session = self.get(name)?;
        session.agent.restart().await?;
        Ok(session)
    }

    /// Kill the session's agent and delete everything about it.
    pub async fn delete(&self, name: &str) -> Result<(), SessionError> {
        let session = self.get(name)?;
        session.agent.shutdown();
        session.terminal.stop().await?;
        self.sessions.write().unwrap_or_else(|p| p.into_inner()).remove(name);
        self.agents.store.session_delete(name)?;
        let _ = std::fs::remove_dir_all(&session.terminal.dir);
        drop(session);
        // Its tasks let go of it as they notice the stop.
        tokio::spawn(async {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            release_freed_memory();
        });
        tracing::info!(session = name, "session deleted");
        Ok(())
    }

    /// Replace a session's labels.
    pub fn set_labels(&self, name: &str, labels: BTreeMap<String, String>) -> Result<(), SessionError> {
        let session = self.get(name)?;
        self.agents.store.session_set_labels(name, &labels)?;
        session.row.update(|r| r.labels = labels);
        Ok(())
    }

    /// Swap new builds of provider plugins into running sessions.
    async fn follow_plugins(self: Arc<Self>) {
        let mut rx = self.agents.plugins.subscribe();
        loop {
            match rx.recv().await {
                Ok(PluginChange::Loaded(name)) => {
                    let Some(plugin) = self
                        .agents
                        .plugins
                        .get(&name)
                        .filter(|p| p.manifest.kind == Kind::Provider)
                    else {
                        continue;
                    };
                    for s in self.list().into_iter().filter(|s| s.row().provider == name) {
                        s.agent.replace_plugin(plugin.clone()).await;
                    }
                }
                Ok(PluginChange::Removed(_)) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    }
}

fn uuid_v4() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Give the heap a deleted session freed back to the system: glibc keeps
/// freed arenas mapped, so without this the RSS of a daemon that ran 200
/// sessions stayed at its peak after they were deleted.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}
