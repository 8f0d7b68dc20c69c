//! The event vocabulary (docs/protocol.md, "Events"): one Rust enum,
//! serialised as `{"type":"<kebab-case>", …fields in camelCase}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AgentState, Decision, StateSource};
use crate::store::MessageStatus;

/// One normalised event of a session: what a provider reported about its
/// agent, or what the queue did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case", rename_all_fields = "camelCase")]
pub enum Event {
    /// Text the agent said to the person.
    Message {
        /// The text.
        message: String,
    },
    /// A reasoning summary the agent showed.
    Reasoning {
        /// The text.
        message: String,
    },
    /// Raw thinking text.
    Thinking {
        /// The text.
        text: String,
    },
    /// A tool call started.
    ToolCall {
        /// Id pairing it with its result.
        call_id: String,
        /// Tool name.
        name: String,
        /// Its input (JSON when the provider gave JSON, else a string).
        input: Value,
    },
    /// A tool call's result.
    ToolResult {
        /// The call it answers.
        call_id: String,
        /// Its output (JSON when the provider gave JSON, else a string).
        output: Value,
        /// Whether the tool failed (or was refused).
        is_error: bool,
    },
    /// A file the agent changed.
    FileEdit {
        /// The file.
        file_path: String,
        /// What changed, in words.
        description: String,
        /// A unified diff, when known.
        diff: Option<String>,
    },
    /// Output of a command the agent ran.
    TerminalOutput {
        /// The output text.
        data: String,
        /// The tool call it belongs to.
        call_id: Option<String>,
    },
    /// A turn started.
    TaskStarted,
    /// A turn completed.
    TaskComplete {
        /// The command's exit status (shell).
        exit_code: Option<i32>,
        /// A summary, when the agent gave one.
        summary: Option<String>,
    },
    /// The turn was interrupted.
    TurnAborted,
    /// The agent asks for permission.
    PermissionRequest {
        /// Id to answer with.
        permission_id: String,
        /// The tool asking.
        tool_name: String,
        /// What it wants to do.
        description: String,
        /// The answers the agent offers.
        options: Vec<String>,
    },
    /// A permission request was answered (first answer wins) or cancelled.
    PermissionResolved {
        /// The request.
        permission_id: String,
        /// `allow`, `deny`, `always` or `cancelled`.
        decision: Decision,
        /// The tool that asked.
        tool_name: String,
    },
    /// Tokens one model call used.
    TokenCount {
        /// Input tokens.
        input: u64,
        /// Output tokens.
        output: u64,
        /// Input tokens read from the cache.
        cache_read: u64,
        /// Input tokens written to the cache.
        cache_creation: u64,
    },
    /// A provider-specific event.
    Extension {
        /// Its kind.
        kind: String,
        /// Its data (JSON when the provider gave JSON, else a string).
        data: Value,
    },
    /// The agent's state changed.
    State {
        /// The new state.
        #[schema(value_type = String)]
        value: AgentState,
        /// What decided it.
        #[schema(value_type = String)]
        source: StateSource,
        /// The tool in flight, if any.
        tool: Option<String>,
    },
    /// Terminal output the pane printed was not recorded: the pipe sink
    /// died (re-piped within a second) or could not write (disk full).
    OutputLost {
        /// The last output seq recorded before the loss.
        after_seq: u64,
        /// How many bytes were lost, when known (a sink that could not
        /// write counts them; one that was killed cannot).
        bytes: Option<u64>,
        /// What happened.
        reason: String,
    },
    /// Text was typed into the running turn.
    Steer {
        /// The text.
        text: String,
    },
    /// A message was accepted into the queue.
    MessageQueued {
        /// Message id.
        id: String,
        /// Its text.
        text: String,
        /// 1-based queue position when accepted.
        position: usize,
        /// Where it came from.
        source: String,
    },
    /// A message's turn started.
    MessageStarted {
        /// Message id.
        id: String,
    },
    /// A message's turn completed.
    MessageDone {
        /// Message id.
        id: String,
        /// The agent's answer.
        response: String,
    },
    /// A message ended other than done.
    MessageFailed {
        /// Message id.
        id: String,
        /// `failed`, `aborted` or `cancelled`.
        status: MessageStatus,
        /// Why.
        error: String,
    },
    /// A stored event of a type this build does not know (written by a
    /// newer wasmux); kept as stored text.
    #[serde(other)]
    Unknown,
}

impl Event {
    /// The `type` name.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Message { .. } => "message",
            Event::Reasoning { .. } => "reasoning",
            Event::Thinking { .. } => "thinking",
            Event::ToolCall { .. } => "tool-call",
            Event::ToolResult { .. } => "tool-result",
            Event::FileEdit { .. } => "file-edit",
            Event::TerminalOutput { .. } => "terminal-output",
            Event::TaskStarted => "task-started",
            Event::TaskComplete { .. } => "task-complete",
            Event::TurnAborted => "turn-aborted",
            Event::PermissionRequest { .. } => "permission-request",
            Event::PermissionResolved { .. } => "permission-resolved",
            Event::TokenCount { .. } => "token-count",
            Event::Extension { .. } => "extension",
            Event::State { .. } => "state",
            Event::OutputLost { .. } => "output-lost",
            Event::Steer { .. } => "steer",
            Event::MessageQueued { .. } => "message-queued",
            Event::MessageStarted { .. } => "message-started",
            Event::MessageDone { .. } => "message-done",
            Event::MessageFailed { .. } => "message-failed",
            Event::Unknown => "unknown",
        }
    }

    /// A `state` event for `info`.
    pub fn state(info: &super::StateInfo) -> Event {
        Event::State {
            value: info.value.clone(),
            source: info.source.clone(),
            tool: info.tool.clone(),
        }
    }
}
