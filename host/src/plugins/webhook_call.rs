//! Webhook calls: a fresh store per request, so nothing leaks between
//! requests and a trap costs only that request.

use std::sync::Arc;

use super::bindings::types::HttpRequest;
use super::bindings::webhook::exports::wasmux::plugin::webhook_handler as api;
use super::call;
use super::error::PluginError;
use super::loader::LoadedPlugin;

pub use api::{Action, Enqueue, Reply};

/// Most actions one webhook reply may carry.
pub const MAX_WEBHOOK_ACTIONS: usize = 64;

/// Run `plugin`'s `handle` on `req` in a fresh instance.
pub async fn handle(plugin: &Arc<LoadedPlugin>, req: &HttpRequest) -> Result<Reply, PluginError> {
    let (mut store, bindings) = call::instantiate!(plugin, Webhook, "webhook");
    let stderr = store.data().stderr.clone();
    call::arm(plugin, &mut store);
    let fut = bindings.wasmux_plugin_webhook_handler().call_handle(&mut store, req);
    let reply = call::run(plugin, "handle", fut, &stderr)
        .await?
        .map_err(|e| call::refused(plugin, e))?;
    if reply.actions.len() > MAX_WEBHOOK_ACTIONS {
        let err = PluginError::OutputLimit {
            plugin: plugin.name().to_string(),
            call: "handle".into(),
            reason: format!("{} actions; the limit is {MAX_WEBHOOK_ACTIONS}", reply.actions.len()),
        };
        call::fail(plugin, &err);
        return Err(err);
    }
    Ok(reply)
}
