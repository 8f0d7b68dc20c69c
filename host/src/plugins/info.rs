//! What `GET /plugins` reports: loaded plugins with their counters and
//! health, and files that failed to load.

use serde::Serialize;
use std::collections::HashMap;

use super::cache::CacheOutcome;
use super::capability::Capability;
use super::manifest::Kind;
use super::registry::PluginRegistry;

/// A file that failed to load.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadFailure {
    /// The plugin name, if the manifest could be read.
    pub name: Option<String>,
    /// The file (or `embedded`).
    pub source: String,
    /// Why it failed.
    pub error: String,
    /// When (ms since epoch).
    pub at: u64,
}

/// One row of `GET /plugins`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginInfo {
    /// Plugin name.
    pub name: String,
    /// Kind.
    pub kind: Kind,
    /// Plugin version.
    pub version: String,
    /// WIT version it was built against.
    pub wit: String,
    /// Description from the manifest.
    pub description: String,
    /// `embedded` or the file path.
    pub source: String,
    /// SHA-256 of the component.
    pub sha256: String,
    /// Component size in bytes.
    pub size: usize,
    /// Capabilities granted.
    pub capabilities: Vec<Capability>,
    /// Webhook route, for webhook plugins.
    pub route: Option<String>,
    /// `ok`, `failing` (its last call failed) or `reload-failed` (a newer
    /// file is broken; this build keeps serving).
    pub health: String,
    /// Calls made.
    pub calls: u64,
    /// Calls that trapped, timed out or broke a limit.
    pub failures: u64,
    /// Instances created.
    pub instances: u64,
    /// Mean call time in microseconds.
    pub mean_call_us: f64,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// Why the newest file for this plugin did not load, if it did not.
    pub reload_error: Option<String>,
    /// Whether the load compiled (`compiled`) or used cached code (`cached`).
    pub compile: String,
    /// When loaded (ms since epoch).
    pub loaded_at: u64,
    /// CPU deadline per call, ms.
    pub deadline_ms: u64,
    /// Memory cap, MiB.
    pub memory_mib: u64,
}

impl PluginRegistry {
    /// Rows for `GET /plugins`, plus files that failed to load.
    pub fn describe(&self) -> (Vec<PluginInfo>, Vec<LoadFailure>) {
        let inner = self.read();
        let mut reload_errors: HashMap<String, String> = HashMap::new();
        let mut failures = Vec::new();
        for f in inner.failures.values() {
            match &f.name {
                Some(n) if inner.plugins.contains_key(n) => {
                    reload_errors.insert(n.clone(), format!("{}: {}", f.source, f.error));
                }
                _ => failures.push(f.clone()),
            }
        }
        let rows = inner
            .plugins
            .values()
            .map(|p| {
                let s = p.stats();
                use std::sync::atomic::Ordering::Relaxed;
                let calls = s.calls.load(Relaxed);
                let reload_error = reload_errors.remove(p.name());
                let health = if reload_error.is_some() {
                    "reload-failed"
                } else if s.last_failed.load(Relaxed) {
                    "failing"
                } else {
                    "ok"
                };
                PluginInfo {
                    name: p.name().to_string(),
                    kind: p.manifest.kind,
                    version: p.manifest.version.clone(),
                    wit: p.manifest.wit.clone(),
                    description: p.manifest.description.clone(),
                    source: p.source.to_string(),
                    sha256: p.hash.clone(),
                    size: p.size,
                    capabilities: p.granted.clone(),
                    route: p.manifest.webhook.as_ref().map(|w| w.route.clone()),
                    health: health.to_string(),
                    calls,
                    failures: s.failures.load(Relaxed),
                    instances: s.instances.load(Relaxed),
                    mean_call_us: if calls == 0 {
                        0.0
                    } else {
                        s.call_nanos.load(Relaxed) as f64 / calls as f64 / 1000.0
                    },
                    last_error: s.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone(),
                    reload_error,
                    compile: match p.cache {
                        CacheOutcome::Hit => "cached".into(),
                        CacheOutcome::Compiled => "compiled".into(),
                    },
                    loaded_at: p.loaded_at,
                    deadline_ms: p.limits.deadline.as_millis() as u64,
                    memory_mib: (p.limits.memory_bytes >> 20) as u64,
                }
            })
            .collect();
        (rows, failures)
    }
}
