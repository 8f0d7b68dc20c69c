//! `wasmux plugins check`: load a component the way the daemon would
//! (assuming the operator grants what its manifest asks for), instantiate
//! it once, and report what it imports and exports.

use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cache::CompileCache;
use super::call;
use super::engine::PluginEngine;
use super::error::PluginError;
use super::loader::{self, Grant, LoadInput, PluginLimits, PluginPre, Source};
use crate::store::Store;

/// What a successful check found.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    /// Plugin name.
    pub name: String,
    /// Kind.
    pub kind: String,
    /// Plugin version.
    pub version: String,
    /// WIT version.
    pub wit: String,
    /// Component size.
    pub size: usize,
    /// Capabilities it asks for.
    pub capabilities: Vec<String>,
    /// Component imports.
    pub imports: Vec<String>,
    /// Component exports.
    pub exports: Vec<String>,
    /// Webhook route.
    pub route: Option<String>,
    /// Compile time.
    pub compile_ms: u64,
    /// Instantiation time.
    pub instantiate_us: u64,
}

/// Check `wasm` with manifest `manifest` (default: `wasm` with `.toml`).
pub fn check_file(wasm: &Path, manifest: Option<&Path>) -> Result<CheckReport, PluginError> {
    let mut input = loader::read_files(wasm).or_else(|e| match manifest {
        Some(_) => Ok(LoadInput {
            wasm: std::fs::read(wasm).map_err(|e| PluginError::Io(format!("reading {}: {e}", wasm.display())))?,
            manifest: String::new(),
            source: Source::File(wasm.to_path_buf()),
        }),
        None => Err(e),
    })?;
    if let Some(m) = manifest {
        input.manifest =
            std::fs::read_to_string(m).map_err(|e| PluginError::Io(format!("reading {}: {e}", m.display())))?;
    }
    check_input(input)
}

/// Check an in-memory component + manifest.
pub fn check_input(input: LoadInput) -> Result<CheckReport, PluginError> {
    let io = |e: anyhow::Error| PluginError::Io(e.to_string());
    let engine = PluginEngine::new().map_err(io)?;
    let cache = CompileCache::new(None, engine.fingerprint()).map_err(|e| PluginError::Io(e.to_string()))?;
    let store = Arc::new(Store::in_memory().map_err(|e| PluginError::Io(e.to_string()))?);
    let manifest = loader::parse_manifest(&input)?;
    let grant = Grant {
        capabilities: manifest.capabilities.clone(),
        ..Grant::default()
    };
    let size = input.wasm.len();
    let started = Instant::now();
    let limits = PluginLimits {
        deadline: Duration::from_millis(1000),
        memory_bytes: 64 << 20,
    };
    let plugin = loader::load(&engine.engine, &cache, store, input, manifest.clone(), grant, limits)?;
    let compile_ms = started.elapsed().as_millis() as u64;
    let component_type = match &plugin.pre {
        PluginPre::Provider(p) => p.instance_pre().component().component_type(),
        PluginPre::Webhook(p) => p.instance_pre().component().component_type(),
        PluginPre::Adapter(p) => p.instance_pre().component().component_type(),
    };
    let imports = component_type
        .imports(&engine.engine)
        .map(|(n, _)| n.to_string())
        .collect();
    let exports = component_type
        .exports(&engine.engine)
        .map(|(n, _)| n.to_string())
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PluginError::Io(e.to_string()))?;
    let started = Instant::now();
    runtime.block_on(async {
        let mut store = call::new_store(&plugin);
        call::arm(&plugin, &mut store);
        let stderr = store.data().stderr.clone();
        match &plugin.pre {
            PluginPre::Provider(p) => call::run(&plugin, "instantiate", p.instantiate_async(&mut store), &stderr)
                .await
                .map(drop),
            PluginPre::Webhook(p) => call::run(&plugin, "instantiate", p.instantiate_async(&mut store), &stderr)
                .await
                .map(drop),
            PluginPre::Adapter(p) => call::run(&plugin, "instantiate", p.instantiate_async(&mut store), &stderr)
                .await
                .map(drop),
        }
    })?;
    let instantiate_us = started.elapsed().as_micros() as u64;
    Ok(CheckReport {
        name: manifest.name.clone(),
        kind: manifest.kind.as_str().to_string(),
        version: manifest.version.clone(),
        wit: manifest.wit.clone(),
        size,
        capabilities: manifest.capabilities.iter().map(|c| c.to_string()).collect(),
        imports,
        exports,
        route: manifest.webhook.map(|w| w.route),
        compile_ms,
        instantiate_us,
    })
}
