//! Feeds the provider from the output log, asynchronously and coalesced
//! (many chunks per call), so the terminal stream never waits on a plugin;
//! turns its updates into events, state and input actions.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;

use super::Agent;
use super::permissions::PendingPermission;
use crate::events::{AgentState, Event, StateInfo};
use crate::plugins::bindings::types::{AgentEvent, Screen};
use crate::plugins::provider_instance::Update;

/// Most output bytes per provider call (and per log read).
const FEED_MAX: usize = 256 * 1024;
/// Fewest output bytes per provider call under a burst.
const FEED_MIN: usize = 4 * 1024;
/// Bytes of a session's first call: small enough for an interpreted
/// provider; a fast one doubles to `FEED_MAX` in three calls.
const FEED_START: usize = 32 * 1024;
/// How often the provider's output cursor is saved while the output it
/// reads produces no events (at once when it does).
const SAVE_EVERY: Duration = Duration::from_millis(500);

/// How many output bytes go into one `feed-output` call. Calls are sized so
/// that each takes at most about a quarter of the plugin's deadline: an
/// interpreted (Python, JavaScript) provider gets smaller calls under a
/// burst instead of hitting its deadline and losing its parser state, a
/// fast one keeps the largest coalescing.
struct FeedSize(usize);

impl FeedSize {
    /// Adjust after a call that took `took` for `fed` bytes.
    fn after(&mut self, took: Duration, deadline: Duration, fed: usize) {
        if took > deadline / 4 {
            self.0 = (self.0 / 2).max(FEED_MIN);
        } else if took < deadline / 16 && fed >= self.0 {
            self.0 = (self.0 * 2).min(FEED_MAX);
        }
    }
}

/// Publish `events` with a `state` event for `state` when it differs from
/// `current`, then set `current`: the batch is stored and fanned out before
/// anyone watching `current` sees the new state. The new state's value, if
/// it changed; `failed` hears a store error (the state is set anyway).
pub(super) fn publish_then_set(
    bus: &crate::events::EventBus,
    current: &tokio::sync::watch::Sender<StateInfo>,
    mut events: Vec<Event>,
    state: Option<StateInfo>,
    failed: impl FnOnce(&crate::store::StoreError),
) -> Option<crate::events::AgentState> {
    let changed = state.filter(|s| !current.borrow().same_as(s));
    if let Some(s) = &changed {
        events.push(Event::state(s));
    }
    if let Err(e) = bus.publish(events) {
        failed(&e);
    }
    let s = changed?;
    let value = s.value.clone();
    current.send_replace(s);
    Some(value)
}

impl Agent {
    /// Publish `events` and, when it differs, the new `state` (as a `state`
    /// event in the same batch). The only writer of the agent's state, and
    /// it writes only after the batch is out: the queue starts the next turn
    /// on `idle`, and that turn must not see this batch's `turn-aborted` or
    /// `task-complete` as its own end.
    /// Once the agent's process has ended, no late transcript line or
    /// screen can make it look alive again: only `exited` is taken until
    /// the next launch.
    pub(super) fn publish(&self, events: Vec<Event>, state: Option<StateInfo>) {
        let dead = self.terminal.exited().is_some();
        let state = state.filter(|s| !dead || s.value == crate::events::AgentState::Exited);
        if events.iter().any(|e| matches!(e, Event::TaskStarted)) {
            self.announces_turns.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        let changed = publish_then_set(&self.bus, &self.state, events, state, |e| {
            tracing::error!(session = %self.name, error = %e, "storing events failed");
        });
        if let Some(s) = changed {
            if s == crate::events::AgentState::Idle {
                *self.unsettled_since.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
            self.wake.notify_one();
        }
    }

    /// Apply a provider update of launch `life`: record permission requests,
    /// publish events and state, perform actions. An update of an earlier
    /// launch (its instance answered while the agent was relaunched) is
    /// dropped: only the new instance speaks for the new agent.
    pub(super) async fn apply(&self, update: Update, life: u64) {
        if *self.life.borrow() != life {
            tracing::debug!(session = %self.name, "dropping an update of an earlier launch");
            return;
        }
        let mut events = Vec::with_capacity(update.events.len() + 1);
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
            events.push(Event::from(e));
        }
        let state = update.state.as_ref().map(StateInfo::from);
        let had_state = state.is_some();
        self.publish(events, state);
        if had_state {
            self.wake.notify_one();
        }
        if !update.actions.is_empty()
            && let Err(e) = self.perform(&update.actions).await
        {
            tracing::warn!(session = %self.name, error = %e, "provider input actions failed");
        }
    }

    /// Run the provider driver until the agent stops.
    pub(super) async fn drive(self: Arc<Self>, mut cursor: u64) {
        let mut live = self.terminal.subscribe();
        let mut exit = self.terminal.exit_watch();
        let mut losses = self.terminal.loss_watch();
        losses.mark_changed(); // any recorded before this task started
        let mut stop = self.stop.subscribe();
        let mut life = self.life.subscribe();
        let mut last_save = Instant::now();
        let mut saved = cursor;
        let mut last_screen_seq = 0;
        // The launch whose exit was handled.
        let mut exit_handled: Option<u64> = None;
        let mut feed = FeedSize(FEED_START);
        // A state carried over a restart may rest on output the sink never
        // wrote: once the log is caught up, check it (see `lost.rs`).
        let mut restored_working = self.state().value == AgentState::Working;
        loop {
            cursor = cursor.max(self.first_seq_of_life.load(Ordering::SeqCst).saturating_sub(1));
            // Everything new in the log, coalesced.
            let chunks = match self.terminal.log.read_from(cursor + 1, FEED_MAX) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(session = %self.name, error = %e, "provider cannot read the log");
                    Vec::new()
                }
            };
            if let Some(last) = chunks.last() {
                let first = chunks[0].seq;
                if first > cursor + 1 {
                    tracing::warn!(session = %self.name, from = cursor + 1, to = first - 1, "provider skipped output dropped by retention");
                }
                cursor = last.seq;
                let data: Vec<u8> = chunks.iter().flat_map(|c| c.data.iter().copied()).collect();
                let mut rest = &data[..];
                let mut published = false;
                while !rest.is_empty() {
                    let (part, after) = rest.split_at(feed.0.min(rest.len()));
                    rest = after;
                    let (update, fed_life) = {
                        let mut p = self.provider.lock().await;
                        let fed_life = *self.life.borrow();
                        let update = match p.as_mut() {
                            Some(p) => {
                                let (started, deadline) = (Instant::now(), p.plugin().limits.deadline);
                                let r = p.feed_output(part).await;
                                feed.after(started.elapsed(), deadline, part.len());
                                r.ok()
                            }
                            None => None,
                        };
                        (update, fed_life)
                    };
                    if let Some(u) = update {
                        published |= !u.events.is_empty() || u.state.is_some();
                        self.apply(u, fed_life).await;
                    }
                }
                // Output that produced events is never fed again after a
                // restart (a replayed prompt mark would end a resumed turn
                // as if it were new); quiet output is saved lazily.
                if (published || last_save.elapsed() >= SAVE_EVERY) && saved != cursor {
                    let _ = self.host.store.session_set_provider_seq(&self.name, cursor);
                    saved = cursor;
                    last_save = Instant::now();
                }
                continue;
            }
            if saved != cursor {
                let _ = self.host.store.session_set_provider_seq(&self.name, cursor);
                saved = cursor;
            }
            if std::mem::take(&mut restored_working) {
                self.reconcile_lost_output(None).await;
            }
            let this_life = *life.borrow_and_update();
            if let Some(info) = self.terminal.exited()
                && exit_handled != Some(this_life)
            {
                exit_handled = Some(this_life);
                self.on_exit(info.code).await;
            }
            let poll_ms = self.screen_poll_ms.load(Ordering::SeqCst);
            let polling = poll_ms > 0 && self.terminal.exited().is_none();
            tokio::select! {
                r = live.recv() => if let Err(RecvError::Closed) = r { tokio::time::sleep(Duration::from_millis(50)).await },
                _ = exit.changed() => {}
                _ = losses.changed() => {
                    let lost = self.terminal.take_losses();
                    if let Some(reason) = lost.last().map(|l| l.reason.clone()) {
                        self.publish(lost.into_iter().map(Event::from).collect(), None);
                        self.reconcile_lost_output(Some(&reason)).await;
                    }
                }
                _ = life.changed() => {}
                _ = stop.changed() => return,
                _ = tokio::time::sleep(Duration::from_millis(poll_ms as u64)), if polling => {
                    // While a dialog waits the screen is fed even unchanged:
                    // a provider can see its answer was not taken.
                    if cursor != last_screen_seq || self.state().value == AgentState::WaitingPermission {
                        last_screen_seq = cursor;
                        self.feed_screen().await;
                    }
                }
            }
        }
    }

    async fn feed_screen(&self) {
        let Ok(snap) = self.terminal.snapshot().await else {
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
        let (update, fed_life) = {
            let mut p = self.provider.lock().await;
            let fed_life = *self.life.borrow();
            let update = match p.as_mut() {
                Some(p) => p.feed_screen(&screen).await.ok(),
                None => None,
            };
            (update, fed_life)
        };
        if let Some(u) = update {
            self.apply(u, fed_life).await;
        }
    }

    /// Feed one transcript or protocol line of launch `life` to the provider.
    pub async fn feed_line(&self, protocol: bool, line: &str, life: u64) {
        let update = {
            let mut p = self.provider.lock().await;
            if *self.life.borrow() != life {
                return; // a line of an earlier launch
            }
            match p.as_mut() {
                Some(p) if protocol => p.feed_protocol(line).await.ok(),
                Some(p) => p.feed_transcript(line).await.ok(),
                None => None,
            }
        };
        if let Some(u) = update {
            self.apply(u, life).await;
        }
    }

    /// The agent process ended: tell the provider, fail what can no longer run.
    async fn on_exit(&self, code: Option<i32>) {
        let (update, fed_life) = {
            let mut p = self.provider.lock().await;
            let fed_life = *self.life.borrow();
            let update = match p.as_mut() {
                Some(p) => p.process_exited(code).await.ok(),
                None => None,
            };
            (update, fed_life)
        };
        if let Some(u) = update {
            self.apply(u, fed_life).await;
        }
        self.publish(Vec::new(), Some(StateInfo::exited()));
        self.permissions.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let reason = match code {
            Some(c) => format!("agent exited with status {c}"),
            None => "agent exited".to_string(),
        };
        self.fail_all(&reason);
        self.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_size_halves_for_slow_calls_and_grows_back_for_fast_ones() {
        let deadline = Duration::from_millis(100);
        let mut f = FeedSize(FEED_MAX);
        f.after(Duration::from_millis(60), deadline, FEED_MAX);
        assert_eq!(f.0, FEED_MAX / 2);
        for _ in 0..20 {
            f.after(Duration::from_millis(200), deadline, f.0);
        }
        assert_eq!(f.0, FEED_MIN, "never below the minimum");
        // A fast call on a short read (fewer bytes than allowed) says nothing.
        f.after(Duration::from_millis(1), deadline, 10);
        assert_eq!(f.0, FEED_MIN);
        for _ in 0..20 {
            f.after(Duration::from_millis(1), deadline, f.0);
        }
        assert_eq!(f.0, FEED_MAX, "never above the maximum");
        // In between: unchanged.
        f.after(Duration::from_millis(10), deadline, f.0);
        assert_eq!(f.0, FEED_MAX);
    }
}
