//! Capabilities: what a plugin may ask of the host, and how imports map to them.

use serde::{Deserialize, Serialize};

/// One grantable capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Import `wasmux:plugin/log`.
    Log,
    /// Import `wasmux:plugin/clock`.
    Clock,
    /// Import `wasmux:plugin/config` (the plugin's own non-secret config).
    Config,
    /// Import `wasmux:plugin/kv` (a private key-value namespace).
    Kv,
    /// Import `wasmux:plugin/crypto` (verify against named secrets).
    Crypto,
    /// Outgoing HTTP through `wasi:http` to the operator's allowlisted hosts.
    Http,
    /// Webhook actions that enqueue messages into sessions.
    Enqueue,
    /// Providers: tail a transcript file under an operator-allowed directory.
    Transcript,
    /// Providers: run the agent under `wasmux bridge` (stdio protocol channel).
    Bridge,
}

impl Capability {
    /// Every capability, for messages and docs.
    pub const ALL: [Capability; 9] = [
        Capability::Log,
        Capability::Clock,
        Capability::Config,
        Capability::Kv,
        Capability::Crypto,
        Capability::Http,
        Capability::Enqueue,
        Capability::Transcript,
        Capability::Bridge,
    ];

    /// The name used in manifests and config.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Log => "log",
            Capability::Clock => "clock",
            Capability::Config => "config",
            Capability::Kv => "kv",
            Capability::Crypto => "crypto",
            Capability::Http => "http",
            Capability::Enqueue => "enqueue",
            Capability::Transcript => "transcript",
            Capability::Bridge => "bridge",
        }
    }

    /// The capability a component import needs, if it is one of wasmux's own
    /// interfaces (`wasmux:plugin/<iface>@<version>`). WASI imports need none.
    pub fn for_import(import: &str) -> Option<Capability> {
        let rest = import.strip_prefix("wasmux:plugin/")?;
        let iface = rest.split('@').next().unwrap_or(rest);
        match iface {
            "log" => Some(Capability::Log),
            "clock" => Some(Capability::Clock),
            "config" => Some(Capability::Config),
            "kv" => Some(Capability::Kv),
            "crypto" => Some(Capability::Crypto),
            _ => None,
        }
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_names() {
        assert_eq!(Capability::for_import("wasmux:plugin/kv@0.1.0"), Some(Capability::Kv));
        assert_eq!(Capability::for_import("wasmux:plugin/types@0.1.0"), None);
        assert_eq!(Capability::for_import("wasi:io/streams@0.2.0"), None);
    }
}
