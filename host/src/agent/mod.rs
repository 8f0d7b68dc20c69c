//! The agent half of a session: it launches the agent (through its
//! provider plugin) into the terminal half, feeds the provider from the
//! output log (off the byte path), publishes events, and runs the durable
//! FIFO of messages with one running turn. It is the only writer of the
//! agent's state and the only caller of its provider.
//!
//! Data flows one way: output log → provider → events → (state, queue, API).

pub mod actions;
mod bridge_client;
mod driver;
pub mod launch;
pub mod life;
mod lost;
mod ops;
mod permissions;
mod queue;
pub mod tail;
pub mod turn;

pub use launch::ResolvedLaunch;
pub use life::LaunchMode;
pub use ops::{EnqueueRequest, EnqueueResult, QueueError, SteerMode, SteerResult};
pub use permissions::PendingPermission;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::events::{Event, EventBus, StateInfo};
use crate::plugins::PluginRegistry;
use crate::plugins::bindings::types::InputAction;
use crate::plugins::provider_instance::ProviderInstance;
use crate::store::{RowCell, SessionRow, Store};
use crate::terminal::Terminal;

/// The running turn.
#[derive(Debug, Clone)]
pub struct Turn {
    /// Message id.
    pub id: String,
    /// Its text.
    pub text: String,
    /// When delivered (ms).
    pub started_at: u64,
}

impl Turn {
    /// The turn of stored message `m` (delivered at its `started_at`).
    fn of(m: &crate::store::MessageRow) -> Turn {
        Turn {
            id: m.id.clone(),
            text: m.text.clone(),
            started_at: m.started_at.unwrap_or_else(crate::util::now_ms),
        }
    }
}

/// What an agent needs from the daemon.
pub struct AgentHost {
    /// The database.
    pub store: Arc<Store>,
    /// Loaded plugins.
    pub plugins: Arc<PluginRegistry>,
    /// Effective configuration.
    pub config: Arc<Config>,
    /// The running wasmux binary (`{wasmux}` in launch specs).
    pub exe: PathBuf,
}

/// One session's agent.
pub struct Agent {
    /// Session name.
    pub name: String,
    /// The terminal it runs in.
    pub terminal: Arc<Terminal>,
    row: Arc<RowCell>,
    /// Its events.
    pub bus: Arc<EventBus>,
    host: Arc<AgentHost>,
    /// The provider instance (None if the plugin could not be instantiated).
    provider: tokio::sync::Mutex<Option<ProviderInstance>>,
    /// Why the provider is unavailable, if it is.
    provider_error: Mutex<Option<String>>,
    /// Agent state: written here only.
    state: watch::Sender<StateInfo>,
    turn: Mutex<Option<Turn>>,
    /// Serialises enqueue (commit + `message-queued` event) so event order
    /// is queue order.
    enqueue_lock: Mutex<()>,
    /// Wakes the queue runner (new message, abort, state change).
    wake: Notify,
    /// Id of the turn that was aborted or failed from outside the runner.
    aborted: watch::Sender<Option<String>>,
    permissions: Mutex<permissions::Permissions>,
    /// Stops the agent's tasks (the session is deleted).
    stop: watch::Sender<bool>,
    /// The bridge of a protocol session.
    bridge: Mutex<Option<Arc<dyn actions::ProtocolSink>>>,
    /// Counts launches: tasks of one launch (transcript tails) end with it.
    life: watch::Sender<u64>,
    /// When the current launch started.
    launched_at: Mutex<std::time::Instant>,
    /// Output before this seq belongs to an earlier launch: not fed to the
    /// provider of this one.
    first_seq_of_life: AtomicU64,
    /// How often the screen is captured for the provider (ms; 0: never).
    screen_poll_ms: AtomicU32,
    /// The launch spec's `startup` actions, performed once the agent runs.
    startup: Mutex<Vec<InputAction>>,
    /// Since when a turn ended without the agent saying so (aborted, timed
    /// out): the agent may still be working on it, so no next prompt goes in
    /// until it reports `idle` again (or [`queue::SETTLE`] passes).
    unsettled_since: Mutex<Option<std::time::Instant>>,
    /// The provider has announced a turn with `task-started`: later turns
    /// count only what follows their own announcement.
    announces_turns: std::sync::atomic::AtomicBool,
    /// Transcript files earlier launches read (path, offset reached).
    earlier_transcripts: Mutex<Vec<(PathBuf, u64)>>,
}

impl Agent {
    /// The agent of `terminal`'s session, with state `state` (not started:
    /// see [`Agent::launch`] and [`Agent::resume`]).
    pub fn new(
        host: Arc<AgentHost>,
        row: Arc<RowCell>,
        terminal: Arc<Terminal>,
        state: StateInfo,
    ) -> Result<Arc<Agent>, crate::store::StoreError> {
        let name = row.get().name;
        // Known across restarts: a resumed session's first turn is gated too.
        let announces = host.store.event_has_type(&name, Event::TaskStarted.kind())?;
        Ok(Arc::new(Agent {
            bus: Arc::new(EventBus::new(&name, host.store.clone())?),
            name,
            terminal,
            row,
            host,
            provider: tokio::sync::Mutex::new(None),
            provider_error: Mutex::new(None),
            state: watch::channel(state).0,
            turn: Mutex::new(None),
            enqueue_lock: Mutex::new(()),
            wake: Notify::new(),
            aborted: watch::channel(None).0,
            permissions: Mutex::new(Default::default()),
            stop: watch::channel(false).0,
            bridge: Mutex::new(None),
            life: watch::channel(0).0,
            launched_at: Mutex::new(std::time::Instant::now()),
            first_seq_of_life: AtomicU64::new(0),
            screen_poll_ms: AtomicU32::new(0),
            startup: Mutex::new(Vec::new()),
            earlier_transcripts: Mutex::new(Vec::new()),
            announces_turns: std::sync::atomic::AtomicBool::new(announces),
            unsettled_since: Mutex::new(None),
        }))
    }

    /// A copy of the session's row.
    pub fn row(&self) -> SessionRow {
        self.row.get()
    }

    /// The current state.
    pub fn state(&self) -> StateInfo {
        self.state.borrow().clone()
    }

    /// Watch the state.
    pub fn state_watch(&self) -> watch::Receiver<StateInfo> {
        self.state.subscribe()
    }

    /// The running turn, if any.
    pub fn turn(&self) -> Option<Turn> {
        self.turn.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_turn(&self, t: Option<Turn>) {
        *self.turn.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }

    /// Why the provider is unavailable, if it is.
    pub fn provider_error(&self) -> Option<String> {
        self.provider_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn bridge(&self) -> Option<Arc<dyn actions::ProtocolSink>> {
        self.bridge.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Perform input actions on the terminal (and bridge).
    pub async fn perform(&self, acts: &[InputAction]) -> Result<(), String> {
        let bridge = self.bridge();
        actions::perform(&self.terminal, bridge.as_deref(), acts).await
    }

    /// Perform the launch spec's `startup` actions (once per launch).
    fn perform_startup(self: &Arc<Self>) {
        let acts = std::mem::take(&mut *self.startup.lock().unwrap_or_else(|p| p.into_inner()));
        if acts.is_empty() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.perform(&acts).await {
                tracing::warn!(session = %me.name, error = %e, "startup actions failed");
            }
        });
    }

    /// Swap a newer build of the provider plugin in (hot reload); its
    /// session state restarts in the new build on the next call.
    pub async fn replace_plugin(&self, plugin: Arc<crate::plugins::LoadedPlugin>) {
        let mut p = self.provider.lock().await;
        if let Some(p) = p.as_mut()
            && !Arc::ptr_eq(p.plugin(), &plugin)
        {
            p.replace_plugin(plugin);
            tracing::info!(session = %self.name, "provider reloaded");
        }
    }

    /// Stop the agent's tasks (the session is being deleted).
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// Start the agent's tasks: the provider driver from output seq
    /// `cursor` on, and the queue runner.
    pub fn start_tasks(self: &Arc<Self>, cursor: u64) {
        // The turn a restarted daemon found running is this agent's turn
        // from now on (an abort right after start-up must find it).
        let resumed = self.host.store.message_running(&self.name).ok().flatten();
        if let Some(m) = &resumed {
            self.set_turn(Some(Turn::of(m)));
        }
        tokio::spawn(self.clone().drive(cursor));
        tokio::spawn(self.clone().run_queue(resumed));
    }
}
