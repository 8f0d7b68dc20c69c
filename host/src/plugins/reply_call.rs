//! Calls into an integration's `reply-handler` (world `integration`): a
//! fresh store per call, like a webhook's `handle`.

use std::sync::Arc;

use super::bindings::integration::exports::wasmux::plugin::reply_handler as api;
use super::call;
use super::error::PluginError;
use super::loader::LoadedPlugin;

pub use api::{Credential, MessageInfo, OutboundRequest, Outcome, OutcomeStatus, PermissionAsked};

/// Most outbound requests one reply call may return.
pub const MAX_OUTBOUND: usize = 16;

/// What to tell the plugin.
pub enum ReplyCall {
    /// The message was accepted.
    Accepted(MessageInfo),
    /// A permission request while it runs.
    Permission(PermissionAsked),
    /// It ended.
    Outcome(Outcome),
}

impl ReplyCall {
    fn name(&self) -> &'static str {
        match self {
            ReplyCall::Accepted(_) => "on-accepted",
            ReplyCall::Permission(_) => "on-permission",
            ReplyCall::Outcome(_) => "on-outcome",
        }
    }
}

/// Run `call` on `plugin`'s `reply-handler`; its outbound requests.
/// `NotLoaded` if the plugin exports none.
pub async fn reply(plugin: &Arc<LoadedPlugin>, call: ReplyCall) -> Result<Vec<OutboundRequest>, PluginError> {
    let Some(pre) = &plugin.replies else {
        return Err(PluginError::NotLoaded {
            kind: "integration",
            name: plugin.name().to_string(),
        });
    };
    let mut store = call::new_store(plugin);
    call::arm(plugin, &mut store);
    let stderr = store.data().stderr.clone();
    let bindings = call::run(plugin, "instantiate", pre.instantiate_async(&mut store), &stderr).await?;
    call::arm(plugin, &mut store);
    let h = bindings.wasmux_plugin_reply_handler();
    let name = call.name();
    let out = match &call {
        ReplyCall::Accepted(m) => call::run(plugin, name, h.call_on_accepted(&mut store, m), &stderr).await?,
        ReplyCall::Permission(p) => call::run(plugin, name, h.call_on_permission(&mut store, p), &stderr).await?,
        ReplyCall::Outcome(o) => call::run(plugin, name, h.call_on_outcome(&mut store, o), &stderr).await?,
    }
    .map_err(|e| call::refused(plugin, e))?;
    if out.len() > MAX_OUTBOUND {
        let err = PluginError::OutputLimit {
            plugin: plugin.name().to_string(),
            call: name.into(),
            reason: format!("{} requests; the limit is {MAX_OUTBOUND}", out.len()),
        };
        call::fail(plugin, &err);
        return Err(err);
    }
    Ok(out)
}
