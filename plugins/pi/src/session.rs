//! Per-session state of the `pi` provider and the commands it encodes.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use wasmux_sdk::*;

use crate::ui::Dialog;

/// The `id` of the `get_state` command sent as a readiness probe.
pub const READY_PROBE_ID: &str = "wasmux-ready";

/// Parser and encoder state for one pi session.
pub struct PiSession {
    /// pi is inside an agent run (between `agent_start` and `agent_end`).
    pub running: bool,
    /// A run started after the readiness probe was sent: the probe's answer
    /// is then older than the run and would end it as idle, so it is
    /// ignored.
    pub run_since_probe: bool,
    /// The last state published was `waiting-permission`: the next event
    /// means pi moved on.
    pub waiting: bool,
    /// The current run's last assistant message stopped with `aborted`.
    pub aborted: bool,
    /// The current run's last assistant message stopped with `error`: its message.
    pub failed: Option<String>,
    /// Open extension dialogs shown as permission requests, by dialog id.
    pub dialogs: BTreeMap<String, Dialog>,
    /// Bytes of tool output already published per tool call
    /// (`tool_execution_update` carries the accumulated output).
    pub streamed: BTreeMap<String, usize>,
    /// Counter for command ids.
    next_id: u64,
    /// Finds the bridge's banner: a new agent process is up (first start
    /// or a reset).
    banner: BannerWatch,
}

/// One command line for pi's stdin.
pub fn command(v: Value) -> InputAction {
    InputAction::Protocol(v.to_string())
}

impl PiSession {
    fn next_id(&mut self) -> String {
        self.next_id += 1;
        format!("wasmux-{}", self.next_id)
    }
}

impl ProviderSession for PiSession {
    fn new(_req: LaunchRequest) -> Self {
        PiSession {
            running: false,
            run_since_probe: false,
            waiting: false,
            aborted: false,
            failed: None,
            dialogs: BTreeMap::new(),
            streamed: BTreeMap::new(),
            next_id: 0,
            banner: BannerWatch::default(),
        }
    }

    /// Pane output is a rendering of the protocol; only the bridge's banner
    /// matters: it triggers a `get_state` probe whose answer makes the
    /// session `idle`.
    fn feed_output(&mut self, data: &[u8]) -> Update {
        let mut u = empty_update();
        if self.banner.seen(data) {
            self.running = false;
            self.dialogs.clear();
            u.actions
                .push(command(json!({"id": READY_PROBE_ID, "type": "get_state"})));
            self.run_since_probe = false;
            set_state(&mut u, AgentState::Starting, StateSource::Protocol, None);
        }
        u
    }

    fn feed_protocol(&mut self, line: &str) -> Update {
        match serde_json::from_str::<Value>(line) {
            Ok(v) => crate::events::on_line(self, &v),
            Err(_) => {
                debug("pi: skipping a stdout line that is not JSON");
                empty_update()
            }
        }
    }

    /// `prompt`, or `follow_up` while pi is still inside a run (a plain
    /// prompt would be refused then).
    fn encode_prompt(&mut self, text: &str) -> Result<Vec<InputAction>, PluginError> {
        if text.trim().is_empty() {
            return Err(error(ErrorKind::InvalidInput, "pi needs a non-empty message"));
        }
        let kind = if self.running { "follow_up" } else { "prompt" };
        let id = self.next_id();
        Ok(vec![command(json!({"id": id, "type": kind, "message": text}))])
    }

    /// pi's native `steer`: delivered after the current tool, remaining
    /// tools skipped.
    fn encode_steer(&mut self, text: &str) -> Result<Vec<InputAction>, PluginError> {
        if text.trim().is_empty() {
            return Err(error(ErrorKind::InvalidInput, "pi needs a non-empty message"));
        }
        let id = self.next_id();
        Ok(vec![command(json!({"id": id, "type": "steer", "message": text}))])
    }

    fn encode_interrupt(&mut self) -> Vec<InputAction> {
        let id = self.next_id();
        vec![command(json!({"id": id, "type": "abort"}))]
    }

    fn encode_permission(
        &mut self,
        permission_id: &str,
        decision: PermissionDecision,
    ) -> Result<Vec<InputAction>, PluginError> {
        let dialog = self
            .dialogs
            .remove(permission_id)
            .ok_or_else(|| error(ErrorKind::NotFound, format!("pi has no open dialog `{permission_id}`")))?;
        match crate::ui::answer(permission_id, &dialog, &decision) {
            Ok(line) => Ok(vec![command(line)]),
            Err(e) => {
                self.dialogs.insert(permission_id.to_string(), dialog);
                Err(e)
            }
        }
    }
}
