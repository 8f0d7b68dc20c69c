//! The queue runner: one turn at a time, in FIFO order. A turn starts when
//! the agent is idle: the provider encodes the text, the host types it, and
//! a [`TurnWatch`] fed the session's events decides when it ended (or the
//! turn is aborted, fails with the agent, or times out).

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

use super::turn::{TurnEnd, TurnWatch};
use super::{Agent, Turn};
use crate::events::{AgentState, Event};
use crate::plugins::bindings::types::InputAction;
use crate::store::{MessageRow, MessageStatus};

/// How long a bridged (protocol) agent may stay `starting` before messages
/// go in anyway: a restarted daemon may have missed its handshake, which
/// the provider re-runs on the first prompt. A terminal agent never gets a
/// prompt before its provider recognised the input prompt.
const STARTUP_GRACE: Duration = Duration::from_secs(15);

/// How long after a turn ended without the agent (abort, timeout) the queue
/// waits for the agent to report `idle` again before the next prompt goes in
/// anyway. Found with the real Claude Code: an abort sent before the agent
/// had shown it was working left the state `idle` from before the prompt;
/// the next prompt was typed into the running turn and given its answer.
pub(super) const SETTLE: Duration = Duration::from_secs(30);

impl Agent {
    /// Move the running message `id` to `status` from outside the runner
    /// (abort, restart, exit) and end its turn; false if it had already
    /// left `running`.
    pub(super) fn finish_from_outside(&self, id: &str, status: MessageStatus, error: &str) -> bool {
        let moved = self
            .host
            .store
            .message_transition(id, MessageStatus::Running, status, None, Some(error))
            .unwrap_or(false);
        if moved {
            self.emit_failed(id, status, error);
        }
        self.unsettle();
        self.aborted.send_replace(Some(id.to_string()));
        moved
    }

    /// A turn ended without the agent saying so: wait for a fresh `idle`.
    fn unsettle(&self) {
        *self.unsettled_since.lock().unwrap_or_else(|p| p.into_inner()) = Some(std::time::Instant::now());
    }

    /// How long the queue still waits for a fresh `idle` after a turn ended
    /// from outside (None: it does not wait).
    fn settle_left(&self) -> Option<Duration> {
        let since = (*self.unsettled_since.lock().unwrap_or_else(|p| p.into_inner()))?;
        Some(SETTLE.saturating_sub(since.elapsed()))
    }

    /// Fail the running turn and every queued message with `reason`.
    pub(super) fn fail_all(&self, reason: &str) {
        if let Some(t) = self.turn() {
            self.finish_from_outside(&t.id, MessageStatus::Failed, reason);
        }
        if let Ok(queue) = self.host.store.message_queue(&self.name) {
            for m in queue {
                if self
                    .host
                    .store
                    .message_transition(&m.id, MessageStatus::Queued, MessageStatus::Failed, None, Some(reason))
                    .unwrap_or(false)
                {
                    self.emit_failed(&m.id, MessageStatus::Failed, reason);
                }
            }
        }
    }

    /// How long until a bridged agent still `starting` takes prompts anyway
    /// (None: it does not wait for the grace — idle, busy, or a terminal
    /// agent).
    fn grace_left(&self) -> Option<Duration> {
        let starting = self.state.borrow().value == AgentState::Starting;
        if !starting || !crate::agent::ResolvedLaunch::from_json(&self.row().launch).bridge {
            return None;
        }
        let since = self.launched_at.lock().unwrap_or_else(|p| p.into_inner()).elapsed();
        Some(STARTUP_GRACE.saturating_sub(since))
    }

    /// Whether the agent can take a prompt now.
    fn ready(&self) -> bool {
        if self.settle_left().is_some_and(|d| !d.is_zero()) {
            return false;
        }
        self.state.borrow().value == AgentState::Idle || self.grace_left() == Some(Duration::ZERO)
    }

    /// Run turns until the agent stops; first the turn a restarted daemon
    /// found running, if any.
    pub(super) async fn run_queue(self: Arc<Self>, resumed: Option<MessageRow>) {
        let mut stop = self.stop.subscribe();
        let mut state = self.state.subscribe();
        if let Some(m) = resumed {
            self.resume_turn(m).await;
        }
        loop {
            if *stop.borrow() {
                return;
            }
            let next = if self.terminal.exited().is_none() && self.turn().is_none() && self.ready() {
                self.host.store.message_next(&self.name).unwrap_or(None)
            } else {
                None
            };
            match next {
                Some(m) => self.run_turn(m).await,
                None => {
                    // A bridged agent's grace or a settle ending is no
                    // event: wait for it.
                    let grace = [self.grace_left(), self.settle_left()]
                        .into_iter()
                        .flatten()
                        .filter(|d| !d.is_zero())
                        .min();
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = state.changed() => {}
                        _ = stop.changed() => return,
                        _ = async { match grace {
                            Some(d) => tokio::time::sleep(d).await,
                            None => std::future::pending().await,
                        } } => {}
                    }
                }
            }
        }
    }

    async fn run_turn(&self, m: MessageRow) {
        if !self
            .host
            .store
            .message_transition(&m.id, MessageStatus::Queued, MessageStatus::Running, None, None)
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
        self.bus.emit(Event::MessageStarted { id: m.id.clone() });
        let end = self.deliver_and_wait(&m, &mut events).await;
        self.finish_turn(&m.id, end);
    }

    /// A turn that was running when the daemon stopped, its agent still
    /// running: reconciled before the next one starts. Its watcher is fed
    /// the events stored since its `message-started`, then what the agent
    /// reports now (the rest of its transcript, read from where the
    /// earlier daemon stopped), so its output is credited to it, never to
    /// the next message; it can be aborted as usual. If the agent is idle
    /// and reports nothing of it for [`SETTLE`], it fails.
    async fn resume_turn(&self, m: MessageRow) {
        let mut events = self.bus.subscribe();
        let mut watch = self.turn_watch();
        let from = self.host.store.event_message_started(&self.name, &m.id).ok().flatten();
        let mut seen = from.unwrap_or(self.bus.last_seq());
        let mut end = None;
        while end.is_none() {
            let page = self.bus.since(seen, 1000).unwrap_or_default();
            let Some(last) = page.last() else { break };
            seen = last.seq;
            end = page.iter().find_map(|e| watch.feed(&e.event));
        }
        if self.terminal.exited().is_some() {
            end = end.or_else(|| Some(TurnEnd::Failed("daemon restarted; the agent had exited".into())));
        }
        tracing::info!(session = %self.name, message = %m.id, ended = end.is_some(), "reconciling the turn that ran when the daemon stopped");
        let end = match end {
            Some(end) => end,
            None => self.wait_for_end(&m.id, watch, &mut events, seen, true).await,
        };
        self.finish_turn(&m.id, end);
    }

    /// A watcher for a new turn of this agent.
    fn turn_watch(&self) -> TurnWatch {
        if self.announces_turns.load(std::sync::atomic::Ordering::SeqCst) {
            TurnWatch::announced()
        } else {
            TurnWatch::new()
        }
    }

    /// Store how turn `id` ended (unless an abort or exit already moved it)
    /// and publish it; the agent has no turn after.
    fn finish_turn(&self, id: &str, end: TurnEnd) {
        let (to, response, error) = match &end {
            TurnEnd::Done(r) => (MessageStatus::Done, Some(r.as_str()), None),
            TurnEnd::Failed(e) => (MessageStatus::Failed, None, Some(e.as_str())),
            TurnEnd::Aborted => (MessageStatus::Aborted, None, Some("aborted")),
        };
        // An abort or exit may already have moved it; only the first wins.
        if self
            .host
            .store
            .message_transition(id, MessageStatus::Running, to, response, error)
            .unwrap_or(false)
        {
            match end {
                TurnEnd::Done(response) => self.bus.emit(Event::MessageDone {
                    id: id.to_string(),
                    response,
                }),
                TurnEnd::Failed(e) => self.emit_failed(id, MessageStatus::Failed, &e),
                TurnEnd::Aborted => self.emit_failed(id, MessageStatus::Aborted, "aborted"),
            }
        }
        self.set_turn(None);
    }

    async fn deliver_and_wait(
        &self,
        m: &MessageRow,
        events: &mut tokio::sync::broadcast::Receiver<Arc<crate::events::Envelope>>,
    ) -> TurnEnd {
        let encoded = {
            let mut p = self.provider.lock().await;
            match p.as_mut() {
                Some(p) => p.encode_prompt(&m.text).await,
                None => return TurnEnd::Failed(self.provider_unavailable()),
            }
        };
        let acts = match encoded {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return TurnEnd::Failed(format!("the provider refused the message: {}", e.message)),
            Err(e) => return TurnEnd::Failed(e.to_string()),
        };
        if let Err(e) = self.perform(&acts).await {
            return TurnEnd::Failed(format!("delivering the message failed: {e}"));
        }
        self.wait_for_end(&m.id, self.turn_watch(), events, 0, false).await
    }

    /// Feed `watch` the session's events (those after seq `after`) until
    /// turn `id` ends, is aborted or times out. A `resumed` turn (see
    /// [`Agent::resume_turn`]) also fails once the agent has been idle for
    /// [`SETTLE`] without reporting anything.
    async fn wait_for_end(
        &self,
        id: &str,
        mut watch: TurnWatch,
        events: &mut tokio::sync::broadcast::Receiver<Arc<crate::events::Envelope>>,
        after: u64,
        resumed: bool,
    ) -> TurnEnd {
        let mut aborted = self.aborted.subscribe();
        // A deleted session's turn ends now: a hung turn would otherwise
        // hold the agent (and its log's files) until the turn timeout.
        let mut stop = self.stop.subscribe();
        let timeout = Duration::from_secs(self.host.config.limits.turn_timeout_secs);
        let deadline = tokio::time::Instant::now() + timeout;
        let mut quiet_since = tokio::time::Instant::now();
        loop {
            let idle = self.state.borrow().value == AgentState::Idle;
            let give_up = quiet_since + SETTLE;
            tokio::select! {
                ev = events.recv() => match ev {
                    Ok(e) if e.seq <= after => {}
                    Ok(e) => {
                        quiet_since = tokio::time::Instant::now();
                        if let Some(end) = watch.feed(&e.event) {
                            return end;
                        }
                    }
                    Err(RecvError::Lagged(n)) => tracing::warn!(session = %self.name, missed = n, "turn watcher lagged"),
                    Err(RecvError::Closed) => return TurnEnd::Failed("event bus closed".into()),
                },
                _ = async { aborted.wait_for(|a| a.as_deref() == Some(id)).await.map(drop) } => return TurnEnd::Aborted,
                _ = async { stop.wait_for(|s| *s).await.map(drop) } => return TurnEnd::Failed("the session was deleted".into()),
                _ = tokio::time::sleep_until(give_up), if resumed && idle => {
                    return TurnEnd::Failed("daemon restarted; the agent reported no end of this turn".into());
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.unsettle();
                    self.interrupt().await;
                    return TurnEnd::Failed(format!("turn timed out after {} s", timeout.as_secs()));
                }
            }
        }
    }

    pub(super) fn provider_unavailable(&self) -> String {
        self.provider_error()
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
        let acts = acts.unwrap_or_else(|| vec![InputAction::Keys(vec!["C-c".into()])]);
        if let Err(e) = self.perform(&acts).await {
            tracing::warn!(session = %self.name, error = %e, "interrupt failed");
        }
    }

    /// Abort the running turn; the aborted message id, if one ran. The turn
    /// is marked aborted before the interrupt goes in (the interrupted
    /// agent's next prompt must not end it as done first), and its open
    /// permission requests are resolved as `cancelled` (a later answer gets
    /// 409), so no answer is typed into whatever the agent shows next.
    pub async fn abort(&self) -> Option<String> {
        let turn = self.turn()?;
        if !self.finish_from_outside(&turn.id, MessageStatus::Aborted, "aborted") {
            return None; // it ended meanwhile
        }
        self.cancel_permissions();
        self.interrupt().await;
        Some(turn.id)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::agent::turn::{TurnEnd, TurnWatch};
    use crate::events::{AgentState, Event, EventBus, StateInfo, StateSource};
    use crate::store::Store;

    /// The race a CI run under load found: the agent went idle after an
    /// aborted turn, the queue started the next turn on `idle`, and that
    /// turn saw the previous turn's `turn-aborted` as its own end. The state
    /// is now written only after its batch is published, so a turn that
    /// starts on `idle` subscribes after that batch.
    #[tokio::test(start_paused = true)]
    async fn a_turn_started_on_idle_never_sees_the_previous_turns_end() {
        let store = Arc::new(Store::in_memory().unwrap());
        store
            .conn()
            .execute(
                "INSERT INTO sessions (name, provider, cwd, args, env, cols, rows, uuid, nonce, created_at, status)
                 VALUES ('s', 'shell', '/', '[]', '{}', 80, 24, 'u', 'n', 0, 'running')",
                [],
            )
            .unwrap();
        let bus = Arc::new(EventBus::new("s", store).unwrap());
        let (state, _) = tokio::sync::watch::channel(StateInfo::new(AgentState::Working, StateSource::Screen, None));
        let state = Arc::new(state);
        // The driver's own publish order, not a copy of it.
        // The queue runner: waits for idle, then starts the next turn.
        let runner = {
            let (bus, mut rx) = (bus.clone(), state.subscribe());
            tokio::spawn(async move {
                rx.wait_for(|s| s.value == AgentState::Idle).await.unwrap();
                let mut events = bus.subscribe();
                bus.emit(Event::MessageStarted { id: "next".into() });
                let mut watch = TurnWatch::new();
                loop {
                    let e = tokio::time::timeout(std::time::Duration::from_secs(30), events.recv()).await;
                    match e {
                        Ok(Ok(e)) => {
                            if let Some(end) = watch.feed(&e.event) {
                                return Some(end);
                            }
                        }
                        _ => return None,
                    }
                }
            })
        };
        tokio::task::yield_now().await;
        // The previous turn's end and the idle state, published the way
        // the driver publishes every provider update.
        let idle = StateInfo::new(AgentState::Idle, StateSource::Screen, None);
        let changed = crate::agent::driver::publish_then_set(&bus, &state, vec![Event::TurnAborted], Some(idle), |e| {
            panic!("{e}")
        });
        assert_eq!(changed, Some(AgentState::Idle));
        let seen = runner.await.unwrap();
        assert_ne!(
            seen,
            Some(TurnEnd::Aborted),
            "the next turn saw the previous turn-aborted"
        );
        assert_eq!(seen, None, "nothing ended the next turn");
    }
}
