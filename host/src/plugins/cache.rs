//! Compiled-component cache on disk: `<state>/cache/components/<key>.cwasm`,
//! keyed by the SHA-256 of the component and the engine fingerprint, in a
//! 0700 directory the daemon created (deserialising is only sound for
//! artifacts we wrote ourselves).

use crate::util::{create_private_dir, write_private};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::error::PluginError;

/// Whether a load compiled or came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded precompiled code.
    Hit,
    /// Compiled now and stored.
    Compiled,
}

/// The on-disk compile cache.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: Option<PathBuf>,
    fingerprint: String,
}

/// Hex SHA-256 of `bytes`.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl CompileCache {
    /// A cache in `dir` (created 0700); `None` disables caching.
    pub fn new(dir: Option<PathBuf>, fingerprint: String) -> std::io::Result<CompileCache> {
        if let Some(dir) = &dir {
            create_private_dir(dir)?;
        }
        Ok(CompileCache { dir, fingerprint })
    }

    fn path_for(&self, hash: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{}-{}.cwasm", &hash[..32], self.fingerprint)))
    }

    /// Load `bytes` (whose hash is `hash`) as a component, from the cache if
    /// possible. Blocking: call from a blocking thread.
    pub fn load(
        &self,
        engine: &Engine,
        name: &str,
        hash: &str,
        bytes: &[u8],
    ) -> Result<(Component, CacheOutcome), PluginError> {
        let invalid = |reason: String| PluginError::Invalid {
            plugin: name.to_string(),
            reason,
        };
        let path = self.path_for(hash);
        if let Some(path) = path.as_ref().filter(|p| p.exists()) {
            // SAFETY: the file was written by `serialize` below into a 0700
            // directory this daemon created; wasmtime checks the engine
            // compatibility header and rejects mismatches.
            match unsafe { Component::deserialize_file(engine, path) } {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(e) => tracing::warn!(plugin = name, error = %e, "cached code unusable; recompiling"),
            }
        }
        let started = Instant::now();
        tracing::info!(
            plugin = name,
            size_kb = bytes.len() / 1024,
            "compiling plugin (first start only; the result is cached)"
        );
        let progress = ProgressNote::start(name.to_string());
        let component = Component::new(engine, bytes).map_err(|e| invalid(format!("not a valid component: {e:#}")))?;
        drop(progress);
        tracing::info!(
            plugin = name,
            ms = started.elapsed().as_millis() as u64,
            "compiled plugin"
        );
        if let Some(path) = path {
            match component.serialize() {
                Ok(code) => {
                    if let Err(e) = write_private(&path, &code) {
                        tracing::warn!(plugin = name, error = %e, "could not store compiled code");
                    }
                }
                Err(e) => tracing::warn!(plugin = name, error = %e, "could not serialise compiled code"),
            }
        }
        Ok((component, CacheOutcome::Compiled))
    }
}

/// Logs "still compiling" every few seconds until dropped.
struct ProgressNote {
    done: std::sync::mpsc::Sender<()>,
}

impl ProgressNote {
    fn start(name: String) -> ProgressNote {
        let (done, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let started = Instant::now();
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(3)) {
                tracing::info!(plugin = %name, elapsed_s = started.elapsed().as_secs(), "still compiling plugin");
            }
        });
        ProgressNote { done }
    }
}

impl Drop for ProgressNote {
    fn drop(&mut self) {
        let _ = self.done.send(());
    }
}
