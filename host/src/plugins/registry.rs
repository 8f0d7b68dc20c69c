//! The set of loaded plugins: embedded ones, then drop-ins from the plugins
//! folder (a drop-in with an embedded plugin's name replaces it). The folder
//! is watched; adding, replacing or removing a file takes effect within a
//! second, and a broken replacement keeps the previous build serving.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::broadcast;

use super::cache::{CacheOutcome, CompileCache};
use super::embedded::EMBEDDED;
use super::engine::PluginEngine;
use super::error::PluginError;
use super::folder::Fingerprint;
pub use super::info::{LoadFailure, PluginInfo};
use super::loader::{self, Grant, LoadInput, LoadedPlugin, PluginLimits, Source};
use super::manifest::{Kind, Manifest};
use crate::config::{Config, resolve_secret};
use crate::store::Store;

/// A change to the set of plugins, for running sessions to follow.
#[derive(Debug, Clone)]
pub enum PluginChange {
    /// A plugin was loaded or replaced.
    Loaded(String),
    /// A plugin was removed.
    Removed(String),
}

#[derive(Default)]
pub(super) struct Inner {
    pub(super) plugins: BTreeMap<String, Arc<LoadedPlugin>>,
    pub(super) embedded: BTreeMap<String, Arc<LoadedPlugin>>,
    /// Which plugin each folder file provides (after a successful load).
    pub(super) files: HashMap<PathBuf, (Fingerprint, Option<String>)>,
    /// Failures by source (file path or `embedded:<name>`).
    pub(super) failures: BTreeMap<String, LoadFailure>,
}

/// The loaded plugins.
pub struct PluginRegistry {
    pub(super) engine: Arc<PluginEngine>,
    pub(super) cache: CompileCache,
    pub(super) store: Arc<Store>,
    pub(super) config: Arc<Config>,
    pub(super) dir: Option<PathBuf>,
    pub(super) inner: RwLock<Inner>,
    pub(super) reload_lock: tokio::sync::Mutex<()>,
    pub(super) changes: broadcast::Sender<PluginChange>,
}

impl PluginRegistry {
    /// A registry for `config`, caching compiled code in `cache`, watching
    /// `dir` if given.
    pub fn new(
        engine: Arc<PluginEngine>,
        cache: CompileCache,
        store: Arc<Store>,
        config: Arc<Config>,
        dir: Option<PathBuf>,
    ) -> PluginRegistry {
        PluginRegistry {
            engine,
            cache,
            store,
            config,
            dir,
            inner: RwLock::new(Inner::default()),
            reload_lock: tokio::sync::Mutex::new(()),
            changes: broadcast::channel(64).0,
        }
    }

    /// Subscribe to plugin changes.
    pub fn subscribe(&self) -> broadcast::Receiver<PluginChange> {
        self.changes.subscribe()
    }

    pub(super) fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Default limits from config.
    fn default_limits(&self) -> PluginLimits {
        PluginLimits {
            deadline: Duration::from_millis(self.config.plugin_defaults.deadline_ms),
            memory_bytes: (self.config.plugin_defaults.memory_mib as usize) << 20,
        }
    }

    /// What the operator grants the plugin described by `manifest`.
    pub fn grant_for(&self, manifest: &Manifest, source: &Source) -> Grant {
        let settings = self.config.plugins.get(&manifest.name).cloned().unwrap_or_default();
        let mut capabilities = match (source, &settings.grants) {
            (Source::Embedded, None) => manifest.capabilities.clone(),
            (Source::Embedded, Some(g)) => g.clone(),
            (Source::File(_), g) => {
                let mut c = self.config.plugin_defaults.grants.clone();
                c.extend(g.clone().unwrap_or_default());
                c
            }
        };
        capabilities.sort();
        capabilities.dedup();
        let mut secrets = HashMap::new();
        for (name, reference) in &settings.secrets {
            match resolve_secret(&manifest.name, name, reference) {
                Ok(bytes) => {
                    secrets.insert(name.clone(), bytes);
                }
                Err(e) => tracing::warn!(error = %e, "secret not available; the plugin will see it as not configured"),
            }
        }
        let config = settings
            .config
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), s)
            })
            .collect();
        let defaults = self.default_limits();
        let limits = (settings.deadline_ms.is_some() || settings.memory_mib.is_some()).then(|| PluginLimits {
            deadline: settings
                .deadline_ms
                .map(Duration::from_millis)
                .unwrap_or(defaults.deadline),
            memory_bytes: settings
                .memory_mib
                .map(|m| (m as usize) << 20)
                .unwrap_or(defaults.memory_bytes),
        });
        Grant {
            capabilities,
            config,
            secrets,
            http_allow: settings.http_allow.clone(),
            limits,
        }
    }

    pub(super) fn enabled(&self, name: &str) -> bool {
        self.config.plugins.get(name).and_then(|s| s.enabled).unwrap_or(true)
    }

    /// Load `input` on a blocking thread.
    pub(super) async fn load_one(&self, input: LoadInput) -> Result<LoadedPlugin, (Option<String>, PluginError)> {
        let manifest = loader::parse_manifest(&input).map_err(|e| (None, e))?;
        let name = manifest.name.clone();
        let grant = self.grant_for(&manifest, &input.source);
        let engine = self.engine.engine.clone();
        let cache = self.cache.clone();
        let store = self.store.clone();
        let limits = self.default_limits();
        tokio::task::spawn_blocking(move || loader::load(&engine, &cache, store, input, manifest, grant, limits))
            .await
            .map_err(|e| {
                (
                    Some(name.clone()),
                    PluginError::Io(format!("loader thread failed: {e}")),
                )
            })?
            .map_err(|e| (Some(name), e))
    }

    /// Check that `plugin`'s route (if a webhook) is free or already its own.
    pub(super) fn check_route(inner: &Inner, plugin: &LoadedPlugin) -> Result<(), PluginError> {
        let Some(route) = plugin.manifest.webhook.as_ref().map(|w| &w.route) else {
            return Ok(());
        };
        for other in inner.plugins.values() {
            if other.name() != plugin.name() && other.manifest.webhook.as_ref().map(|w| &w.route) == Some(route) {
                return Err(PluginError::RouteConflict {
                    route: route.clone(),
                    existing: other.name().to_string(),
                    incoming: plugin.name().to_string(),
                });
            }
        }
        Ok(())
    }

    /// Load the embedded plugins.
    pub async fn load_embedded(&self) {
        let _guard = self.reload_lock.lock().await;
        for e in EMBEDDED {
            if !self.enabled(e.name) {
                tracing::info!(plugin = e.name, "embedded plugin disabled by config");
                continue;
            }
            let input = LoadInput {
                wasm: e.wasm.to_vec(),
                manifest: e.manifest.to_string(),
                source: Source::Embedded,
            };
            let key = format!("embedded:{}", e.name);
            match self.load_one(input).await {
                Ok(plugin) => {
                    log_loaded(&plugin);
                    let plugin = Arc::new(plugin);
                    let mut inner = self.write();
                    inner.failures.remove(&key);
                    inner.embedded.insert(plugin.name().to_string(), plugin.clone());
                    inner.plugins.insert(plugin.name().to_string(), plugin.clone());
                    drop(inner);
                    let _ = self.changes.send(PluginChange::Loaded(e.name.to_string()));
                }
                Err((name, err)) => self.record_failure(key, name, &err),
            }
        }
    }

    pub(super) fn record_failure(&self, key: String, name: Option<String>, err: &PluginError) {
        tracing::error!(source = %key, error = %err, "plugin failed to load");
        self.write().failures.insert(
            key.clone(),
            LoadFailure {
                name,
                source: key,
                error: err.to_string(),
                at: crate::util::now_ms(),
            },
        );
    }

    /// The plugin named `name`, if loaded.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.read().plugins.get(name).cloned()
    }

    /// The loaded plugin `name` of kind `kind`.
    pub fn of_kind(&self, name: &str, kind: Kind) -> Result<Arc<LoadedPlugin>, PluginError> {
        self.get(name)
            .filter(|p| p.manifest.kind == kind)
            .ok_or_else(|| PluginError::NotLoaded {
                kind: kind.as_str(),
                name: name.to_string(),
            })
    }

    /// The webhook plugin owning `route`.
    pub fn webhook_for_route(&self, route: &str) -> Option<Arc<LoadedPlugin>> {
        self.read()
            .plugins
            .values()
            .find(|p| p.manifest.webhook.as_ref().is_some_and(|w| w.route == route))
            .cloned()
    }

    /// Every loaded plugin.
    pub fn all(&self) -> Vec<Arc<LoadedPlugin>> {
        self.read().plugins.values().cloned().collect()
    }

    /// Plugin settings from config (e.g. `allow_create`).
    pub fn settings(&self, name: &str) -> crate::config::PluginSettings {
        self.config.plugins.get(name).cloned().unwrap_or_default()
    }
}

pub(super) fn log_loaded(plugin: &LoadedPlugin) {
    tracing::info!(
        plugin = plugin.name(),
        kind = plugin.manifest.kind.as_str(),
        version = %plugin.manifest.version,
        source = %plugin.source,
        compiled = plugin.cache == CacheOutcome::Compiled,
        "plugin loaded"
    );
}
