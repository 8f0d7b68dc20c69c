//! An agent's state and the signal that decided it, as Rust types that
//! serialise to the wire's strings (`"waiting-permission"`, `"screen"`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// What the agent is doing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum AgentState {
    /// Launched; the provider has not seen the agent's input yet.
    Starting,
    /// Waiting for a prompt.
    Idle,
    /// Running a turn.
    Working,
    /// A permission request is open.
    WaitingPermission,
    /// The agent process ended.
    Exited,
    /// A state a provider named that wasmux does not know.
    Other(String),
}

impl AgentState {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            AgentState::Starting => "starting",
            AgentState::Idle => "idle",
            AgentState::Working => "working",
            AgentState::WaitingPermission => "waiting-permission",
            AgentState::Exited => "exited",
            AgentState::Other(o) => o,
        }
    }

    /// Whether the agent is busy with a turn (working or asking).
    pub fn is_busy(&self) -> bool {
        matches!(self, AgentState::Working | AgentState::WaitingPermission)
    }
}

impl From<String> for AgentState {
    fn from(s: String) -> Self {
        match s.as_str() {
            "starting" => AgentState::Starting,
            "idle" => AgentState::Idle,
            "working" => AgentState::Working,
            "waiting-permission" => AgentState::WaitingPermission,
            "exited" => AgentState::Exited,
            _ => AgentState::Other(s),
        }
    }
}

impl From<AgentState> for String {
    fn from(s: AgentState) -> String {
        s.as_str().to_string()
    }
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which signal decided a state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum StateSource {
    /// A structured protocol (ACP, pi RPC, OSC 133 marks).
    Protocol,
    /// The agent's transcript file.
    Transcript,
    /// The screen as captured.
    Screen,
    /// The process (started, exited).
    Process,
    /// A source a provider named that wasmux does not know.
    Other(String),
}

impl StateSource {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            StateSource::Protocol => "protocol",
            StateSource::Transcript => "transcript",
            StateSource::Screen => "screen",
            StateSource::Process => "process",
            StateSource::Other(o) => o,
        }
    }
}

impl From<String> for StateSource {
    fn from(s: String) -> Self {
        match s.as_str() {
            "protocol" => StateSource::Protocol,
            "transcript" => StateSource::Transcript,
            "screen" => StateSource::Screen,
            "process" => StateSource::Process,
            _ => StateSource::Other(s),
        }
    }
}

impl From<StateSource> for String {
    fn from(s: StateSource) -> String {
        s.as_str().to_string()
    }
}

impl fmt::Display for StateSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{"value","source","tool","ts"}` as sent in `state` messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StateInfo {
    /// `starting`, `idle`, `working`, `waiting-permission` or `exited`.
    #[schema(value_type = String)]
    pub value: AgentState,
    /// `protocol`, `transcript`, `screen` or `process`.
    #[schema(value_type = String)]
    pub source: StateSource,
    /// The tool being run, if any.
    pub tool: Option<String>,
    /// When it changed, ms since epoch.
    pub ts: u64,
}

impl StateInfo {
    /// A state decided now.
    pub fn new(value: AgentState, source: StateSource, tool: Option<String>) -> StateInfo {
        StateInfo {
            value,
            source,
            tool,
            ts: crate::util::now_ms(),
        }
    }

    /// `starting`, decided by the process (a launch).
    pub fn starting() -> StateInfo {
        StateInfo::new(AgentState::Starting, StateSource::Process, None)
    }

    /// `exited`, decided by the process.
    pub fn exited() -> StateInfo {
        StateInfo::new(AgentState::Exited, StateSource::Process, None)
    }

    /// This state, or `exited` when the process has `exited` (the
    /// provider's own `exited` may trail the exit by a plugin call).
    pub fn or_exited(self, exited: bool) -> StateInfo {
        if exited && self.value != AgentState::Exited {
            StateInfo::exited()
        } else {
            self
        }
    }

    /// Whether `other` says the same (value and tool; source and time aside).
    pub fn same_as(&self, other: &StateInfo) -> bool {
        self.value == other.value && self.tool == other.tool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in [
            "starting",
            "idle",
            "working",
            "waiting-permission",
            "exited",
            "needs-person",
        ] {
            assert_eq!(AgentState::from(s.to_string()).as_str(), s);
        }
        assert_eq!(
            AgentState::from("needs-person".to_string()),
            AgentState::Other("needs-person".into())
        );
        for s in ["protocol", "transcript", "screen", "process", "radio"] {
            assert_eq!(StateSource::from(s.to_string()).as_str(), s);
        }
        let json = serde_json::to_string(&StateInfo::new(
            AgentState::WaitingPermission,
            StateSource::Screen,
            None,
        ))
        .unwrap();
        assert!(
            json.contains(r#""value":"waiting-permission""#) && json.contains(r#""source":"screen""#),
            "{json}"
        );
    }
}
