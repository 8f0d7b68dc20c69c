//! Feeds the provider from the output log, asynchronously and coalesced
//! (many chunks per call), so the terminal stream never waits on a plugin;
//! turns its updates into events, state and input actions.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;

use super::Agent;
use super::permissions::PendingPermission;
use crate::events::{agent_event, state_event, state_names};
use crate::plugins::bindings::types::{AgentEvent, Screen};
use crate::plugins::provider_instance::Update;
use crate::session::StateInfo;

/// Most output bytes per provider call.
const FEED_BYTES: usize = 256 * 1024;
/// How often the provider's output cursor is saved.
const SAVE_EVERY: Duration = Duration::from_millis(500);

impl Agent {
    /// Apply a provider update: publish events, set state, perform actions.
    pub(super) async fn apply(&self, update: Update) {
        let mut items = Vec::with_capacity(update.events.len() + 1);
        for e in &update.events {
            if let AgentEvent::PermissionRequest(p) = e {
                self.permissions
                    .lock()
                    .unwrap_or_else(|x| x.into_inner())
                    .ask(PendingPermission {
                        permission_id: p.permission_id.clone(),
                        tool_name: p.tool_name.clone(),
                        description: p.description.clone(),
                        asked_at: crate::util::now_ms(),
                    });
            }
            items.push(agent_event(e));
        }
        if let Some(s) = &update.state {
            let (value, source) = state_names(s);
            let before = self.session.state.borrow().clone();
            if before.value != value || before.tool != s.tool {
                self.session.set_state(StateInfo::new(&value, &source, s.tool.clone()));
                items.push(state_event(&value, &source, s.tool.as_deref()));
            }
        }
        if let Err(e) = self.bus.publish(items) {
            tracing::error!(session = %self.session.name, error = %e, "storing events failed");
        }
        if update.state.is_some() {
            self.wake.notify_one();
        }
        if !update.actions.is_empty()
            && let Err(e) = self.perform(&update.actions).await
        {
            tracing::warn!(session = %self.session.name, error = %e, "provider input actions failed");
        }
    }

    /// Run the provider driver until the agent stops.
    pub(super) async fn drive(self: Arc<Self>, mut cursor: u64) {
        let mut live = self.session.subscribe();
        let mut exit = self.session.exit.subscribe();
        let mut stop = self.stop.subscribe();
        let mut last_save = Instant::now();
        let mut saved = cursor;
        let poll_ms = self.screen_poll_ms();
        let mut last_screen_seq = 0;
        let mut exited_fed = false;
        loop {
            // Everything new in the log, coalesced.
            let chunks = match self.session.log.read_from(cursor + 1, FEED_BYTES) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(session = %self.session.name, error = %e, "provider cannot read the log");
                    Vec::new()
                }
            };
            if let Some(last) = chunks.last() {
                let first = chunks[0].seq;
                if first > cursor + 1 {
                    tracing::warn!(session = %self.session.name, from = cursor + 1, to = first - 1, "provider skipped output dropped by retention");
                }
                cursor = last.seq;
                let data: Vec<u8> = chunks.iter().flat_map(|c| c.data.iter().copied()).collect();
                let update = {
                    let mut p = self.provider.lock().await;
                    match p.as_mut() {
                        Some(p) => p.feed_output(&data).await.ok(),
                        None => None,
                    }
                };
                if let Some(u) = update {
                    self.apply(u).await;
                }
                if last_save.elapsed() >= SAVE_EVERY && saved != cursor {
                    let _ = self.store.session_set_provider_seq(&self.session.name, cursor);
                    saved = cursor;
                    last_save = Instant::now();
                }
                continue;
            }
            if saved != cursor {
                let _ = self.store.session_set_provider_seq(&self.session.name, cursor);
                saved = cursor;
            }
            if let Some(info) = self.session.exited()
                && !exited_fed
            {
                exited_fed = true;
                self.on_exit(info.code).await;
            }
            let poll = tokio::time::sleep(if poll_ms > 0 {
                Duration::from_millis(poll_ms as u64)
            } else {
                Duration::from_secs(3600)
            });
            tokio::select! {
                r = live.recv() => if let Err(RecvError::Closed) = r { tokio::time::sleep(Duration::from_millis(50)).await },
                _ = exit.changed() => {}
                _ = stop.changed() => return,
                _ = poll, if poll_ms > 0 && !exited_fed => {
                    if cursor != last_screen_seq {
                        last_screen_seq = cursor;
                        self.feed_screen().await;
                    }
                }
            }
        }
    }

    fn screen_poll_ms(&self) -> u32 {
        serde_json::from_str::<serde_json::Value>(&self.session.row().launch)
            .ok()
            .and_then(|v| v["screenPollMs"].as_u64())
            .unwrap_or(0)
            .min(60_000) as u32
    }

    async fn feed_screen(&self) {
        let Ok(snap) = self.session.snapshot().await else {
            return;
        };
        let screen = Screen {
            cols: snap.cols,
            rows: snap.rows,
            cursor_x: snap.cursor.x,
            cursor_y: snap.cursor.y,
            alternate: snap.alternate,
            lines: snap.lines,
            seq: snap.seq,
        };
        let update = {
            let mut p = self.provider.lock().await;
            match p.as_mut() {
                Some(p) => p.feed_screen(&screen).await.ok(),
                None => None,
            }
        };
        if let Some(u) = update {
            self.apply(u).await;
        }
    }

    /// Feed one transcript or protocol line to the provider.
    pub async fn feed_line(&self, protocol: bool, line: &str) {
        let update = {
            let mut p = self.provider.lock().await;
            match p.as_mut() {
                Some(p) if protocol => p.feed_protocol(line).await.ok(),
                Some(p) => p.feed_transcript(line).await.ok(),
                None => None,
            }
        };
        if let Some(u) = update {
            self.apply(u).await;
        }
    }

    /// The agent process ended: tell the provider, fail what can no longer run.
    async fn on_exit(&self, code: Option<i32>) {
        let update = {
            let mut p = self.provider.lock().await;
            match p.as_mut() {
                Some(p) => p.process_exited(code).await.ok(),
                None => None,
            }
        };
        if let Some(u) = update {
            self.apply(u).await;
        }
        if self.session.state.borrow().value != "exited" {
            self.session.set_state(StateInfo::new("exited", "process", None));
            let (k, f) = state_event("exited", "process", None);
            self.bus.emit(k, f);
        }
        self.permissions.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let reason = match code {
            Some(c) => format!("agent exited with status {c}"),
            None => "agent exited".to_string(),
        };
        self.fail_all(&reason);
        self.wake.notify_one();
    }
}
