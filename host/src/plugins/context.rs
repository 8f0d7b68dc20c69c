//! What one loaded plugin may reach: its name, config, secrets, key-value
//! namespace, HTTP allowlist and counters. Shared by all of its stores.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::store::Store;

/// Counters of one plugin, reported by `GET /plugins` and `/metrics`.
#[derive(Debug, Default)]
pub struct PluginStats {
    /// Calls into the plugin.
    pub calls: AtomicU64,
    /// Calls that trapped, hit the deadline or broke an output limit.
    pub failures: AtomicU64,
    /// Instances created (the first plus replacements after failures).
    pub instances: AtomicU64,
    /// Total time spent in calls, in nanoseconds.
    pub call_nanos: AtomicU64,
    /// Log records dropped by the rate limit.
    pub logs_dropped: AtomicU64,
    /// Whether the most recent call failed.
    pub last_failed: std::sync::atomic::AtomicBool,
    /// The last failure, for `GET /plugins`.
    pub last_error: Mutex<Option<String>>,
}

impl PluginStats {
    /// Record a call that took `nanos`.
    pub fn record_call(&self, nanos: u64) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.call_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.last_failed.store(false, Ordering::Relaxed);
    }

    /// Record a failed call.
    pub fn record_failure(&self, message: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.last_failed.store(true, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(message.to_string());
    }
}

/// A token bucket limiting how many log records a plugin may write.
#[derive(Debug)]
pub struct LogLimiter {
    tokens: f64,
    last: Instant,
    dropped_since_note: u64,
}

/// Sustained log records per second per plugin.
const LOG_RATE: f64 = 200.0;
/// Burst allowance.
const LOG_BURST: f64 = 1000.0;

impl Default for LogLimiter {
    fn default() -> Self {
        LogLimiter {
            tokens: LOG_BURST,
            last: Instant::now(),
            dropped_since_note: 0,
        }
    }
}

impl LogLimiter {
    /// Whether one more record may be written now. When records were dropped
    /// and writing resumes, returns how many were dropped meanwhile.
    pub fn admit(&mut self) -> (bool, u64) {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * LOG_RATE).min(LOG_BURST);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            (true, std::mem::take(&mut self.dropped_since_note))
        } else {
            self.dropped_since_note += 1;
            (false, 0)
        }
    }
}

/// Everything the host imports of one plugin act on.
pub struct PluginContext {
    /// Plugin name (log tag, kv namespace).
    pub name: String,
    /// Effective non-secret config (manifest defaults + operator overrides).
    pub config: BTreeMap<String, String>,
    /// Secret bytes by name. Never passed into a guest.
    pub secrets: HashMap<String, Vec<u8>>,
    /// Hosts outgoing HTTP may reach (capability `http`).
    pub http_allow: Vec<String>,
    /// The database, for `kv`.
    pub store: Arc<Store>,
    /// Counters.
    pub stats: Arc<PluginStats>,
    /// Log rate limit.
    pub log_limiter: Mutex<LogLimiter>,
}

impl std::fmt::Debug for PluginContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginContext")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("http_allow", &self.http_allow)
            .finish()
    }
}
