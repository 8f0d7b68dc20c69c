//! Provider plugins: implement [`Provider`] and [`ProviderSession`], then
//! call [`provider!`](crate::provider).

use std::cell::RefCell;

use crate::bindings::exports::wasmux::plugin::agent_provider::{Guest, GuestSession};
pub use crate::bindings::exports::wasmux::plugin::agent_provider::{LaunchRequest, LaunchSpec, TranscriptSpec, Update};
pub use crate::bindings::wasmux::plugin::kv;
use crate::*;

/// The stateless half of a provider: how to launch the agent.
pub trait Provider: 'static {
    /// Per-session parser state.
    type Session: ProviderSession;
    /// How to start the agent for `req`.
    fn launch(req: LaunchRequest) -> Result<LaunchSpec, PluginError>;
}

/// Per-session state of a provider. Every method has a do-nothing default
/// except `new` and `encode_prompt`.
pub trait ProviderSession: 'static {
    /// Fresh state for a session launched from `req`.
    fn new(req: LaunchRequest) -> Self;
    /// New pane output bytes.
    fn feed_output(&mut self, _data: &[u8]) -> Update {
        empty_update()
    }
    /// A screen capture.
    fn feed_screen(&mut self, _screen: Screen) -> Update {
        empty_update()
    }
    /// One transcript line.
    fn feed_transcript(&mut self, _line: &str) -> Update {
        empty_update()
    }
    /// One protocol line from the bridge.
    fn feed_protocol(&mut self, _line: &str) -> Update {
        empty_update()
    }
    /// The agent process ended.
    fn process_exited(&mut self, code: Option<i32>) -> Update {
        let mut u = empty_update();
        u.state = Some(state(AgentState::Exited, StateSource::Process));
        let _ = code;
        u
    }
    /// Input that submits a prompt.
    fn encode_prompt(&mut self, text: &str) -> Result<Vec<InputAction>, PluginError>;
    /// Input that steers the running turn; default: unsupported (the host queues).
    fn encode_steer(&mut self, _text: &str) -> Result<Vec<InputAction>, PluginError> {
        Err(error(
            ErrorKind::Unsupported,
            "this provider cannot steer a running turn",
        ))
    }
    /// Input that interrupts the running turn; default: Ctrl-C.
    fn encode_interrupt(&mut self) -> Vec<InputAction> {
        vec![InputAction::Keys(vec!["C-c".into()])]
    }
    /// Input that answers a permission request; default: unsupported.
    fn encode_permission(
        &mut self,
        _permission_id: &str,
        _decision: PermissionDecision,
    ) -> Result<Vec<InputAction>, PluginError> {
        Err(error(ErrorKind::Unsupported, "this provider has no permission prompts"))
    }
}

/// An update with nothing in it.
pub fn empty_update() -> Update {
    Update {
        events: Vec::new(),
        state: None,
        actions: Vec::new(),
    }
}

/// A state change from `source`.
pub fn state(state: AgentState, source: StateSource) -> StateChange {
    StateChange {
        state,
        source,
        tool: None,
    }
}

/// Set the update's state to `state`, decided by `source`, with the tool in
/// flight.
pub fn set_state(u: &mut Update, state: AgentState, source: StateSource, tool: Option<String>) {
    u.state = Some(StateChange { state, source, tool });
}

/// The line the host's bridge prints when it starts a new agent process.
pub const BRIDGE_BANNER: &[u8] = b"wasmux bridge: ";

/// Finds [`BRIDGE_BANNER`] in pane output, which may split it across chunks.
#[derive(Default)]
pub struct BannerWatch {
    /// The end of the previous chunk, shorter than the banner.
    tail: Vec<u8>,
}

impl BannerWatch {
    /// Whether `data`, read after the chunks fed before, completes the
    /// banner.
    pub fn seen(&mut self, data: &[u8]) -> bool {
        let mut hay = std::mem::take(&mut self.tail);
        hay.extend_from_slice(data);
        if hay.windows(BRIDGE_BANNER.len()).any(|w| w == BRIDGE_BANNER) {
            return true;
        }
        let keep = hay.len().min(BRIDGE_BANNER.len() - 1);
        self.tail = hay[hay.len() - keep..].to_vec();
        false
    }
}

/// The directory `var` names in the session's environment (without a
/// trailing `/`), else `default`: where an agent CLI keeps its state
/// (`CLAUDE_CONFIG_DIR`, `CODEX_HOME`).
pub fn env_dir(req: &LaunchRequest, var: &str, default: &str) -> String {
    req.env
        .iter()
        .find(|(k, _)| k == var)
        .map(|(_, v)| v.trim_end_matches('/').to_string())
        .unwrap_or_else(|| default.into())
}

/// The screen poll period: the plugin's `screen_poll_ms` setting, else
/// `default`.
pub fn screen_poll_ms(default: u32) -> u32 {
    config::get("screen_poll_ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A launch spec running `command` with nothing else set.
pub fn launch_spec(command: Vec<String>) -> LaunchSpec {
    LaunchSpec {
        command,
        env: Vec::new(),
        transcript: None,
        bridge: false,
        screen_poll_ms: 0,
        startup: Vec::new(),
    }
}

/// A launch request for a session `name` in `cwd` (120×40, no args or env):
/// for driving a provider's session in native unit tests.
pub fn test_request(name: &str, cwd: &str) -> LaunchRequest {
    LaunchRequest {
        session: name.into(),
        cwd: cwd.into(),
        args: vec![],
        env: vec![],
        cols: 120,
        rows: 40,
        session_uuid: "u".into(),
    }
}

/// A 120×40 main-screen snapshot of `lines` taken at log seq `seq`, cursor
/// at the origin: for feeding `feed-screen` in native unit tests.
pub fn test_screen(lines: Vec<String>, seq: u64) -> Screen {
    Screen {
        cols: 120,
        rows: 40,
        cursor_x: 0,
        cursor_y: 0,
        alternate: false,
        lines,
        seq,
    }
}

#[doc(hidden)]
pub struct SessionCell<S>(RefCell<S>);

impl<S: ProviderSession> GuestSession for SessionCell<S> {
    fn new(req: LaunchRequest) -> Self {
        SessionCell(RefCell::new(S::new(req)))
    }
    fn feed_output(&self, data: Vec<u8>) -> Update {
        self.0.borrow_mut().feed_output(&data)
    }
    fn feed_screen(&self, screen: Screen) -> Update {
        self.0.borrow_mut().feed_screen(screen)
    }
    fn feed_transcript(&self, line: String) -> Update {
        self.0.borrow_mut().feed_transcript(&line)
    }
    fn feed_protocol(&self, line: String) -> Update {
        self.0.borrow_mut().feed_protocol(&line)
    }
    fn process_exited(&self, code: Option<i32>) -> Update {
        self.0.borrow_mut().process_exited(code)
    }
    fn encode_prompt(&self, text: String) -> Result<Vec<InputAction>, PluginError> {
        self.0.borrow_mut().encode_prompt(&text)
    }
    fn encode_steer(&self, text: String) -> Result<Vec<InputAction>, PluginError> {
        self.0.borrow_mut().encode_steer(&text)
    }
    fn encode_interrupt(&self) -> Vec<InputAction> {
        self.0.borrow_mut().encode_interrupt()
    }
    fn encode_permission(
        &self,
        permission_id: String,
        decision: PermissionDecision,
    ) -> Result<Vec<InputAction>, PluginError> {
        self.0.borrow_mut().encode_permission(&permission_id, decision)
    }
}

#[doc(hidden)]
pub struct ProviderGlue<P>(std::marker::PhantomData<P>);

impl<P: Provider> Guest for ProviderGlue<P> {
    type Session = SessionCell<P::Session>;
    fn launch(req: LaunchRequest) -> Result<LaunchSpec, PluginError> {
        P::launch(req)
    }
}

/// Export `$provider` (a type implementing [`Provider`]) as this component's
/// `agent-provider`.
#[macro_export]
macro_rules! provider {
    ($provider:ty) => {
        type __WasmuxProviderGlue = $crate::ProviderGlue<$provider>;
        $crate::bindings::export_provider!(__WasmuxProviderGlue with_types_in $crate::bindings);
    };
}
