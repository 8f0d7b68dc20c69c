//! The `acp` provider: any agent speaking the Agent Client Protocol
//! (<https://agentclientprotocol.com>, JSON-RPC 2.0, one message per line on
//! stdio) runs under `wasmux bridge`; its stdout reaches `feed-protocol`
//! and the requests and answers this provider encodes reach its stdin.
//!
//! The agent's command needs no code: it is config key `command` (split
//! like shell words) followed by the session's arguments, or just the
//! session's arguments when `command` is empty —
//! `wasmux new g --provider acp -- gemini --experimental-acp`. A drop-in
//! copy of this component with its own manifest (`name = "opencode"`,
//! `[config] command = "opencode acp"`) is a dedicated provider.
//!
//! Flow (ACP v1: `docs/protocol/{initialization,session-setup,prompt-turn,
//! tool-calls}.mdx`): when the bridge starts the agent, `initialize`
//! (protocolVersion 1, fs and terminal capabilities off), then `session/new`
//! {cwd, mcpServers: []}; prompts are `session/prompt`, queued here until
//! the session exists; its response's `stopReason` ends the turn
//! (`cancelled` → `turn-aborted`, else `task-complete`); interrupt is the
//! `session/cancel` notification. `session/update` notifications become
//! events (see [`turn`]); `session/request_permission` becomes a
//! permission request (see [`permission`]); any other agent→client request
//! (`fs/*`, `terminal/*`) is answered with JSON-RPC error -32601.

mod content;
mod permission;
mod rpc;
mod session;
mod turn;

use wasmux_sdk::*;

struct Acp;

impl Provider for Acp {
    type Session = session::AcpSession;

    fn launch(req: LaunchRequest) -> Result<LaunchSpec, PluginError> {
        let configured = config::get("command").filter(|c| !c.trim().is_empty());
        let mut command = match configured {
            Some(c) => wasmux_sdk::argv::split(&c)
                .map_err(|e| error(ErrorKind::InvalidInput, format!("config key `command`: {e}")))?,
            None => Vec::new(),
        };
        command.extend(req.args);
        if command.is_empty() {
            return Err(error(
                ErrorKind::InvalidInput,
                "the acp provider needs the agent's command: pass it after `--` \
                 (`wasmux new g --provider acp -- gemini --experimental-acp`) or set config key `command`",
            ));
        }
        let mut spec = launch_spec(command);
        spec.bridge = true;
        Ok(spec)
    }
}

wasmux_sdk::provider!(Acp);
