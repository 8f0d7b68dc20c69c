//! Errors of the plugin runtime.

use super::capability::Capability;

/// Anything that can go wrong loading or calling a plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The manifest is missing or invalid.
    #[error("manifest {origin}: {reason}")]
    Manifest {
        /// Which manifest.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// The `.wasm` is not a valid component or failed to compile.
    #[error("plugin `{plugin}`: {reason}")]
    Invalid {
        /// Plugin name.
        plugin: String,
        /// What is wrong.
        reason: String,
    },
    /// The plugin imports or requests a capability the operator did not grant.
    #[error(
        "plugin `{plugin}` needs capability `{capability}` ({detail}), which is not granted; \
         grant it with `grants = [\"{capability}\"]` under [plugins.{plugin}] in the config"
    )]
    NotGranted {
        /// Plugin name.
        plugin: String,
        /// The missing capability.
        capability: Capability,
        /// Where the need comes from (an import name or the manifest).
        detail: String,
    },
    /// The plugin was built against a WIT version this host does not accept.
    #[error("plugin `{plugin}` was built against wasmux:plugin@{found}, but this host accepts {accepted}")]
    WitVersion {
        /// Plugin name.
        plugin: String,
        /// The version the plugin names.
        found: String,
        /// The range this host accepts.
        accepted: String,
    },
    /// Two webhook plugins claim one route.
    #[error("webhook route `{route}` is claimed by both `{existing}` and `{incoming}`; remove or rename one")]
    RouteConflict {
        /// The route.
        route: String,
        /// The plugin already serving it.
        existing: String,
        /// The plugin that also wants it.
        incoming: String,
    },
    /// A call trapped (panic, unreachable, memory cap, stack overflow).
    #[error("plugin `{plugin}` trapped in `{call}`: {reason}")]
    Trap {
        /// Plugin name.
        plugin: String,
        /// The export called.
        call: String,
        /// The trap message.
        reason: String,
    },
    /// A call ran past its CPU deadline and was interrupted.
    #[error("plugin `{plugin}` exceeded its {deadline_ms} ms deadline in `{call}` and was interrupted")]
    Deadline {
        /// Plugin name.
        plugin: String,
        /// The export called.
        call: String,
        /// The budget.
        deadline_ms: u64,
    },
    /// A call returned more than the host accepts.
    #[error("plugin `{plugin}` returned too much from `{call}`: {reason}")]
    OutputLimit {
        /// Plugin name.
        plugin: String,
        /// The export called.
        call: String,
        /// Which limit.
        reason: String,
    },
    /// The plugin answered with its own typed error.
    #[error("plugin `{plugin}`: {message}")]
    Refused {
        /// Plugin name.
        plugin: String,
        /// The error kind the plugin chose.
        kind: RefusalKind,
        /// The plugin's message.
        message: String,
    },
    /// No plugin of that name and kind is loaded.
    #[error("no {kind} plugin named `{name}` is loaded")]
    NotLoaded {
        /// Expected kind.
        kind: &'static str,
        /// Requested name.
        name: String,
    },
    /// Reading or writing plugin files failed.
    #[error("{0}")]
    Io(String),
}

impl PluginError {
    /// Whether the error is the plugin's fault at run time (counted as a failure).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            PluginError::Trap { .. } | PluginError::Deadline { .. } | PluginError::OutputLimit { .. }
        )
    }
}

/// The kind of error a plugin answered with (WIT `error-kind`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalKind {
    /// The request was malformed.
    InvalidInput,
    /// Credentials were missing or wrong.
    Unauthorized,
    /// Not allowed.
    Forbidden,
    /// No such thing.
    NotFound,
    /// The plugin cannot do that.
    Unsupported,
    /// The plugin failed.
    Internal,
    /// A kind of the plugin's own.
    Other(String),
}

impl From<super::bindings::types::ErrorKind> for RefusalKind {
    fn from(k: super::bindings::types::ErrorKind) -> RefusalKind {
        use super::bindings::types::ErrorKind as K;
        match k {
            K::InvalidInput => RefusalKind::InvalidInput,
            K::Unauthorized => RefusalKind::Unauthorized,
            K::Forbidden => RefusalKind::Forbidden,
            K::NotFound => RefusalKind::NotFound,
            K::Unsupported => RefusalKind::Unsupported,
            K::Internal => RefusalKind::Internal,
            K::Other(o) => RefusalKind::Other(o),
        }
    }
}
