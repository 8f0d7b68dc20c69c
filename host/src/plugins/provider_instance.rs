//! One provider instance per session: a long-lived store holding the
//! guest's `session` resource. Calls go one at a time (the owner holds it
//! behind a mutex); after a trap or deadline the instance is dropped and a
//! fresh one (with a fresh `session`) is made on the next call.

use std::sync::Arc;
use wasmtime::Store;
use wasmtime::component::ResourceAny;

use super::bindings::provider::Provider;
use super::bindings::provider::exports::wasmux::plugin::agent_provider as api;
use super::bindings::types::{InputAction, PermissionDecision, Screen};
use super::call;
use super::error::PluginError;
use super::loader::LoadedPlugin;
use super::store_data::StoreData;

pub use api::{LaunchRequest, LaunchSpec, TranscriptSpec, Update};

/// Most events one update may carry.
pub const MAX_EVENTS: usize = 4096;
/// Most input actions one call may return.
pub const MAX_ACTIONS: usize = 1024;
/// Most bytes of text one update may carry.
pub const MAX_UPDATE_BYTES: usize = 8 << 20;

struct Live {
    store: Store<StoreData>,
    bindings: Provider,
    session: ResourceAny,
}

/// A provider plugin bound to one session.
pub struct ProviderInstance {
    plugin: Arc<LoadedPlugin>,
    req: LaunchRequest,
    live: Option<Live>,
}

fn guest(b: &Provider) -> &api::Guest {
    b.wasmux_plugin_agent_provider()
}

/// Ask `plugin` how to launch `req` (a fresh instance, dropped afterwards).
pub async fn launch(plugin: &Arc<LoadedPlugin>, req: &LaunchRequest) -> Result<LaunchSpec, PluginError> {
    let (mut store, bindings) = instantiate(plugin).await?;
    call::arm(plugin, &mut store);
    let stderr = store.data().stderr.clone();
    let result = call::run(plugin, "launch", guest(&bindings).call_launch(&mut store, req), &stderr).await?;
    let spec = result.map_err(|e| call::refused(plugin, e))?;
    check_actions(plugin, "launch", &spec.startup)?;
    Ok(spec)
}

async fn instantiate(plugin: &Arc<LoadedPlugin>) -> Result<(Store<StoreData>, Provider), PluginError> {
    Ok(call::instantiate!(plugin, Provider, "provider"))
}

impl ProviderInstance {
    /// Instantiate `plugin` and create its `session` for `req`.
    pub async fn new(plugin: Arc<LoadedPlugin>, req: LaunchRequest) -> Result<ProviderInstance, PluginError> {
        let mut me = ProviderInstance {
            plugin,
            req,
            live: None,
        };
        me.live().await?;
        Ok(me)
    }

    /// The plugin this instance runs.
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    /// Swap in a newer build of the plugin (hot reload); the session state
    /// restarts in the new build on the next call.
    pub fn replace_plugin(&mut self, plugin: Arc<LoadedPlugin>) {
        self.plugin = plugin;
        self.live = None;
    }

    async fn live(&mut self) -> Result<&mut Live, PluginError> {
        if self.live.is_none() {
            let (mut store, bindings) = instantiate(&self.plugin).await?;
            call::arm(&self.plugin, &mut store);
            let stderr = store.data().stderr.clone();
            let session = call::run(
                &self.plugin,
                "session.constructor",
                guest(&bindings).session().call_constructor(&mut store, &self.req),
                &stderr,
            )
            .await?;
            self.live = Some(Live {
                store,
                bindings,
                session,
            });
        }
        Ok(self.live.as_mut().expect("just set"))
    }
}

/// Generates a method that calls one `session` export under the limits and
/// drops the instance if the call fails.
macro_rules! session_call {
    ($(#[$doc:meta])* $name:ident, $export:literal, $method:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty, $check:expr) => {
        $(#[$doc])*
        pub async fn $name(&mut self, $($arg: $ty),*) -> Result<$ret, PluginError> {
            let plugin = self.plugin.clone();
            let live = self.live().await?;
            call::arm(&plugin, &mut live.store);
            let stderr = live.store.data().stderr.clone();
            let api = guest(&live.bindings).session();
            let fut = api.$method(&mut live.store, live.session, $($arg),*);
            let result = call::run(&plugin, $export, fut, &stderr).await;
            let checked = result.and_then(|value| {
                let check: fn(&LoadedPlugin, &str, $ret) -> Result<$ret, PluginError> = $check;
                check(&plugin, $export, value)
            });
            if let Err(e) = &checked {
                if e.is_failure() {
                    self.live = None;
                }
            }
            checked
        }
    };
}

fn check_update(plugin: &LoadedPlugin, call: &str, update: Update) -> Result<Update, PluginError> {
    let too_much = |reason: String| PluginError::OutputLimit {
        plugin: plugin.name().to_string(),
        call: call.to_string(),
        reason,
    };
    if update.events.len() > MAX_EVENTS {
        let err = too_much(format!(
            "{} events in one update; the limit is {MAX_EVENTS}",
            update.events.len()
        ));
        call::fail(plugin, &err);
        return Err(err);
    }
    let bytes: usize = update.events.iter().map(event_bytes).sum();
    if bytes > MAX_UPDATE_BYTES {
        let err = too_much(format!(
            "{bytes} bytes of events in one update; the limit is {MAX_UPDATE_BYTES}"
        ));
        call::fail(plugin, &err);
        return Err(err);
    }
    check_actions(plugin, call, &update.actions)?;
    Ok(update)
}

fn check_actions(plugin: &LoadedPlugin, call: &str, actions: &[InputAction]) -> Result<(), PluginError> {
    if actions.len() > MAX_ACTIONS {
        let err = PluginError::OutputLimit {
            plugin: plugin.name().to_string(),
            call: call.to_string(),
            reason: format!("{} input actions; the limit is {MAX_ACTIONS}", actions.len()),
        };
        call::fail(plugin, &err);
        return Err(err);
    }
    Ok(())
}

fn event_bytes(e: &super::bindings::types::AgentEvent) -> usize {
    use super::bindings::types::AgentEvent as E;
    match e {
        E::Message(s) | E::Reasoning(s) | E::Thinking(s) => s.len(),
        E::ToolCall(c) => c.input.len() + c.name.len(),
        E::ToolResult(r) => r.output.len(),
        E::FileEdit(f) => f.file_path.len() + f.description.len() + f.diff.as_ref().map_or(0, String::len),
        E::TerminalOutput(t) => t.data.len(),
        E::PermissionRequest(p) => p.description.len() + p.tool_name.len(),
        E::Extension(x) => x.data.len(),
        _ => 16,
    }
}

fn guest_result(
    plugin: &LoadedPlugin,
    call: &str,
    r: Result<Vec<InputAction>, super::bindings::types::PluginError>,
) -> Result<Result<Vec<InputAction>, super::bindings::types::PluginError>, PluginError> {
    if let Ok(actions) = &r {
        check_actions(plugin, call, actions)?;
    }
    Ok(r)
}

fn actions_only(plugin: &LoadedPlugin, call: &str, actions: Vec<InputAction>) -> Result<Vec<InputAction>, PluginError> {
    check_actions(plugin, call, &actions)?;
    Ok(actions)
}

type GuestActions = Result<Vec<InputAction>, super::bindings::types::PluginError>;

impl ProviderInstance {
    session_call!(
        /// Feed pane output bytes.
        feed_output, "session.feed-output", call_feed_output, (data: &[u8]) -> Update, check_update);
    session_call!(
        /// Feed a screen capture.
        feed_screen, "session.feed-screen", call_feed_screen, (screen: &Screen) -> Update, check_update);
    session_call!(
        /// Feed one transcript line.
        feed_transcript, "session.feed-transcript", call_feed_transcript, (line: &str) -> Update, check_update);
    session_call!(
        /// Feed one protocol line.
        feed_protocol, "session.feed-protocol", call_feed_protocol, (line: &str) -> Update, check_update);
    session_call!(
        /// Tell the provider the agent process ended.
        process_exited, "session.process-exited", call_process_exited, (code: Option<i32>) -> Update, check_update);
    session_call!(
        /// Input that submits a prompt (or the plugin's refusal).
        encode_prompt, "session.encode-prompt", call_encode_prompt, (text: &str) -> GuestActions, guest_result);
    session_call!(
        /// Input that steers the running turn (or the plugin's refusal).
        encode_steer, "session.encode-steer", call_encode_steer, (text: &str) -> GuestActions, guest_result);
    session_call!(
        /// Input that interrupts the running turn.
        encode_interrupt, "session.encode-interrupt", call_encode_interrupt, () -> Vec<InputAction>, actions_only);
    session_call!(
        /// Input that answers a permission request (or the plugin's refusal).
        encode_permission, "session.encode-permission", call_encode_permission, (permission_id: &str, decision: &PermissionDecision) -> GuestActions, guest_result);
}
