//! Settings of the HTTP edge (`[server]`) and of `/metrics` (`[metrics]`).

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// The HTTP edge.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Extra names accepted in the `Host` header (without port, compared
    /// case-insensitively), added to the loopback names (`localhost`,
    /// `127.0.0.1`, `::1`) and the listen address's IP, which are always
    /// accepted. `"*"` accepts any host (turns the check off). Requests
    /// naming another host get `421 host_not_allowed` (a DNS-rebinding
    /// defence); `/health` is exempt.
    pub allowed_hosts: Vec<String>,
    /// Seconds a client has to send a request's headers before the
    /// connection is closed. Default 10.
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's whole body once its headers
    /// arrived (`408 body_timeout` beyond). Default 30.
    pub body_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            allowed_hosts: Vec::new(),
            header_timeout_secs: 10,
            body_timeout_secs: 30,
        }
    }
}

/// The host part of a `Host` header value or URI authority: no port, no
/// brackets around an IPv6 address, lower case.
pub fn host_name(authority: &str) -> String {
    let a = authority.trim();
    let host = if let Some(rest) = a.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else if a.matches(':').count() == 1 {
        a.split(':').next().unwrap_or("")
    } else {
        a
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl ServerConfig {
    /// Whether a request naming `authority` (a `Host` header value) may be
    /// served by a daemon listening on `listen`.
    pub fn host_allowed(&self, authority: &str, listen: SocketAddr) -> bool {
        let host = host_name(authority);
        if matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1") || host.ends_with(".localhost") {
            return true;
        }
        let ip = listen.ip();
        if !ip.is_unspecified() && host == ip.to_string() {
            return true;
        }
        self.allowed_hosts.iter().any(|h| h == "*" || host_name(h) == host)
    }
}

/// `/metrics`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` without any token. Default false.
    pub public: bool,
    /// A second bearer token accepted on `/metrics` only (and nowhere else),
    /// for a scraper that must not hold the operator token: `env:VAR`,
    /// `file:/path`, or the literal value.
    pub scrape_token: Option<String>,
    /// Label the per-session families (`wasmux_stream_clients`,
    /// `wasmux_output_*`, `wasmux_events_total`, `wasmux_messages`) with
    /// `session`. Default false: one unlabelled total per family.
    pub per_session: bool,
    /// With `per_session`, at most this many sessions (by name) get their
    /// own label; the rest are summed under `session="_other"`. Default 100.
    pub max_sessions: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            public: false,
            scrape_token: None,
            per_session: false,
            max_sessions: 100,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_port_and_brackets() {
        assert_eq!(host_name("LocalHost:7420"), "localhost");
        assert_eq!(host_name("[::1]:7420"), "::1");
        assert_eq!(host_name("::1"), "::1");
        assert_eq!(host_name("example.com."), "example.com");
    }

    #[test]
    fn dns_rebinding_hosts_are_refused_by_default() {
        let c = ServerConfig::default();
        let listen: SocketAddr = "127.0.0.1:7420".parse().unwrap();
        assert!(c.host_allowed("127.0.0.1:7420", listen));
        assert!(c.host_allowed("localhost", listen));
        assert!(c.host_allowed("[::1]:7420", listen));
        assert!(!c.host_allowed("evil.example:7420", listen));
        assert!(!c.host_allowed("127.0.0.1.evil.example", listen));
        let lan: SocketAddr = "10.1.2.3:7420".parse().unwrap();
        assert!(c.host_allowed("10.1.2.3:7420", lan));
        let c = ServerConfig {
            allowed_hosts: vec!["Wasmux.Internal".into()],
            ..ServerConfig::default()
        };
        assert!(c.host_allowed("wasmux.internal:443", listen));
        let c = ServerConfig {
            allowed_hosts: vec!["*".into()],
            ..ServerConfig::default()
        };
        assert!(c.host_allowed("anything", listen));
    }
}

/// The outbox of replies and notifications.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    /// Attempts per delivery before it is given up. Default 8.
    pub max_attempts: u32,
    /// First retry delay in ms, doubling per attempt (at most 10 min) unless
    /// the far side's `Retry-After` says otherwise. Default 1000.
    pub retry_base_ms: u64,
    /// UNSAFE, for test rigs only: lets `http_allow` name a loopback
    /// address and `http://` URLs, so replies can reach a fake API on
    /// this machine. Never set it where plugins are not your own: a plugin
    /// could then reach every service on localhost. Default false.
    pub unsafe_allow_loopback: bool,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            max_attempts: 8,
            retry_base_ms: 1000,
            unsafe_allow_loopback: false,
        }
    }
}
