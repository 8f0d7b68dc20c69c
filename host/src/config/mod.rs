//! Daemon configuration: TOML file + `WASMUX_*` environment overrides +
//! command-line flags, in that order of precedence (flags win).
//!
//! Environment overrides name a key path with `__` between levels, e.g.
//! `WASMUX_LISTEN=127.0.0.1:9000` or `WASMUX_LIMITS__QUEUE_CAP=10`; values are
//! parsed as TOML (falling back to a string).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::plugins::capability::Capability;
use crate::store::Durability;

#[cfg(test)]
mod fuzz_tests;
mod ops;
pub use ops::{MetricsConfig, OutboxConfig, ServerConfig};

/// The documented default port.
pub const DEFAULT_PORT: u16 = 7420;

/// Everything `wasmux serve` reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:7420` (loopback only).
    pub listen: SocketAddr,
    /// State directory (token, database, logs, tmux socket, plugin cache).
    /// Default: `$XDG_STATE_HOME/wasmux` (`~/.local/state/wasmux`).
    pub state_dir: Option<PathBuf>,
    /// Folder watched for drop-in plugins. Default `<state_dir>/plugins`.
    pub plugins_dir: Option<PathBuf>,
    /// Request and queue limits.
    pub limits: Limits,
    /// Store settings.
    pub store: StoreConfig,
    /// Defaults for every plugin.
    pub plugin_defaults: PluginDefaults,
    /// Per-plugin grants and settings, by plugin name.
    pub plugins: BTreeMap<String, PluginSettings>,
    /// Terminal stream settings.
    pub stream: StreamConfig,
    /// Session defaults.
    pub sessions: SessionConfig,
    /// The HTTP edge: allowed `Host` names, read timeouts.
    pub server: ServerConfig,
    /// `/metrics`: who may scrape, which labels.
    pub metrics: MetricsConfig,
    /// Replies and notifications: retries, and the test-only loopback switch.
    pub outbox: OutboxConfig,
}

/// Request and queue limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request body accepted, in bytes (413 beyond). Default 1 MiB.
    pub body_bytes: usize,
    /// Most queued messages per session (429 beyond). Default 100.
    pub queue_cap: usize,
    /// Seconds a turn may run before it is failed. Default 1800.
    pub turn_timeout_secs: u64,
}

/// Store settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `normal` (survives a daemon crash) or `full` (also a power cut).
    pub durability: Durability,
}

/// Defaults applied to every plugin.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginDefaults {
    /// CPU deadline per call, in milliseconds. Default 100.
    pub deadline_ms: u64,
    /// Memory cap per instance, in MiB. Default 64.
    pub memory_mib: u64,
    /// Capabilities granted to drop-in plugins without a per-plugin entry.
    /// Default `["log", "clock", "config"]`. First-party (embedded) plugins
    /// get what their manifest asks for unless `[plugins.<name>] grants` says
    /// otherwise.
    pub grants: Vec<Capability>,
}

/// One plugin's operator settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginSettings {
    /// Extra capabilities granted (added to `plugin_defaults.grants`; for an
    /// embedded plugin, replaces what its manifest asks for).
    pub grants: Option<Vec<Capability>>,
    /// Non-secret config values (override the manifest's defaults).
    pub config: BTreeMap<String, toml::Value>,
    /// Secrets by name: `env:VAR`, `file:/path`, or the literal value.
    pub secrets: BTreeMap<String, String>,
    /// Hosts the plugin may reach over HTTP (needs grant `http`).
    pub http_allow: Vec<String>,
    /// CPU deadline per call, in ms.
    pub deadline_ms: Option<u64>,
    /// Memory cap, in MiB.
    pub memory_mib: Option<u64>,
    /// Webhooks: may create sessions that do not exist yet.
    pub allow_create: bool,
    /// Set false to not load this plugin.
    pub enabled: Option<bool>,
}

/// Terminal stream settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// Origins allowed to open WebSockets (exact `scheme://host[:port]`).
    /// Requests without an `Origin` header (non-browser clients) are allowed.
    pub allowed_origins: Vec<String>,
    /// Output log retention per session, in bytes. Default 64 MiB.
    pub retention_bytes: u64,
    /// Frames buffered per WebSocket client before it is caught up from the
    /// log instead. Default 256.
    pub client_buffer_frames: usize,
    /// Also receive `%output` on the control client: snapshots then name
    /// their exact seq even mid-burst, at the cost of tmux formatting every
    /// byte twice (~40% less pane throughput). Default false: output is
    /// read only from the pipe sink; snapshots wait for a quiet moment.
    pub output_notifications: bool,
}

/// Session defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// Directories under which providers may tail transcript files
    /// (capability `transcript`). `~` is the daemon user's home.
    pub transcript_roots: Vec<String>,
    /// Re-deliver a message that was running when the daemon died, instead of
    /// reconciling it with its still-running agent (or failing it with
    /// `daemon restarted` when the agent is gone).
    pub redeliver_after_restart: bool,
    /// Default terminal size.
    pub cols: u16,
    /// Default terminal height.
    pub rows: u16,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            state_dir: None,
            plugins_dir: None,
            limits: Limits::default(),
            store: StoreConfig::default(),
            plugin_defaults: PluginDefaults::default(),
            plugins: BTreeMap::new(),
            stream: StreamConfig::default(),
            sessions: SessionConfig::default(),
            server: ServerConfig::default(),
            metrics: MetricsConfig::default(),
            outbox: OutboxConfig::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 1 << 20,
            queue_cap: 100,
            turn_timeout_secs: 1800,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            durability: Durability::Normal,
        }
    }
}

impl Default for PluginDefaults {
    fn default() -> Self {
        PluginDefaults {
            deadline_ms: 100,
            memory_mib: 64,
            grants: vec![Capability::Log, Capability::Clock, Capability::Config],
        }
    }
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            allowed_origins: Vec::new(),
            retention_bytes: 64 << 20,
            client_buffer_frames: 256,
            output_notifications: false,
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            transcript_roots: vec!["~/.claude/projects".into(), "~/.codex/sessions".into()],
            redeliver_after_restart: false,
            cols: 120,
            rows: 40,
        }
    }
}

/// Errors reading configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML (after env overrides) is invalid.
    #[error("invalid config: {0}")]
    Invalid(String),
    /// A secret reference could not be resolved.
    #[error("secret `{name}` of plugin `{plugin}`: {reason}")]
    Secret {
        /// Plugin.
        plugin: String,
        /// Secret name.
        name: String,
        /// Why.
        reason: String,
    },
}

impl Config {
    /// Load `path` (if given) and apply `WASMUX_*` environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_path_buf(),
                source,
            })?,
            None => String::new(),
        };
        Self::from_toml_and_env(&text, std::env::vars())
    }

    /// Parse `text` and apply overrides from `env` (pairs of name and value).
    pub fn from_toml_and_env(text: &str, env: impl Iterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let mut value: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        for (key, raw) in env {
            let Some(path) = key.strip_prefix("WASMUX_") else {
                continue;
            };
            if matches!(path, "URL" | "TOKEN" | "CONFIG" | "LOG") {
                continue; // client-side or handled elsewhere
            }
            let parts: Vec<String> = path.split("__").map(|p| p.to_ascii_lowercase()).collect();
            if parts.iter().any(String::is_empty) {
                tracing::debug!(var = %key, "ignoring environment variable: not a config key");
                continue;
            }
            let parsed = parse_env_value(&raw);
            // Only keys the config knows: other WASMUX_* variables (the
            // WASMUX_SESSION every pane has, WASMUX_PYTHON, …) are not ours.
            let mut probe = toml::Table::new();
            set_path(&mut probe, &parts, parsed.clone());
            match toml::Value::Table(probe).try_into::<Config>() {
                Ok(_) => set_path(&mut value, &parts, parsed),
                Err(e) if e.message().starts_with("unknown field") => {
                    tracing::debug!(var = %key, "ignoring environment variable: not a config key");
                }
                Err(e) => {
                    return Err(ConfigError::Invalid(format!(
                        "environment variable {key}: {}",
                        e.message()
                    )));
                }
            }
        }
        toml::Value::Table(value)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))
    }

    /// The state directory, resolved.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(default_state_dir)
    }

    /// The plugins folder, resolved.
    pub fn plugins_dir(&self) -> PathBuf {
        self.plugins_dir
            .clone()
            .unwrap_or_else(|| self.state_dir().join("plugins"))
    }
}

/// `$XDG_STATE_HOME/wasmux`, else `~/.local/state/wasmux`.
pub fn default_state_dir() -> PathBuf {
    dirs::state_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("wasmux")
}

fn parse_env_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    }
}

fn set_path(table: &mut toml::Table, parts: &[String], value: toml::Value) {
    let (first, rest) = parts.split_first().expect("non-empty");
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return;
    }
    let entry = table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !entry.is_table() {
        *entry = toml::Value::Table(toml::Table::new());
    }
    set_path(entry.as_table_mut().expect("table"), rest, value);
}

/// Resolve a secret reference: `env:VAR`, `file:/path`, or a literal.
pub fn resolve_secret(plugin: &str, name: &str, reference: &str) -> Result<Vec<u8>, ConfigError> {
    let err = |reason: String| ConfigError::Secret {
        plugin: plugin.into(),
        name: name.into(),
        reason,
    };
    let bytes = if let Some(var) = reference.strip_prefix("env:") {
        std::env::var(var)
            .map_err(|_| err(format!("environment variable {var} is not set")))?
            .into_bytes()
    } else if let Some(path) = reference.strip_prefix("file:") {
        let mut b = std::fs::read(path).map_err(|e| err(format!("reading {path}: {e}")))?;
        while b.last().is_some_and(|c| c.is_ascii_whitespace()) {
            b.pop();
        }
        b
    } else {
        reference.as_bytes().to_vec()
    };
    if bytes.is_empty() {
        return Err(err("the secret is empty".into()));
    }
    Ok(bytes)
}

/// Expand a leading `~` to the home directory.
pub fn expand_home(path: &str) -> PathBuf {
    match path.strip_prefix("~") {
        Some(rest) => dirs::home_dir().unwrap_or_default().join(rest.trim_start_matches('/')),
        None => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests;
