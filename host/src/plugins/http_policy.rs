//! Outgoing HTTP policy for `wasi:http`: refused unless the request's host is
//! on the plugin's allowlist (capability `http`), and never to loopback,
//! private or link-local addresses written as IP literals.

use std::net::IpAddr;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The hook state of one store.
pub struct HttpPolicy {
    plugin: String,
    allow: Vec<String>,
}

impl HttpPolicy {
    /// A policy for `plugin` allowing `allow` (exact host names).
    pub fn new(plugin: String, allow: Vec<String>) -> HttpPolicy {
        HttpPolicy { plugin, allow }
    }

    /// Whether `host` may be reached.
    pub fn permits(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>()
            && !is_public(ip)
        {
            return false;
        }
        self.allow.iter().any(|a| a.eq_ignore_ascii_case(host))
    }
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast())
        }
        IpAddr::V6(v6) => {
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

type SendResult = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendResult {
        let host = request.uri().host().unwrap_or_default().to_string();
        if !self.permits(&host) {
            tracing::warn!(plugin = %self.plugin, host = %host, "outgoing HTTP refused: host not on the plugin's allowlist");
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        _ = fut;
        Box::new(async move {
            use http_body_util::BodyExt;
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_and_private_addresses() {
        let p = HttpPolicy::new("t".into(), vec!["api.github.com".into(), "127.0.0.1".into()]);
        assert!(p.permits("api.github.com"));
        assert!(!p.permits("evil.example"));
        assert!(!p.permits("127.0.0.1"), "loopback refused even if listed");
        assert!(!p.permits("[::1]"));
    }
}
