//! The `pi` provider: runs pi's RPC mode (`pi --mode rpc`) under
//! `wasmux bridge`, so pi's stdout (newline-delimited JSON: command
//! responses and agent events) reaches [`PiSession::feed_protocol`] and the
//! commands this provider encodes reach pi's stdin.
//!
//! Protocol reference: pi-mono `packages/coding-agent/docs/rpc.md`
//! (commands `prompt`, `steer`, `follow_up`, `abort`, `get_state`,
//! `extension_ui_response`; events `agent_start`/`agent_end`,
//! `message_end`, `tool_execution_start`/`_update`/`_end`,
//! `extension_ui_request`, responses `{"type":"response",…}`).
//!
//! Mapping to wasmux events (docs/protocol.md §3), all states with source
//! `protocol`:
//!
//! | pi | wasmux |
//! |---|---|
//! | `agent_start` | `task-started`, state `working` |
//! | `message_end` of an assistant message | `thinking` (thinking blocks), `message` (text blocks), `token-count` (usage) |
//! | `tool_execution_start` | `tool-call`, state `working` with the tool |
//! | `tool_execution_update` (bash) | `terminal-output` with the new output |
//! | `tool_execution_end` | `tool-result` |
//! | `agent_end` | `task-complete`, or `turn-aborted` when the run was aborted; state `idle` |
//! | `extension_ui_request` `confirm`/`select` | `permission-request`, state `waiting-permission` |
//! | auto-compaction, auto-retry, extension errors, assistant errors, notifications | `extension` (`pi:<event type>`) |

mod events;
mod session;
mod ui;

use wasmux_sdk::*;

struct Pi;

impl Provider for Pi {
    type Session = session::PiSession;

    /// `<command> --mode rpc <args…>` under the bridge; `command` is config
    /// key `command` (default `pi`).
    fn launch(req: LaunchRequest) -> Result<LaunchSpec, PluginError> {
        let configured = config::get("command")
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| "pi".into());
        let mut command = wasmux_sdk::argv::split(&configured)
            .map_err(|e| error(ErrorKind::InvalidInput, format!("config key `command`: {e}")))?;
        command.extend(["--mode".to_string(), "rpc".to_string()]);
        command.extend(req.args);
        let mut spec = launch_spec(command);
        spec.bridge = true;
        Ok(spec)
    }
}

wasmux_sdk::provider!(Pi);
