//! What the API asks of an agent: enqueue, wait, steer, cancel, reset, and
//! permission answers.

use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

use super::Agent;
use super::permissions::{Claim, PendingPermission};
use crate::events::{Decision, Event};
use crate::plugins::bindings::types::PermissionDecision;
use crate::session::SessionError;
use crate::store::{Enqueued, MessageRow, MessageStatus, NewMessage};

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
    pub status: MessageStatus,
    /// Whether an earlier message with the same idempotency key was returned.
    pub duplicate: bool,
}

/// How a steer was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SteerMode {
    /// Typed into the running turn.
    Steer,
    /// No turn was running: queued as a message.
    Queued,
}

/// What a steer did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SteerResult {
    /// `steer` (typed into the running turn) or `queued`.
    pub mode: SteerMode,
    /// The queued message id, when queued.
    pub id: Option<String>,
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

fn message_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 9];
    rand::rng().fill_bytes(&mut b);
    format!("msg_{}", hex::encode(b))
}

/// Largest message text.
const MAX_TEXT: usize = 256 * 1024;

impl Agent {
    /// Enqueue a message (durable before returning).
    pub fn enqueue(&self, req: EnqueueRequest) -> Result<EnqueueResult, QueueError> {
        if self.terminal.exited().is_some() {
            return Err(SessionError::Exited(self.name.clone()).into());
        }
        if req.text.trim().is_empty() {
            return Err(QueueError::Invalid("text is empty".into()));
        }
        if req.text.len() > MAX_TEXT {
            return Err(QueueError::Invalid(format!(
                "text is {} bytes; the limit is {MAX_TEXT}",
                req.text.len()
            )));
        }
        let metadata = match req.metadata {
            serde_json::Value::Null => json!({}),
            m @ serde_json::Value::Object(_) => m,
            _ => return Err(QueueError::Invalid("metadata must be a JSON object".into())),
        };
        let id = message_id();
        let _order = self.enqueue_lock.lock().unwrap_or_else(|p| p.into_inner());
        let new = NewMessage {
            id: &id,
            session: &self.name,
            text: &req.text,
            metadata: &metadata,
            idempotency_key: req.idempotency_key.as_deref(),
            source: &req.source,
            cap: self.host.config.limits.queue_cap,
        };
        // The message and its `message-queued` event commit together.
        let outcome = self.bus.publish_in(|numbering| {
            let mut envelope = None;
            let outcome = self.host.store.message_enqueue(&new, |m, position| {
                let e = numbering.envelope(Event::MessageQueued {
                    id: m.id.clone(),
                    text: m.text.clone(),
                    position,
                    source: m.source.clone(),
                });
                let row = e.stored();
                envelope = Some(e);
                row
            })?;
            let stored = if matches!(outcome, Enqueued::New(..)) {
                envelope
            } else {
                None
            };
            Ok::<_, crate::store::StoreError>((outcome, stored))
        })?;
        match outcome {
            Enqueued::New(m, position) => {
                self.wake.notify_one();
                Ok(EnqueueResult {
                    id: m.id,
                    position,
                    status: m.status,
                    duplicate: false,
                })
            }
            Enqueued::Existing(m) => {
                if m.text != req.text {
                    return Err(QueueError::Conflict(format!(
                        "the Idempotency-Key was used for message `{}` with a different text",
                        m.id
                    )));
                }
                Ok(EnqueueResult {
                    position: self.position(&m.id),
                    id: m.id,
                    status: m.status,
                    duplicate: true,
                })
            }
            Enqueued::Full(n) => Err(QueueError::Full(n)),
        }
    }

    fn position(&self, id: &str) -> usize {
        self.host
            .store
            .message_queue(&self.name)
            .map(|q| q.iter().position(|m| m.id == id).map_or(0, |p| p + 1))
            .unwrap_or(0)
    }

    /// One message.
    pub fn message(&self, id: &str) -> Result<MessageRow, QueueError> {
        self.host
            .store
            .message_get(&self.name, id)?
            .ok_or_else(|| QueueError::NotFound(format!("session `{}` has no message `{id}`", self.name)))
    }

    /// Wait until message `id` leaves queued/running (or `timeout`).
    pub async fn wait(&self, id: &str, timeout: Duration) -> Result<MessageRow, QueueError> {
        let mut events = self.bus.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let m = self.message(id)?;
            if m.status.is_final() {
                return Ok(m);
            }
            tokio::select! {
                _ = events.recv() => {}
                _ = tokio::time::sleep_until(deadline) => return Ok(m),
            }
        }
    }

    /// Type into the running turn, or queue if idle (or if the provider
    /// cannot steer).
    pub async fn steer(&self, text: String) -> Result<SteerResult, QueueError> {
        if text.trim().is_empty() {
            return Err(QueueError::Invalid("text is empty".into()));
        }
        if self.turn().is_some() {
            let encoded = {
                let mut p = self.provider.lock().await;
                match p.as_mut() {
                    Some(p) => Some(p.encode_steer(&text).await),
                    None => None,
                }
            };
            if let Some(Ok(Ok(acts))) = encoded {
                self.perform(&acts).await.map_err(QueueError::Delivery)?;
                self.bus.emit(Event::Steer { text });
                return Ok(SteerResult {
                    mode: SteerMode::Steer,
                    id: None,
                });
            }
        }
        let r = self.enqueue(EnqueueRequest {
            text,
            metadata: json!({}),
            idempotency_key: None,
            source: "steer".into(),
        })?;
        Ok(SteerResult {
            mode: SteerMode::Queued,
            id: Some(r.id),
        })
    }

    /// Cancel a queued message.
    pub fn cancel(&self, id: &str) -> Result<MessageRow, QueueError> {
        let m = self.message(id)?;
        if m.status != MessageStatus::Queued {
            return Err(QueueError::Conflict(format!(
                "message `{id}` is {}; only queued messages can be cancelled",
                m.status
            )));
        }
        if !self.host.store.message_transition(
            id,
            MessageStatus::Queued,
            MessageStatus::Cancelled,
            None,
            Some("cancelled"),
        )? {
            return Err(QueueError::Conflict(format!(
                "message `{id}` started before it could be cancelled"
            )));
        }
        self.emit_failed(id, MessageStatus::Cancelled, "cancelled");
        self.message(id)
    }

    /// Clear the queue, abort the running turn, restart the agent (an
    /// exited agent starts again in a new pane). Returns the cancelled ids
    /// and the aborted one.
    pub async fn reset(self: &Arc<Self>) -> Result<(Vec<String>, Option<String>), QueueError> {
        let cancelled = self.host.store.message_cancel_all(&self.name, "reset")?;
        for id in &cancelled {
            self.emit_failed(id, MessageStatus::Cancelled, "reset");
        }
        let aborted = if self.terminal.exited().is_some() {
            None
        } else {
            self.abort().await
        };
        // A reset starts a new conversation: a new uuid, so an agent that
        // pins it (`claude --session-id`) does not refuse the one in use.
        let uuid = uuid::Uuid::new_v4().to_string();
        self.host.store.session_set_uuid(&self.name, &uuid)?;
        self.row.update(|r| r.uuid = uuid);
        self.restart().await?;
        Ok((cancelled, aborted))
    }

    /// Resolve every open permission request as `cancelled`.
    pub(super) fn cancel_permissions(&self) {
        let cancelled = self.permissions.lock().unwrap_or_else(|p| p.into_inner()).cancel_all();
        for p in cancelled {
            self.bus.emit(Event::PermissionResolved {
                permission_id: p.permission_id,
                decision: Decision::Cancelled,
                tool_name: p.tool_name,
            });
        }
    }

    /// Answer permission request `id` (first answer wins).
    pub async fn answer_permission(&self, id: &str, decision: &str) -> Result<(), QueueError> {
        let decision = Decision::answer(decision).map_err(QueueError::Invalid)?;
        let d = match decision {
            Decision::Allow => PermissionDecision::Allow,
            Decision::Deny => PermissionDecision::Deny,
            Decision::Always => PermissionDecision::Always,
            Decision::Cancelled => return Err(QueueError::Invalid("a request is never answered `cancelled`".into())),
        };
        let claim = self
            .permissions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .claim(id, decision);
        let pending: PendingPermission = match claim {
            Claim::Pending(p) => p,
            Claim::Resolved(d) => {
                return Err(QueueError::Conflict(format!(
                    "permission request `{id}` was already answered ({d})"
                )));
            }
            Claim::Unknown => {
                return Err(QueueError::NotFound(format!(
                    "session `{}` has no permission request `{id}`",
                    self.name
                )));
            }
        };
        match self.encode_answer(id, &d).await {
            Ok(acts) => {
                self.perform(&acts).await.map_err(QueueError::Delivery)?;
                self.bus.emit(Event::PermissionResolved {
                    permission_id: id.to_string(),
                    decision,
                    tool_name: pending.tool_name,
                });
                Ok(())
            }
            Err(why) => {
                // Not delivered: the request is open again.
                self.permissions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .unclaim(pending);
                Err(QueueError::Delivery(why))
            }
        }
    }

    async fn encode_answer(
        &self,
        id: &str,
        d: &PermissionDecision,
    ) -> Result<Vec<crate::plugins::bindings::types::InputAction>, String> {
        let mut p = self.provider.lock().await;
        let Some(p) = p.as_mut() else {
            return Err(self.provider_unavailable());
        };
        match p.encode_permission(id, d).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(e)) => Err(format!("the provider refused the answer: {}", e.message)),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Pending permission requests.
    pub fn pending_permissions(&self) -> Vec<PendingPermission> {
        self.permissions.lock().unwrap_or_else(|p| p.into_inner()).pending()
    }
}
