//! Webhook plugins: implement [`WebhookHandler`], then call
//! [`webhook!`](crate::webhook).

use crate::bindings::exports::wasmux::plugin::webhook_handler::Guest;
pub use crate::bindings::exports::wasmux::plugin::webhook_handler::{Action, Enqueue, Reply};
pub use crate::bindings::wasmux::plugin::{crypto, kv};
use crate::*;

/// A webhook integration.
pub trait WebhookHandler: 'static {
    /// Handle one request to the plugin's route.
    fn handle(req: HttpRequest) -> Result<Reply, PluginError>;
}

/// The value of header `name` (case-insensitive), if present.
pub fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A response with `status`, a JSON content type and `body`.
pub fn json_response(status: u16, body: impl Into<String>) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.into().into_bytes(),
    }
}

/// A reply with no actions.
pub fn reply(response: HttpResponse) -> Reply {
    Reply {
        response,
        actions: Vec::new(),
    }
}

#[doc(hidden)]
pub struct WebhookGlue<H>(std::marker::PhantomData<H>);

impl<H: WebhookHandler> Guest for WebhookGlue<H> {
    fn handle(req: HttpRequest) -> Result<Reply, PluginError> {
        H::handle(req)
    }
}

/// Export `$handler` (a type implementing [`WebhookHandler`]) as this
/// component's `webhook-handler`.
#[macro_export]
macro_rules! webhook {
    ($handler:ty) => {
        type __WasmuxWebhookGlue = $crate::WebhookGlue<$handler>;
        $crate::bindings::export_webhook!(__WasmuxWebhookGlue with_types_in $crate::bindings);
    };
}
