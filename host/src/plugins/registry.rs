//! The set of loaded plugins: embedded ones, then drop-ins from the plugins
//! folder (a drop-in with an embedded plugin's name replaces it). The folder
//! is polled; adding, replacing or removing a file takes effect within a
//! second, and a broken replacement keeps the previous build serving.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio::sync::broadcast;

use super::cache::{CacheOutcome, CompileCache};
use super::capability::Capability;
use super::embedded::EMBEDDED;
use super::engine::PluginEngine;
use super::error::PluginError;
use super::loader::{self, Grant, LoadInput, LoadedPlugin, PluginLimits, Source};
use super::manifest::{Kind, Manifest};
use crate::config::{Config, resolve_secret};
use crate::store::Store;

/// How often the plugins folder is scanned.
pub const SCAN_INTERVAL: Duration = Duration::from_millis(500);

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

/// A change to the set of plugins, for running sessions to follow.
#[derive(Debug, Clone)]
pub enum PluginChange {
    /// A plugin was loaded or replaced.
    Loaded(String),
    /// A plugin was removed.
    Removed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint(Vec<(u64, Option<SystemTime>)>);

#[derive(Default)]
struct Inner {
    plugins: BTreeMap<String, Arc<LoadedPlugin>>,
    embedded: BTreeMap<String, Arc<LoadedPlugin>>,
    /// Which plugin each folder file provides (after a successful load).
    files: HashMap<PathBuf, (Fingerprint, Option<String>)>,
    /// Failures by source (file path or `embedded:<name>`).
    failures: BTreeMap<String, LoadFailure>,
}

/// The loaded plugins.
pub struct PluginRegistry {
    engine: Arc<PluginEngine>,
    cache: CompileCache,
    store: Arc<Store>,
    config: Arc<Config>,
    dir: Option<PathBuf>,
    inner: RwLock<Inner>,
    reload_lock: tokio::sync::Mutex<()>,
    changes: broadcast::Sender<PluginChange>,
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

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
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

    fn enabled(&self, name: &str) -> bool {
        self.config.plugins.get(name).and_then(|s| s.enabled).unwrap_or(true)
    }

    /// Load `input` on a blocking thread.
    async fn load_one(&self, input: LoadInput) -> Result<LoadedPlugin, (Option<String>, PluginError)> {
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
    fn check_route(inner: &Inner, plugin: &LoadedPlugin) -> Result<(), PluginError> {
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

    fn record_failure(&self, key: String, name: Option<String>, err: &PluginError) {
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

    /// Scan the plugins folder once; `force` reloads unchanged files too.
    pub async fn scan(&self, force: bool) {
        let Some(dir) = self.dir.clone() else { return };
        let _guard = self.reload_lock.lock().await;
        let present = list_wasm(&dir);
        // Removed files.
        let gone: Vec<PathBuf> = self
            .read()
            .files
            .keys()
            .filter(|p| !present.contains_key(*p))
            .cloned()
            .collect();
        for path in gone {
            self.remove_file(&path);
        }
        let stale_failures: Vec<String> = self
            .read()
            .failures
            .keys()
            .filter(|k| !k.starts_with("embedded:") && !present.contains_key(Path::new(k.as_str())))
            .cloned()
            .collect();
        for k in stale_failures {
            self.write().failures.remove(&k);
        }
        // New or changed files.
        for (path, fp) in present {
            let known = self.read().files.get(&path).map(|(f, _)| f.clone());
            if !force && known.as_ref() == Some(&fp) {
                continue;
            }
            self.load_file(&path, fp).await;
        }
    }

    async fn load_file(&self, path: &Path, fp: Fingerprint) {
        let key = path.display().to_string();
        let previous = self.read().files.get(path).and_then(|(_, n)| n.clone());
        let outcome = match loader::read_files(path) {
            Ok(input) => self.load_one(input).await,
            Err(e) => Err((None, e)),
        };
        match outcome {
            Ok(plugin) => {
                let name = plugin.name().to_string();
                let mut inner = self.write();
                if !self.enabled(&name) {
                    inner.files.insert(path.to_path_buf(), (fp, None));
                    drop(inner);
                    tracing::info!(plugin = %name, "plugin file present but disabled by config");
                    return;
                }
                // Another file already provides this name?
                let clash = inner
                    .files
                    .iter()
                    .find(|(p, (_, n))| p.as_path() != path && n.as_deref() == Some(name.as_str()))
                    .map(|(p, _)| p.display().to_string());
                let check = match clash {
                    Some(other) => Err(PluginError::Invalid {
                        plugin: name.clone(),
                        reason: format!("the name is already provided by {other}"),
                    }),
                    None => Self::check_route(&inner, &plugin),
                };
                if let Err(err) = check {
                    inner.files.insert(path.to_path_buf(), (fp, previous.clone()));
                    drop(inner);
                    self.record_failure(key, Some(name), &err);
                    return;
                }
                if let Some(prev) = previous.filter(|p| *p != name) {
                    Self::unload_name(&mut inner, &prev);
                }
                log_loaded(&plugin);
                inner.failures.remove(&key);
                inner.files.insert(path.to_path_buf(), (fp, Some(name.clone())));
                inner.plugins.insert(name.clone(), Arc::new(plugin));
                drop(inner);
                let _ = self.changes.send(PluginChange::Loaded(name));
            }
            Err((name, err)) => {
                // Keep whatever this file provided before; remember the fingerprint
                // so an unchanged broken file is not retried every scan.
                self.write().files.insert(path.to_path_buf(), (fp, previous));
                self.record_failure(key, name, &err);
            }
        }
    }

    fn unload_name(inner: &mut Inner, name: &str) {
        inner.plugins.remove(name);
        if let Some(embedded) = inner.embedded.get(name).cloned() {
            inner.plugins.insert(name.to_string(), embedded);
        }
    }

    fn remove_file(&self, path: &Path) {
        let mut inner = self.write();
        let name = inner.files.remove(path).and_then(|(_, n)| n);
        inner.failures.remove(&path.display().to_string());
        if let Some(name) = name {
            Self::unload_name(&mut inner, &name);
            drop(inner);
            tracing::info!(plugin = %name, file = %path.display(), "plugin removed");
            let _ = self.changes.send(PluginChange::Removed(name));
        }
    }

    /// Poll the plugins folder until `shutdown` fires.
    pub async fn watch(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::create_dir_all(dir);
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep(SCAN_INTERVAL) => self.scan(false).await,
                _ = shutdown.changed() => return,
            }
        }
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

    /// Plugin settings from config (e.g. `allow_create`).
    pub fn settings(&self, name: &str) -> crate::config::PluginSettings {
        self.config.plugins.get(name).cloned().unwrap_or_default()
    }
}

fn log_loaded(plugin: &LoadedPlugin) {
    tracing::info!(
        plugin = plugin.name(),
        kind = plugin.manifest.kind.as_str(),
        version = %plugin.manifest.version,
        source = %plugin.source,
        compiled = plugin.cache == CacheOutcome::Compiled,
        "plugin loaded"
    );
}

/// `*.wasm` files in `dir` with fingerprints of them and their manifests.
fn list_wasm(dir: &Path) -> HashMap<PathBuf, Fingerprint> {
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "wasm") && path.is_file() {
            let stamp = |p: &Path| {
                std::fs::metadata(p)
                    .map(|m| (m.len(), m.modified().ok()))
                    .unwrap_or((0, None))
            };
            let fp = Fingerprint(vec![stamp(&path), stamp(&path.with_extension("toml"))]);
            out.insert(path, fp);
        }
    }
    out
}
