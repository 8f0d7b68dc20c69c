//! The plugins folder: scanning it, loading new and changed files, dropping
//! removed ones, and following it with a file watcher.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::error::PluginError;
use super::loader;
use super::registry::{Inner, PluginChange, PluginRegistry, log_loaded};

/// How often the plugins folder is scanned when it cannot be watched.
pub const SCAN_INTERVAL: Duration = Duration::from_millis(500);
/// How often it is scanned anyway while it is watched.
const FALLBACK_SCAN: Duration = Duration::from_secs(5);
/// How long a change settles before the scan it wakes.
const SETTLE: Duration = Duration::from_millis(100);

/// Size and modification time of a component and its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fingerprint(Vec<(u64, Option<SystemTime>)>);

impl PluginRegistry {
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

    /// Follow the plugins folder until `shutdown` fires: a file change wakes
    /// a scan (after [`SETTLE`], so a file being copied in is read whole);
    /// a slow poll backs the watcher up.
    pub async fn watch(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let changed = Arc::new(tokio::sync::Notify::new());
        let _watch = self.dir.as_ref().and_then(|dir| {
            let _ = std::fs::create_dir_all(dir);
            crate::watch::watch(dir, changed.clone())
        });
        let poll = if _watch.is_some() { FALLBACK_SCAN } else { SCAN_INTERVAL };
        loop {
            tokio::select! {
                _ = changed.notified() => {
                    tokio::time::sleep(SETTLE).await;
                    self.scan(false).await;
                }
                _ = tokio::time::sleep(poll) => self.scan(false).await,
                _ = shutdown.changed() => return,
            }
        }
    }
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
