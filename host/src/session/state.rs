//! The agent state a session reports, with the signal that decided it.

use serde::Serialize;

/// `{"value","source","tool","ts"}` as sent in `state` messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StateInfo {
    /// `starting`, `idle`, `working`, `waiting-permission` or `exited`.
    pub value: String,
    /// `protocol`, `transcript`, `screen` or `process`.
    pub source: String,
    /// The tool being run, if any.
    pub tool: Option<String>,
    /// When it changed, ms since epoch.
    pub ts: u64,
}

impl StateInfo {
    /// A state decided now.
    pub fn new(value: &str, source: &str, tool: Option<String>) -> StateInfo {
        StateInfo {
            value: value.to_string(),
            source: source.to_string(),
            tool,
            ts: crate::util::now_ms(),
        }
    }
}
