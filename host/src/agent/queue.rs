//! The queue runner: one turn at a time, in FIFO order. A turn starts when
//! the agent is idle: the provider encodes the text, the host types it, and
//! the turn ends at the provider's `task-complete` (or `turn-aborted`, or
//! idle after working), the agent's exit, an abort, or the turn timeout.

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;

use super::{Agent, Turn};
use crate::store::{MessageRow, status};

/// How long a session may stay `starting` before messages go in anyway.
const STARTUP_GRACE: Duration = Duration::from_secs(15);

/// How a turn ended.
enum End {
    Done(String),
    Failed(String),
    Aborted,
}

impl Agent {
    /// Emit `message-failed` for `id` with `status` and `error`.
    pub(super) fn emit_failed(&self, id: &str, st: &str, error: &str) {
        self.bus
            .emit("message-failed", json!({"id": id, "status": st, "error": error}));
    }

    /// Fail the running turn and every queued message with `reason`.
    pub(super) fn fail_all(&self, reason: &str) {
        if let Some(t) = self.turn()
            && self
                .store
                .message_transition(&t.id, status::RUNNING, status::FAILED, None, Some(reason))
                .unwrap_or(false)
        {
            self.emit_failed(&t.id, status::FAILED, reason);
            self.aborted.send_replace(Some(t.id.clone()));
        }
        if let Ok(queue) = self.store.message_queue(&self.session.name) {
            for m in queue {
                if self
                    .store
                    .message_transition(&m.id, status::QUEUED, status::FAILED, None, Some(reason))
                    .unwrap_or(false)
                {
                    self.emit_failed(&m.id, status::FAILED, reason);
                }
            }
        }
    }

    /// Whether the agent can take a prompt now.
    fn ready(&self, created: Instant) -> bool {
        let state = self.session.state.borrow().value.clone();
        match state.as_str() {
            "idle" => true,
            "starting" => created.elapsed() >= STARTUP_GRACE,
            _ => false,
        }
    }

    /// Run turns until the agent stops.
    pub(super) async fn run_queue(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        let mut state = self.session.state.subscribe();
        let created = Instant::now();
        loop {
            if *stop.borrow() {
                return;
            }
            let next = if self.session.exited().is_none() && self.turn().is_none() && self.ready(created) {
                self.store.message_next(&self.session.name).unwrap_or(None)
            } else {
                None
            };
            match next {
                Some(m) => self.run_turn(m).await,
                None => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = state.changed() => {}
                        _ = stop.changed() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    async fn run_turn(&self, m: MessageRow) {
        if !self
            .store
            .message_transition(&m.id, status::QUEUED, status::RUNNING, None, None)
            .unwrap_or(false)
        {
            return; // cancelled meanwhile
        }
        self.set_turn(Some(Turn {
            id: m.id.clone(),
            text: m.text.clone(),
            started_at: crate::util::now_ms(),
        }));
        let mut events = self.bus.subscribe();
        self.bus.emit("message-started", json!({"id": m.id}));
        let end = self.deliver_and_wait(&m, &mut events).await;
        let (to, response, error) = match &end {
            End::Done(r) => (status::DONE, Some(r.as_str()), None),
            End::Failed(e) => (status::FAILED, None, Some(e.as_str())),
            End::Aborted => (status::ABORTED, None, Some("aborted")),
        };
        // An abort or exit may already have moved it; only the first wins.
        if self
            .store
            .message_transition(&m.id, status::RUNNING, to, response, error)
            .unwrap_or(false)
        {
            match end {
                End::Done(r) => self.bus.emit("message-done", json!({"id": m.id, "response": r})),
                End::Failed(e) => self.emit_failed(&m.id, status::FAILED, &e),
                End::Aborted => self.emit_failed(&m.id, status::ABORTED, "aborted"),
            }
        }
        self.set_turn(None);
    }

    async fn deliver_and_wait(
        &self,
        m: &MessageRow,
        events: &mut tokio::sync::broadcast::Receiver<Arc<crate::events::Event>>,
    ) -> End {
        let encoded = {
            let mut p = self.provider.lock().await;
            match p.as_mut() {
                Some(p) => p.encode_prompt(&m.text).await,
                None => return End::Failed(self.provider_unavailable()),
            }
        };
        let acts = match encoded {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return End::Failed(format!("the provider refused the message: {}", e.message)),
            Err(e) => return End::Failed(e.to_string()),
        };
        if let Err(e) = self.perform(&acts).await {
            return End::Failed(format!("delivering the message failed: {e}"));
        }
        let mut aborted = self.aborted.subscribe();
        let timeout = Duration::from_secs(self.config.limits.turn_timeout_secs);
        let deadline = tokio::time::Instant::now() + timeout;
        let mut messages: Vec<String> = Vec::new();
        let mut output = String::new();
        let mut working = false;
        let response = |messages: &Vec<String>, output: &String| {
            if messages.is_empty() {
                output.trim_end().to_string()
            } else {
                messages.join("\n")
            }
        };
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Ok(e) => match e.kind.as_str() {
                        "message" => messages.push(e.value["message"].as_str().unwrap_or("").to_string()),
                        "terminal-output" => if output.len() < (1 << 20) { output.push_str(e.value["data"].as_str().unwrap_or("")) },
                        "task-started" => working = true,
                        "task-complete" => return End::Done(response(&messages, &output)),
                        "turn-aborted" => return End::Aborted,
                        "state" => match e.value["value"].as_str() {
                            Some("working" | "waiting-permission") => working = true,
                            Some("idle") if working => return End::Done(response(&messages, &output)),
                            Some("exited") => return End::Failed("agent exited".into()),
                            _ => {}
                        },
                        _ => {}
                    },
                    Err(RecvError::Lagged(n)) => tracing::warn!(session = %self.session.name, missed = n, "turn watcher lagged"),
                    Err(RecvError::Closed) => return End::Failed("event bus closed".into()),
                },
                _ = async { aborted.wait_for(|a| a.as_deref() == Some(m.id.as_str())).await.map(drop) } => return End::Aborted,
                _ = tokio::time::sleep_until(deadline) => {
                    self.interrupt().await;
                    return End::Failed(format!("turn timed out after {} s", timeout.as_secs()));
                }
            }
        }
    }

    pub(super) fn provider_unavailable(&self) -> String {
        self.provider_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| "the provider is not available".into())
    }

    /// Send the provider's interrupt keys.
    pub(super) async fn interrupt(&self) {
        let acts = {
            let mut p = self.provider.lock().await;
            match p.as_mut() {
                Some(p) => p.encode_interrupt().await.ok(),
                None => None,
            }
        };
        let acts = acts.unwrap_or_else(|| vec![crate::plugins::bindings::types::InputAction::Keys(vec!["C-c".into()])]);
        if let Err(e) = self.perform(&acts).await {
            tracing::warn!(session = %self.session.name, error = %e, "interrupt failed");
        }
    }

    /// Abort the running turn; the aborted message id, if one ran.
    pub async fn abort(&self) -> Option<String> {
        let turn = self.turn()?;
        // The turn is marked aborted before the interrupt goes in: the
        // interrupted agent's next prompt (a shell's `133;D;130`, an agent's
        // "interrupted" record) must not end it as done first.
        if self
            .store
            .message_transition(&turn.id, status::RUNNING, status::ABORTED, None, Some("aborted"))
            .unwrap_or(false)
        {
            self.emit_failed(&turn.id, status::ABORTED, "aborted");
        }
        self.aborted.send_replace(Some(turn.id.clone()));
        self.interrupt().await;
        Some(turn.id)
    }
}
