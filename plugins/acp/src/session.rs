//! Per-session state of the `acp` provider: the handshake (`initialize`,
//! then `session/new`), prompts waiting for the session, the turn under way
//! and open permission requests.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Value, json};
use wasmux_sdk::*;

use crate::permission::{self, Ask};
use crate::rpc::{self, Incoming, Pending, Rpc};
use crate::turn::{Ending, Turn};

/// The ACP major version wasmux speaks.
const PROTOCOL_VERSION: u64 = 1;

/// Where the connection stands.
enum Phase {
    /// No handshake yet (a fresh provider instance: before the agent's
    /// banner, or after a daemon restart).
    Stopped,
    /// `initialize` sent.
    Initializing,
    /// `session/new` sent.
    Creating,
    /// The ACP session id: prompts can go.
    Ready(String),
    /// The handshake failed; why.
    Failed(String),
}

/// Parser and encoder state for one ACP session.
pub struct AcpSession {
    /// Working directory sent in `session/new`.
    cwd: String,
    rpc: Rpc,
    phase: Phase,
    /// Prompts waiting for the session (or for the prompt in flight).
    queued: VecDeque<String>,
    /// A `session/prompt` awaits its response.
    prompt_in_flight: bool,
    turn: Turn,
    /// Open permission requests by permission id.
    asks: BTreeMap<String, Ask>,
    /// Finds the bridge's banner: a new agent process is up (first start
    /// or a reset).
    banner: BannerWatch,
}

impl AcpSession {
    /// Begin the handshake: the `initialize` request (file system and
    /// terminal capabilities off, so the agent uses its own tools).
    fn start(&mut self) -> InputAction {
        self.rpc.reset();
        self.phase = Phase::Initializing;
        let (_, line) = self.rpc.request(
            Pending::Initialize,
            "initialize",
            json!({
                "protocolVersion": PROTOCOL_VERSION,
                "clientCapabilities": {"fs": {"readTextFile": false, "writeTextFile": false}, "terminal": false},
                "clientInfo": {"name": "wasmux", "version": env!("CARGO_PKG_VERSION")},
            }),
        );
        InputAction::Protocol(line)
    }

    /// Send the next queued prompt if the session is ready and free.
    fn flush_queue(&mut self, u: &mut Update) {
        let Phase::Ready(session_id) = &self.phase else { return };
        if self.prompt_in_flight {
            return;
        }
        if let Some(text) = self.queued.pop_front() {
            let action = prompt(&mut self.rpc, session_id, &text);
            self.prompt_in_flight = true;
            u.actions.push(action);
        }
    }

    /// The handshake failed: report it and end the turn waiting on it.
    fn fail(&mut self, why: String, u: &mut Update) {
        warn(&format!("acp: {why}"));
        u.events.push(AgentEvent::Extension(Extension {
            kind: "acp:error".into(),
            data: json!({"message": why}).to_string(),
        }));
        if !self.queued.is_empty() || self.turn.active {
            self.queued.clear();
            self.turn.finish(Ending::Error(why.clone()), &Value::Null, u);
        }
        self.phase = Phase::Failed(why);
        // Idle, so the host hands over the next message and it fails with the reason.
        set_state(u, AgentState::Idle, StateSource::Protocol, None);
    }

    fn on_response(&mut self, id: &Value, outcome: Result<&Value, &Value>, u: &mut Update) {
        // The shape wins over a contradicting id: in a replayed transcript
        // (or after a restart) ids may collide with requests of another run.
        let what = match (self.rpc.take(id), guess(outcome)) {
            (Some(pending), Some(shape)) if pending != shape => Some(shape),
            (pending, shape) => pending.or(shape),
        };
        let Some(what) = what else {
            debug("acp: ignoring a response to no pending request");
            return;
        };
        match (what, outcome) {
            (Pending::Initialize, Ok(r)) => {
                let version = r["protocolVersion"].as_u64().unwrap_or(0);
                if version != PROTOCOL_VERSION {
                    return self.fail(
                        format!("the agent speaks ACP version {version}; wasmux speaks {PROTOCOL_VERSION}"),
                        u,
                    );
                }
                self.phase = Phase::Creating;
                let (_, line) = self.rpc.request(
                    Pending::NewSession,
                    "session/new",
                    json!({"cwd": self.cwd, "mcpServers": []}),
                );
                u.actions.push(InputAction::Protocol(line));
            }
            (Pending::NewSession, Ok(r)) => match r["sessionId"].as_str() {
                Some(id) => {
                    self.phase = Phase::Ready(id.to_string());
                    set_state(u, AgentState::Idle, StateSource::Protocol, None);
                    self.flush_queue(u);
                    if self.prompt_in_flight {
                        set_state(u, AgentState::Working, StateSource::Protocol, None);
                    }
                }
                None => self.fail("session/new answered without a sessionId".into(), u),
            },
            (Pending::Initialize, Err(e)) => self.fail(format!("initialize failed: {}", rpc::error_message(e)), u),
            (Pending::NewSession, Err(e)) => self.fail(format!("session/new failed: {}", rpc::error_message(e)), u),
            (Pending::Prompt, outcome) => {
                self.prompt_in_flight = false;
                match outcome {
                    Ok(r) => {
                        let reason = r["stopReason"].as_str().unwrap_or("end_turn");
                        self.turn.finish(Ending::Stop(reason), &r["usage"], u);
                    }
                    Err(e) => self.turn.finish(Ending::Error(rpc::error_message(e)), &Value::Null, u),
                }
                self.asks.clear();
                self.flush_queue(u);
            }
        }
    }

    fn on_request(&mut self, id: &Value, method: &str, params: &Value, u: &mut Update) {
        if method != "session/request_permission" {
            debug(&format!("acp: refusing agent request {method}"));
            u.actions.push(InputAction::Protocol(rpc::error(
                id,
                rpc::METHOD_NOT_FOUND,
                &format!("method not supported: {method}"),
            )));
            return;
        }
        self.turn.begin(u);
        self.turn.flush(u);
        self.turn.announce(&params["toolCall"], u);
        let call_id = params["toolCall"]["toolCallId"].as_str().unwrap_or_default();
        let known = permission::Known {
            title: self.turn.tool_title(call_id),
            input: self.turn.tool_input(call_id),
        };
        let (permission_id, ask, event) = permission::ask(id, params, known);
        let tool = event.tool_name.clone();
        self.asks.insert(permission_id, ask);
        u.events.push(AgentEvent::PermissionRequest(event));
        self.turn.waiting = true;
        self.turn.asking.insert(call_id.to_string());
        set_state(u, AgentState::WaitingPermission, StateSource::Protocol, Some(tool));
    }

    fn on_notification(&mut self, method: &str, params: &Value, u: &mut Update) {
        if method != "session/update" {
            return;
        }
        // After a daemon restart the fresh instance learns the session from
        // the agent's own updates.
        if let (Phase::Stopped, Some(id)) = (&self.phase, params["sessionId"].as_str()) {
            self.phase = Phase::Ready(id.to_string());
        }
        self.turn.update(&params["update"], u);
    }
}

/// A `session/prompt` request for `text`.
fn prompt(rpc: &mut Rpc, session_id: &str, text: &str) -> InputAction {
    let (_, line) = rpc.request(
        Pending::Prompt,
        "session/prompt",
        json!({"sessionId": session_id, "prompt": [{"type": "text", "text": text}]}),
    );
    InputAction::Protocol(line)
}

/// What a response answers, from its shape (a replayed transcript, or ids
/// from before a restart).
fn guess(outcome: Result<&Value, &Value>) -> Option<Pending> {
    let r = outcome.ok()?;
    if r.get("protocolVersion").is_some() {
        Some(Pending::Initialize)
    } else if r.get("sessionId").is_some() {
        Some(Pending::NewSession)
    } else if r.get("stopReason").is_some() {
        Some(Pending::Prompt)
    } else {
        None
    }
}

impl ProviderSession for AcpSession {
    fn new(req: LaunchRequest) -> Self {
        AcpSession {
            cwd: req.cwd,
            rpc: Rpc::default(),
            phase: Phase::Stopped,
            queued: VecDeque::new(),
            prompt_in_flight: false,
            turn: Turn::default(),
            asks: BTreeMap::new(),
            banner: BannerWatch::default(),
        }
    }

    /// Pane output is a rendering of the protocol; only the bridge's banner
    /// matters: a new agent process is waiting for `initialize`.
    fn feed_output(&mut self, data: &[u8]) -> Update {
        let mut u = empty_update();
        if self.banner.seen(data) {
            self.turn = Turn::default();
            self.asks.clear();
            self.prompt_in_flight = false;
            u.actions.push(self.start());
            set_state(&mut u, AgentState::Starting, StateSource::Protocol, None);
        }
        u
    }

    fn feed_protocol(&mut self, line: &str) -> Update {
        let mut u = empty_update();
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            debug("acp: skipping a stdout line that is not JSON");
            return u;
        };
        match rpc::classify(&v) {
            Incoming::Response { id, outcome } => self.on_response(id, outcome, &mut u),
            Incoming::Request { id, method, params } => self.on_request(id, method, params, &mut u),
            Incoming::Notification { method, params } => self.on_notification(method, params, &mut u),
            Incoming::Other => debug("acp: skipping a line that is not JSON-RPC"),
        }
        u
    }

    fn process_exited(&mut self, _code: Option<i32>) -> Update {
        self.phase = Phase::Stopped;
        self.queued.clear();
        self.prompt_in_flight = false;
        self.asks.clear();
        self.turn = Turn::default();
        let mut u = empty_update();
        u.state = Some(state(AgentState::Exited, StateSource::Process));
        u
    }

    /// `session/prompt` once the session is ready; until then the text waits
    /// here and goes out when `session/new` answers.
    fn encode_prompt(&mut self, text: &str) -> Result<Vec<InputAction>, PluginError> {
        if text.trim().is_empty() {
            return Err(error(ErrorKind::InvalidInput, "the agent needs a non-empty message"));
        }
        match &self.phase {
            Phase::Failed(why) => Err(error(
                ErrorKind::Internal,
                format!("the ACP agent is not usable: {why}"),
            )),
            Phase::Ready(session_id) if !self.prompt_in_flight => {
                let action = prompt(&mut self.rpc, session_id, text);
                self.prompt_in_flight = true;
                Ok(vec![action])
            }
            Phase::Stopped => {
                // No handshake seen by this instance (a daemon restart): start one.
                self.queued.push_back(text.to_string());
                Ok(vec![self.start()])
            }
            _ => {
                self.queued.push_back(text.to_string());
                Ok(Vec::new())
            }
        }
    }

    /// `session/cancel`, after answering open permission requests with the
    /// `cancelled` outcome (the protocol requires both).
    fn encode_interrupt(&mut self) -> Vec<InputAction> {
        self.queued.clear();
        self.turn.asking.clear();
        let mut actions: Vec<InputAction> = std::mem::take(&mut self.asks)
            .into_values()
            .map(|a| InputAction::Protocol(a.cancelled()))
            .collect();
        if let Phase::Ready(session_id) = &self.phase
            && self.prompt_in_flight
        {
            actions.push(InputAction::Protocol(rpc::notification(
                "session/cancel",
                json!({"sessionId": session_id}),
            )));
        }
        actions
    }

    fn encode_permission(
        &mut self,
        permission_id: &str,
        decision: PermissionDecision,
    ) -> Result<Vec<InputAction>, PluginError> {
        let ask = self.asks.get(permission_id).ok_or_else(|| {
            error(
                ErrorKind::NotFound,
                format!("the agent has no open permission request `{permission_id}`"),
            )
        })?;
        let line = ask.answer(&decision)?;
        if matches!(decision, PermissionDecision::Deny) {
            self.turn.refuse(&ask.call_id);
        }
        // The state follows what the agent reports (a replay of its log
        // sees no answers): the request ends when its call completes or
        // fails, or the turn ends.
        self.asks.remove(permission_id);
        Ok(vec![InputAction::Protocol(line)])
    }
}
