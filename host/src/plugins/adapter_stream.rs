//! Adapter calls: one fresh instance per HTTP request holding an `encoder`
//! for that response stream.

use std::sync::Arc;
use wasmtime::Store;
use wasmtime::component::ResourceAny;

use super::bindings::adapter::Adapter;
use super::bindings::adapter::exports::wasmux::plugin::event_adapter as api;
use super::bindings::types::HttpRequest;
use super::call;
use super::error::PluginError;
use super::loader::LoadedPlugin;
use super::store_data::StoreData;

pub use api::{Chunk, Inbound, MessageOutcome, PermissionResolution, StreamEvent, StreamItem};

async fn instantiate(plugin: &Arc<LoadedPlugin>) -> Result<(Store<StoreData>, Adapter), PluginError> {
    Ok(call::instantiate!(plugin, Adapter, "adapter"))
}

/// Parse a client request into the message to enqueue.
pub async fn decode_request(plugin: &Arc<LoadedPlugin>, req: &HttpRequest) -> Result<Inbound, PluginError> {
    let (mut store, bindings) = instantiate(plugin).await?;
    call::arm(plugin, &mut store);
    let stderr = store.data().stderr.clone();
    let fut = bindings
        .wasmux_plugin_event_adapter()
        .call_decode_request(&mut store, req);
    call::run(plugin, "decode-request", fut, &stderr)
        .await?
        .map_err(|e| call::refused(plugin, e))
}

/// An encoder for one response stream.
pub struct AdapterStream {
    plugin: Arc<LoadedPlugin>,
    store: Store<StoreData>,
    bindings: Adapter,
    encoder: ResourceAny,
}

impl AdapterStream {
    /// Start a stream of `session`'s events, answering `message_id` if set.
    pub async fn new(
        plugin: Arc<LoadedPlugin>,
        session: &str,
        message_id: Option<&str>,
    ) -> Result<AdapterStream, PluginError> {
        let (mut store, bindings) = instantiate(&plugin).await?;
        call::arm(&plugin, &mut store);
        let stderr = store.data().stderr.clone();
        let api = bindings.wasmux_plugin_event_adapter().encoder();
        let fut = api.call_constructor(&mut store, session, message_id);
        let encoder = call::run(&plugin, "encoder.constructor", fut, &stderr).await?;
        Ok(AdapterStream {
            plugin,
            store,
            bindings,
            encoder,
        })
    }

    /// Response headers.
    pub async fn headers(&mut self) -> Result<Vec<(String, String)>, PluginError> {
        call::arm(&self.plugin, &mut self.store);
        let stderr = self.store.data().stderr.clone();
        let api = self.bindings.wasmux_plugin_event_adapter().encoder();
        let fut = api.call_headers(&mut self.store, self.encoder);
        call::run(&self.plugin, "encoder.headers", fut, &stderr).await
    }

    /// Bytes before any event.
    pub async fn begin(&mut self) -> Result<Vec<u8>, PluginError> {
        call::arm(&self.plugin, &mut self.store);
        let stderr = self.store.data().stderr.clone();
        let api = self.bindings.wasmux_plugin_event_adapter().encoder();
        let fut = api.call_begin(&mut self.store, self.encoder);
        call::run(&self.plugin, "encoder.begin", fut, &stderr).await
    }

    /// Encode one event.
    pub async fn encode(&mut self, event: &StreamEvent) -> Result<Chunk, PluginError> {
        call::arm(&self.plugin, &mut self.store);
        let stderr = self.store.data().stderr.clone();
        let api = self.bindings.wasmux_plugin_event_adapter().encoder();
        let fut = api.call_encode(&mut self.store, self.encoder, event);
        call::run(&self.plugin, "encoder.encode", fut, &stderr).await
    }

    /// Final bytes; `error` when the stream ends abnormally.
    pub async fn finish(&mut self, error: Option<&str>) -> Result<Vec<u8>, PluginError> {
        call::arm(&self.plugin, &mut self.store);
        let stderr = self.store.data().stderr.clone();
        let api = self.bindings.wasmux_plugin_event_adapter().encoder();
        let fut = api.call_finish(&mut self.store, self.encoder, error);
        call::run(&self.plugin, "encoder.finish", fut, &stderr).await
    }
}
