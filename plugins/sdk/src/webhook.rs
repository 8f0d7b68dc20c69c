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
#[cfg(feature = "webhook")]
#[macro_export]
macro_rules! webhook {
    ($handler:ty) => {
        type __WasmuxWebhookGlue = $crate::WebhookGlue<$handler>;
        $crate::bindings::export_webhook!(__WasmuxWebhookGlue with_types_in $crate::bindings);
    };
}

/// An action queueing `text` into `session` (metadata `{}`, no dedupe key).
pub fn enqueue(session: impl Into<String>, text: impl Into<String>) -> Enqueue {
    Enqueue {
        session: session.into(),
        text: text.into(),
        create_with_provider: None,
        metadata: "{}".into(),
        idempotency_key: None,
    }
}

/// Decode lower- or upper-case hex; None if malformed.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Decode `application/x-www-form-urlencoded` pairs (`+` is a space).
pub fn form_decode(body: &[u8]) -> Vec<(String, String)> {
    fn unescape(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    match std::str::from_utf8(&bytes[i + 1..i + 3])
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .ok_or(())
                    {
                        Ok(b) => {
                            out.push(b);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (unescape(k), unescape(v)),
            None => (unescape(p), String::new()),
        })
        .collect()
}

/// A session name from arbitrary text: `[A-Za-z0-9_-]`, at most 64 chars.
pub fn session_name(raw: &str) -> String {
    let s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.chars().take(64).collect()
}

/// An error result with `kind` and `message`.
pub fn refuse<T>(kind: ErrorKind, message: impl Into<String>) -> Result<T, PluginError> {
    Err(error(kind, message))
}
