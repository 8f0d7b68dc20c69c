//! `Agents`: the facade the API uses. It owns the session manager and one
//! [`Agent`] per session, and implements enqueue, steer, abort, reset,
//! cancel and permission answers.

use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, watch};

use super::Agent;
use super::permissions::{Claim, PendingPermission, Permissions};
use crate::config::Config;
use crate::events::EventBus;
use crate::plugins::bindings::types::PermissionDecision;
use crate::plugins::provider_instance::ProviderInstance;
use crate::plugins::registry::PluginChange;
use crate::plugins::{Kind, PluginRegistry};
use crate::session::{CreateSession, Session, SessionError, SessionManager, StateInfo};
use crate::store::{Enqueued, MessageRow, NewMessage, Store, status};

/// A message to enqueue.
#[derive(Debug, Clone)]
pub struct EnqueueRequest {
    /// Text.
    pub text: String,
    /// Metadata object.
    pub metadata: serde_json::Value,
    /// Dedupe key.
    pub idempotency_key: Option<String>,
    /// Source tag.
    pub source: String,
}

/// What an enqueue did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnqueueResult {
    /// Message id.
    pub id: String,
    /// 1-based position in the queue when queued (0 if no longer queued).
    pub position: usize,
    /// Current status.
    pub status: String,
    /// Whether an earlier message with the same idempotency key was returned.
    pub duplicate: bool,
}

/// What a steer did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SteerResult {
    /// `steer` (typed into the running turn) or `queued`.
    pub mode: &'static str,
    /// The queued message id, when queued.
    pub id: Option<String>,
}

fn message_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 9];
    rand::rng().fill_bytes(&mut b);
    format!("msg_{}", hex::encode(b))
}

/// Every agent, by session name.
pub struct Agents {
    /// The sessions.
    pub sessions: Arc<SessionManager>,
    store: Arc<Store>,
    plugins: Arc<PluginRegistry>,
    config: Arc<Config>,
    agents: RwLock<HashMap<String, Arc<Agent>>>,
}

impl Agents {
    /// The facade over `sessions`.
    pub fn new(
        sessions: Arc<SessionManager>,
        store: Arc<Store>,
        plugins: Arc<PluginRegistry>,
        config: Arc<Config>,
    ) -> Arc<Agents> {
        let me = Arc::new(Agents {
            sessions,
            store,
            plugins,
            config,
            agents: RwLock::new(HashMap::new()),
        });
        tokio::spawn(me.clone().follow_plugins());
        me
    }

    /// The agent of session `name`.
    pub fn get(&self, name: &str) -> Result<Arc<Agent>, SessionError> {
        self.agents
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .ok_or_else(|| SessionError::NotFound(name.to_string()))
    }

    /// Create a session and its agent.
    pub async fn create(&self, req: CreateSession) -> Result<Arc<Agent>, SessionError> {
        let session = self.sessions.create(req).await?;
        self.spawn(session, 0, None).await
    }

    /// Restore sessions and agents after a start. Running turns of the
    /// previous daemon fail with `daemon restarted` (or are re-queued).
    pub async fn restore(&self) -> Result<(), SessionError> {
        let n = self
            .store
            .message_recover_running(self.config.sessions.redeliver_after_restart)?;
        if n > 0 {
            tracing::warn!(
                messages = n,
                redeliver = self.config.sessions.redeliver_after_restart,
                "messages were running when the daemon stopped"
            );
        }
        self.sessions.restore().await?;
        for session in self.sessions.list() {
            let cursor = self.store.session_provider_seq(&session.name)?;
            // Carry the last known state over the restart (the fresh provider
            // instance has not seen anything yet), unless the agent is gone.
            if session.exited().is_none()
                && let Some(last) = self.store.event_last_state(&session.name)?
                && last["value"] != "exited"
            {
                session.set_state(StateInfo::new(
                    last["value"].as_str().unwrap_or("starting"),
                    last["source"].as_str().unwrap_or("process"),
                    last["tool"].as_str().map(str::to_string),
                ));
            }
            self.spawn(session, cursor, None).await?;
        }
        Ok(())
    }

    async fn spawn(
        &self,
        session: Arc<Session>,
        cursor: u64,
        bus: Option<Arc<EventBus>>,
    ) -> Result<Arc<Agent>, SessionError> {
        let row = session.row();
        let bus = match bus {
            Some(b) => b,
            None => Arc::new(EventBus::new(&session.name, self.store.clone())?),
        };
        let req = row.launch_request();
        let (provider, provider_error) = match self.plugins.of_kind(&row.provider, Kind::Provider) {
            Ok(plugin) => match ProviderInstance::new(plugin, req).await {
                Ok(p) => (Some(p), None),
                Err(e) => (None, Some(e.to_string())),
            },
            Err(e) => (None, Some(e.to_string())),
        };
        if let Some(e) = &provider_error {
            tracing::warn!(session = %row.name, error = %e, "provider unavailable; the session runs without events");
        }
        let agent = Arc::new(Agent {
            session: session.clone(),
            bus,
            store: self.store.clone(),
            config: self.config.clone(),
            provider: tokio::sync::Mutex::new(provider),
            provider_error: Mutex::new(provider_error),
            turn: Mutex::new(None),
            enqueue_lock: Mutex::new(()),
            wake: Notify::new(),
            aborted: watch::channel(None).0,
            permissions: Mutex::new(Permissions::default()),
            stop: watch::channel(false).0,
            bridge: Mutex::new(None),
        });
        self.agents
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(session.name.clone(), agent.clone());
        if session.exited().is_none() {
            tokio::spawn(agent.clone().run_queue());
        }
        tokio::spawn(agent.clone().drive(cursor));
        agent.clone().perform_startup();
        let launch: serde_json::Value = serde_json::from_str(&row.launch).unwrap_or_default();
        if let Some(pattern) = launch["transcript"].as_str() {
            tokio::spawn(agent.clone().tail(pattern.to_string(), false));
        }
        if launch["bridge"] == true {
            let client = super::bridge_client::BridgeClient::new(crate::bridge::socket_path(&session.dir));
            *agent.bridge.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(client));
            let log = crate::bridge::protocol_log(&session.dir).to_string_lossy().into_owned();
            tokio::spawn(agent.clone().tail(log, true));
        }
        Ok(agent)
    }

    /// Swap new builds of provider plugins into running sessions.
    async fn follow_plugins(self: Arc<Self>) {
        let mut rx = self.plugins.subscribe();
        loop {
            match rx.recv().await {
                Ok(PluginChange::Loaded(name)) => {
                    let Some(plugin) = self.plugins.get(&name).filter(|p| p.manifest.kind == Kind::Provider) else {
                        continue;
                    };
                    let agents: Vec<Arc<Agent>> = self
                        .agents
                        .read()
                        .unwrap_or_else(|p| p.into_inner())
                        .values()
                        .cloned()
                        .collect();
                    for a in agents {
                        if a.session.row().provider != name {
                            continue;
                        }
                        let mut p = a.provider.lock().await;
                        if let Some(p) = p.as_mut()
                            && !Arc::ptr_eq(p.plugin(), &plugin)
                        {
                            p.replace_plugin(plugin.clone());
                            tracing::info!(session = %a.session.name, plugin = %name, "provider reloaded");
                        }
                    }
                }
                Ok(PluginChange::Removed(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    }

    /// Delete a session and stop its agent.
    pub async fn delete(&self, name: &str) -> Result<(), SessionError> {
        let agent = self.get(name)?;
        agent.shutdown();
        self.sessions.delete(name).await?;
        self.agents.write().unwrap_or_else(|p| p.into_inner()).remove(name);
        Ok(())
    }

    /// Enqueue a message (durable before returning).
    pub fn enqueue(&self, name: &str, req: EnqueueRequest) -> Result<EnqueueResult, QueueError> {
        let agent = self.get(name)?;
        if agent.session.exited().is_some() {
            return Err(SessionError::Exited(name.to_string()).into());
        }
        if req.text.trim().is_empty() {
            return Err(QueueError::Invalid("text is empty".into()));
        }
        if req.text.len() > 256 * 1024 {
            return Err(QueueError::Invalid(format!(
                "text is {} bytes; the limit is 262144",
                req.text.len()
            )));
        }
        if !req.metadata.is_object() && !req.metadata.is_null() {
            return Err(QueueError::Invalid("metadata must be a JSON object".into()));
        }
        let metadata = if req.metadata.is_null() {
            json!({})
        } else {
            req.metadata.clone()
        };
        let id = message_id();
        let _order = agent.enqueue_lock.lock().unwrap_or_else(|p| p.into_inner());
        let new = NewMessage {
            id: &id,
            session: name,
            text: &req.text,
            metadata: &metadata,
            idempotency_key: req.idempotency_key.as_deref(),
            source: &req.source,
            cap: self.config.limits.queue_cap,
        };
        // The message and its `message-queued` event commit together.
        let outcome = agent.bus.publish_with("message-queued", |row| {
            let outcome = self.store.message_enqueue(&new, |m, position| {
                row(json!({"id": m.id, "text": m.text, "position": position, "source": m.source}))
            })?;
            let stored = matches!(outcome, Enqueued::New(..));
            Ok::<_, crate::store::StoreError>((outcome, stored))
        })?;
        match outcome {
            Enqueued::New(m, position) => {
                agent.wake.notify_one();
                Ok(EnqueueResult {
                    id: m.id,
                    position,
                    status: m.status,
                    duplicate: false,
                })
            }
            Enqueued::Existing(m) => {
                let position = self.position(name, &m.id);
                Ok(EnqueueResult {
                    id: m.id,
                    position,
                    status: m.status,
                    duplicate: true,
                })
            }
            Enqueued::Full(n) => Err(QueueError::Full(n)),
        }
    }

    fn position(&self, name: &str, id: &str) -> usize {
        self.store
            .message_queue(name)
            .map(|q| q.iter().position(|m| m.id == id).map_or(0, |p| p + 1))
            .unwrap_or(0)
    }

    /// One message.
    pub fn message(&self, name: &str, id: &str) -> Result<MessageRow, QueueError> {
        self.get(name)?;
        self.store
            .message_get(name, id)?
            .ok_or_else(|| QueueError::NotFound(format!("session `{name}` has no message `{id}`")))
    }

    /// Wait until message `id` leaves queued/running (or `timeout`).
    pub async fn wait(&self, name: &str, id: &str, timeout: Duration) -> Result<MessageRow, QueueError> {
        let agent = self.get(name)?;
        let mut events = agent.bus.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let m = self.message(name, id)?;
            if m.status != status::QUEUED && m.status != status::RUNNING {
                return Ok(m);
            }
            tokio::select! {
                _ = events.recv() => {}
                _ = tokio::time::sleep_until(deadline) => return Ok(m),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Type into the running turn, or queue if idle (or if the provider
    /// cannot steer).
    pub async fn steer(&self, name: &str, text: String) -> Result<SteerResult, QueueError> {
        let agent = self.get(name)?;
        if text.trim().is_empty() {
            return Err(QueueError::Invalid("text is empty".into()));
        }
        if agent.turn().is_some() {
            let encoded = {
                let mut p = agent.provider.lock().await;
                match p.as_mut() {
                    Some(p) => Some(p.encode_steer(&text).await),
                    None => None,
                }
            };
            if let Some(Ok(Ok(acts))) = encoded {
                agent.perform(&acts).await.map_err(QueueError::Delivery)?;
                agent.bus.emit("steer", json!({"text": text}));
                return Ok(SteerResult {
                    mode: "steer",
                    id: None,
                });
            }
        }
        let r = self.enqueue(
            name,
            EnqueueRequest {
                text,
                metadata: json!({}),
                idempotency_key: None,
                source: "steer".into(),
            },
        )?;
        Ok(SteerResult {
            mode: "queued",
            id: Some(r.id),
        })
    }

    /// Cancel a queued message.
    pub fn cancel(&self, name: &str, id: &str) -> Result<MessageRow, QueueError> {
        let agent = self.get(name)?;
        let m = self.message(name, id)?;
        if m.status != status::QUEUED {
            return Err(QueueError::Conflict(format!(
                "message `{id}` is {}; only queued messages can be cancelled",
                m.status
            )));
        }
        if !self
            .store
            .message_transition(id, status::QUEUED, status::CANCELLED, None, Some("cancelled"))?
        {
            return Err(QueueError::Conflict(format!(
                "message `{id}` started before it could be cancelled"
            )));
        }
        agent.emit_failed(id, status::CANCELLED, "cancelled");
        self.message(name, id)
    }

    /// Abort the running turn.
    pub async fn abort(&self, name: &str) -> Result<Option<String>, QueueError> {
        Ok(self.get(name)?.abort().await)
    }

    /// Clear the queue, abort the running turn, restart the agent.
    pub async fn reset(&self, name: &str) -> Result<serde_json::Value, QueueError> {
        let agent = self.get(name)?;
        let cancelled = self.store.message_cancel_all(name, "reset")?;
        for id in &cancelled {
            agent.emit_failed(id, status::CANCELLED, "reset");
        }
        if agent.session.exited().is_some() {
            self.restart(name).await?;
            return Ok(json!({"ok": true, "cancelled": cancelled, "aborted": null}));
        }
        let aborted = agent.abort().await;
        self.respawn_in_place(&agent).await?;
        Ok(json!({"ok": true, "cancelled": cancelled, "aborted": aborted}))
    }

    /// Start the session's agent again. An exited session gets a new pane
    /// and a new agent half on the same log and event bus; a running one has
    /// its agent relaunched in its pane, the running turn failed with
    /// `agent restarted` and the queue kept.
    pub async fn restart(&self, name: &str) -> Result<Arc<Agent>, QueueError> {
        let agent = self.get(name)?;
        if agent.session.exited().is_none() {
            if let Some(turn) = agent.turn() {
                if self.store.message_transition(
                    &turn.id,
                    status::RUNNING,
                    status::FAILED,
                    None,
                    Some("agent restarted"),
                )? {
                    agent.emit_failed(&turn.id, status::FAILED, "agent restarted");
                }
                agent.aborted.send_replace(Some(turn.id));
            }
            self.respawn_in_place(&agent).await?;
            return Ok(agent);
        }
        // The old agent half stops first (whatever its exit handling got to:
        // nothing of the old life may stay running or queued).
        agent.shutdown();
        agent.fail_all("agent exited");
        agent.permissions.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let session = self.sessions.relaunch(name).await?;
        // The new provider instance starts after the old agent's output.
        let cursor = session.log.meta().last_seq;
        self.store.session_set_provider_seq(name, cursor)?;
        let fresh = self.spawn(session, cursor, Some(agent.bus.clone())).await?;
        fresh
            .bus
            .emit("state", json!({"value": "starting", "source": "process", "tool": null}));
        Ok(fresh)
    }

    /// Relaunch a running session's agent in its pane with a fresh launch
    /// spec and provider instance; pending permissions are dropped.
    async fn respawn_in_place(&self, agent: &Arc<Agent>) -> Result<(), QueueError> {
        agent.permissions.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let plugin = self
            .plugins
            .of_kind(&agent.session.row().provider, Kind::Provider)
            .map_err(SessionError::from)?;
        let req = agent.session.row().launch_request();
        self.sessions.respawn(&agent.session, &plugin, &req).await?;
        let fresh = ProviderInstance::new(plugin, req).await.map_err(SessionError::from)?;
        *agent.provider.lock().await = Some(fresh);
        agent.clone().perform_startup();
        agent
            .bus
            .emit("state", json!({"value": "starting", "source": "process", "tool": null}));
        agent.wake.notify_one();
        Ok(())
    }

    /// Answer permission request `id` (first answer wins).
    pub async fn answer_permission(&self, name: &str, id: &str, decision: &str) -> Result<(), QueueError> {
        let agent = self.get(name)?;
        let d = match decision {
            "allow" => PermissionDecision::Allow,
            "deny" => PermissionDecision::Deny,
            "always" => PermissionDecision::Always,
            other => {
                return Err(QueueError::Invalid(format!(
                    "decision {other:?} must be allow, deny or always"
                )));
            }
        };
        let pending: PendingPermission = match agent
            .permissions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .claim(id, decision)
        {
            Claim::Pending(p) => p,
            Claim::Resolved(d) => {
                return Err(QueueError::Conflict(format!(
                    "permission request `{id}` was already answered ({d})"
                )));
            }
            Claim::Unknown => {
                return Err(QueueError::NotFound(format!(
                    "session `{name}` has no permission request `{id}`"
                )));
            }
        };
        let encoded = {
            let mut p = agent.provider.lock().await;
            match p.as_mut() {
                Some(p) => p.encode_permission(id, &d).await,
                None => {
                    agent
                        .permissions
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .unclaim(pending);
                    return Err(QueueError::Delivery(agent.provider_unavailable()));
                }
            }
        };
        let acts = match encoded {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                agent
                    .permissions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .unclaim(pending);
                return Err(QueueError::Delivery(format!(
                    "the provider refused the answer: {}",
                    e.message
                )));
            }
            Err(e) => {
                agent
                    .permissions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .unclaim(pending);
                return Err(QueueError::Delivery(e.to_string()));
            }
        };
        agent.perform(&acts).await.map_err(QueueError::Delivery)?;
        agent.bus.emit(
            "permission-resolved",
            json!({"permissionId": id, "decision": decision, "toolName": pending.tool_name}),
        );
        Ok(())
    }

    /// Pending permission requests of a session.
    pub fn pending_permissions(&self, name: &str) -> Result<Vec<PendingPermission>, SessionError> {
        Ok(self
            .get(name)?
            .permissions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pending())
    }

    /// Every agent.
    pub fn all(&self) -> Vec<Arc<Agent>> {
        self.agents
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Session-level failure.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Bad input (400).
    #[error("{0}")]
    Invalid(String),
    /// Unknown message or permission (404).
    #[error("{0}")]
    NotFound(String),
    /// State conflict (409).
    #[error("{0}")]
    Conflict(String),
    /// Queue full (429).
    #[error("the queue is full ({0} messages waiting; limits.queue_cap)")]
    Full(usize),
    /// Input could not be delivered to the agent (502).
    #[error("{0}")]
    Delivery(String),
}

impl From<crate::store::StoreError> for QueueError {
    fn from(e: crate::store::StoreError) -> Self {
        QueueError::Session(e.into())
    }
}
