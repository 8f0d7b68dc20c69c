//! The agent half of a session: its provider instance fed from the output
//! log (off the byte path), the event bus, the durable FIFO of messages with
//! one running turn, and pending permission requests.
//!
//! Data flows one way: output log → provider → events → (state, queue, API).

pub mod actions;
mod bridge_client;
mod driver;
mod manager;
mod permissions;
mod queue;
pub mod tail;

pub use manager::{Agents, EnqueueRequest, EnqueueResult, QueueError, SteerResult};
pub use permissions::PendingPermission;

use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::events::EventBus;
use crate::plugins::provider_instance::ProviderInstance;
use crate::session::Session;
use crate::store::Store;

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

/// One session's agent.
pub struct Agent {
    /// The session.
    pub session: Arc<Session>,
    /// Its events.
    pub bus: Arc<EventBus>,
    store: Arc<Store>,
    config: Arc<Config>,
    /// The provider instance (None if the plugin could not be instantiated).
    provider: tokio::sync::Mutex<Option<ProviderInstance>>,
    /// Why the provider is unavailable, if it is.
    provider_error: Mutex<Option<String>>,
    turn: Mutex<Option<Turn>>,
    /// Serialises enqueue (commit + `message-queued` event) so event order
    /// is queue order.
    enqueue_lock: Mutex<()>,
    /// Wakes the queue runner (new message, abort, state change).
    wake: Notify,
    /// Id of the turn that was aborted or failed from outside the runner.
    aborted: watch::Sender<Option<String>>,
    permissions: Mutex<permissions::Permissions>,
    /// Stops the agent's tasks.
    stop: watch::Sender<bool>,
    /// The bridge of a protocol session, once connected.
    pub bridge: Mutex<Option<Arc<dyn actions::ProtocolSink>>>,
}

impl Agent {
    /// The running turn, if any.
    pub fn turn(&self) -> Option<Turn> {
        self.turn.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_turn(&self, t: Option<Turn>) {
        *self.turn.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }

    fn bridge(&self) -> Option<Arc<dyn actions::ProtocolSink>> {
        self.bridge.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Perform input actions on the session (and bridge).
    pub async fn perform(&self, acts: &[crate::plugins::bindings::types::InputAction]) -> Result<(), String> {
        let bridge = self.bridge();
        actions::perform(&self.session, bridge.as_deref(), acts).await
    }

    /// Perform the launch spec's `startup` actions (once per launch).
    fn perform_startup(self: Arc<Self>) {
        let acts = std::mem::take(&mut *self.session.startup.lock().unwrap_or_else(|p| p.into_inner()));
        if acts.is_empty() {
            return;
        }
        tokio::spawn(async move {
            if let Err(e) = self.perform(&acts).await {
                tracing::warn!(session = %self.session.name, error = %e, "startup actions failed");
            }
        });
    }

    /// Stop the agent's tasks.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

impl Agent {
    /// Why the provider is unavailable, if it is.
    pub fn provider_error(&self) -> Option<String> {
        self.provider_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
