//! Watching one turn: a pure state machine fed the session's events in
//! order, deciding when the turn ended and what its response is.

use crate::events::{AgentState, Event};

/// How a turn ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEnd {
    /// Completed, with the response.
    Done(String),
    /// Failed, with why.
    Failed(String),
    /// Interrupted.
    Aborted,
}

/// Most terminal output kept as a fallback response.
const MAX_OUTPUT: usize = 1 << 20;

/// What a running turn has seen so far.
#[derive(Debug, Default)]
pub struct TurnWatch {
    messages: Vec<String>,
    output: String,
    working: bool,
    /// Only what follows this turn's `task-started` belongs to it.
    gated: bool,
    /// The agent announced this turn (`task-started`).
    started: bool,
}

impl TurnWatch {
    /// A turn that has seen nothing yet.
    pub fn new() -> TurnWatch {
        TurnWatch::default()
    }

    /// A turn of an agent that announces its turns with `task-started`:
    /// messages and ends before this turn's announcement belong to an
    /// earlier turn (the rest of an interrupted one that the agent finished
    /// anyway, records read late) and are not credited to this one. Only
    /// the agent exiting ends it before then.
    pub fn announced() -> TurnWatch {
        TurnWatch {
            gated: true,
            ..TurnWatch::default()
        }
    }

    /// The response so far: the agent's messages, else its terminal output
    /// (a shell's turn has no messages).
    pub fn response(&self) -> String {
        if self.messages.is_empty() {
            self.output.trim_end().to_string()
        } else {
            self.messages.join("\n")
        }
    }

    /// Feed the next event; the end of the turn, if this event ends it:
    /// `task-complete`, `turn-aborted`, the agent going idle after it
    /// worked, or the agent exiting.
    pub fn feed(&mut self, e: &Event) -> Option<TurnEnd> {
        if self.gated && !self.started {
            match e {
                Event::TaskStarted => self.started = true,
                Event::State {
                    value: AgentState::Exited,
                    ..
                } => return Some(TurnEnd::Failed("agent exited".into())),
                _ => {}
            }
            return None;
        }
        match e {
            Event::Message { message } => self.messages.push(message.clone()),
            Event::TerminalOutput { data, .. } if self.output.len() < MAX_OUTPUT => self.output.push_str(data),
            Event::TaskStarted => self.working = true,
            Event::TaskComplete { .. } => return Some(TurnEnd::Done(self.response())),
            Event::TurnAborted => return Some(TurnEnd::Aborted),
            Event::State { value, .. } => match value {
                v if v.is_busy() => self.working = true,
                AgentState::Idle if self.working => return Some(TurnEnd::Done(self.response())),
                AgentState::Exited => return Some(TurnEnd::Failed("agent exited".into())),
                _ => {}
            },
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::StateSource;

    fn state(v: AgentState) -> Event {
        Event::State {
            value: v,
            source: StateSource::Screen,
            tool: None,
        }
    }

    #[test]
    fn task_complete_ends_with_the_messages() {
        let mut w = TurnWatch::new();
        assert_eq!(w.feed(&state(AgentState::Working)), None);
        assert_eq!(w.feed(&Event::Message { message: "one".into() }), None);
        assert_eq!(w.feed(&Event::Message { message: "two".into() }), None);
        let end = w.feed(&Event::TaskComplete {
            exit_code: None,
            summary: None,
        });
        assert_eq!(end, Some(TurnEnd::Done("one\ntwo".into())));
    }

    #[test]
    fn idle_ends_only_after_work_and_output_is_the_fallback() {
        let mut w = TurnWatch::new();
        assert_eq!(
            w.feed(&state(AgentState::Idle)),
            None,
            "idle before any work is not an end"
        );
        w.feed(&Event::TerminalOutput {
            data: "hi\r\n".into(),
            call_id: None,
        });
        w.feed(&state(AgentState::WaitingPermission));
        assert_eq!(w.feed(&state(AgentState::Idle)), Some(TurnEnd::Done("hi".into())));
    }

    /// Found with the real Claude Code: an abort whose Escape the agent
    /// took too late; the interrupted turn's answer and end were read after
    /// the next message started and were credited to it.
    #[test]
    fn an_announced_turn_ignores_what_came_before_its_start() {
        let mut w = TurnWatch::announced();
        let stale = [
            state(AgentState::Working),
            Event::Message { message: "old".into() },
            Event::TaskComplete {
                exit_code: None,
                summary: None,
            },
            Event::TurnAborted,
            state(AgentState::Idle),
        ];
        for e in &stale {
            assert_eq!(w.feed(e), None, "{e:?}");
        }
        w.feed(&Event::TaskStarted);
        w.feed(&Event::Message { message: "new".into() });
        let end = w.feed(&Event::TaskComplete {
            exit_code: None,
            summary: None,
        });
        assert_eq!(end, Some(TurnEnd::Done("new".into())));
        assert_eq!(
            TurnWatch::announced().feed(&state(AgentState::Exited)),
            Some(TurnEnd::Failed("agent exited".into())),
            "an exit ends even an unannounced turn"
        );
    }

    #[test]
    fn aborts_and_exits() {
        assert_eq!(TurnWatch::new().feed(&Event::TurnAborted), Some(TurnEnd::Aborted));
        assert_eq!(
            TurnWatch::new().feed(&state(AgentState::Exited)),
            Some(TurnEnd::Failed("agent exited".into()))
        );
        let mut w = TurnWatch::new();
        w.feed(&Event::TaskStarted);
        assert_eq!(w.feed(&Event::Steer { text: "x".into() }), None);
    }
}
