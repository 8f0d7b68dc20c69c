//! Turning a `.wasm` plus its manifest into a ready-to-instantiate plugin:
//! compile (or load cached code), check WIT version, imports against grants
//! and exports against the kind's world, link, and pre-instantiate.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::bindings::{adapter::AdapterPre, integration::IntegrationPre, provider::ProviderPre, webhook::WebhookPre};
use super::cache::{CacheOutcome, CompileCache, content_hash};
use super::capability::Capability;
use super::context::{LogLimiter, PluginContext, PluginStats};
use super::error::PluginError;
use super::manifest::{Kind, Manifest};
use super::store_data::StoreData;
use crate::store::Store;

/// The WIT package version this host implements.
pub const WIT_VERSION: &str = "0.1.1";

/// The WIT versions this host accepts, for messages and `GET /plugins`.
pub fn accepted_wit_range() -> String {
    let v = semver::Version::parse(WIT_VERSION).expect("valid");
    format!("wasmux:plugin@{}.{}.0 through @{}", v.major, v.minor, v)
}

/// Whether a plugin built against `found` runs on this host: same major and
/// minor (0.x minors are breaking), and not newer than the host.
pub fn wit_compatible(found: &semver::Version) -> bool {
    let host = semver::Version::parse(WIT_VERSION).expect("valid");
    found.major == host.major && found.minor == host.minor && found.patch <= host.patch && found.pre.is_empty()
}

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Built into the binary.
    Embedded,
    /// Loaded from a file in the plugins folder.
    File(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Embedded => f.write_str("embedded"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Per-call and per-instance limits.
#[derive(Debug, Clone, Copy)]
pub struct PluginLimits {
    /// CPU deadline per call.
    pub deadline: Duration,
    /// Linear-memory cap per instance, in bytes.
    pub memory_bytes: usize,
}

/// A typed pre-instantiated component of one of the three worlds.
pub enum PluginPre {
    /// A provider.
    Provider(ProviderPre<StoreData>),
    /// A webhook.
    Webhook(WebhookPre<StoreData>),
    /// An adapter.
    Adapter(AdapterPre<StoreData>),
}

/// A plugin ready to instantiate.
pub struct LoadedPlugin {
    /// Its manifest.
    pub manifest: Manifest,
    /// Where it came from.
    pub source: Source,
    /// SHA-256 of the `.wasm`.
    pub hash: String,
    /// Size of the `.wasm` in bytes.
    pub size: usize,
    /// Capabilities granted.
    pub granted: Vec<Capability>,
    /// Whether this load compiled or hit the cache.
    pub cache: CacheOutcome,
    /// Limits applied to its calls.
    pub limits: PluginLimits,
    /// What its host imports act on.
    pub ctx: Arc<PluginContext>,
    /// The pre-instantiated component.
    pub pre: PluginPre,
    /// A webhook that also exports `reply-handler` (world `integration`):
    /// the same component, for the host's reply calls.
    pub replies: Option<IntegrationPre<StoreData>>,
    /// The engine it was compiled for.
    pub engine: Engine,
    /// Wall-clock load time (ms since epoch).
    pub loaded_at: u64,
}

impl LoadedPlugin {
    /// Plugin name.
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// Counters.
    pub fn stats(&self) -> &PluginStats {
        &self.ctx.stats
    }
}

/// What the operator allows one plugin, resolved from config.
#[derive(Debug, Clone, Default)]
pub struct Grant {
    /// Capabilities granted.
    pub capabilities: Vec<Capability>,
    /// Config overrides.
    pub config: std::collections::BTreeMap<String, String>,
    /// Secret bytes by name.
    pub secrets: std::collections::HashMap<String, Vec<u8>>,
    /// Hosts outgoing HTTP may reach.
    pub http_allow: Vec<String>,
    /// Limits.
    pub limits: Option<PluginLimits>,
}

/// Everything needed to load one plugin.
pub struct LoadInput {
    /// The component bytes.
    pub wasm: Vec<u8>,
    /// The manifest text.
    pub manifest: String,
    /// Where it came from.
    pub source: Source,
}

/// Parse the manifest of `input` (cheap; no compilation).
pub fn parse_manifest(input: &LoadInput) -> Result<Manifest, PluginError> {
    Manifest::parse(&input.manifest, &input.source.to_string())
}

/// Compile, check and pre-instantiate. Blocking (compilation can take
/// seconds): call from a blocking thread.
pub fn load(
    engine: &Engine,
    cache: &CompileCache,
    store: Arc<Store>,
    input: LoadInput,
    manifest: Manifest,
    grant: Grant,
    default_limits: PluginLimits,
) -> Result<LoadedPlugin, PluginError> {
    let name = manifest.name.clone();
    let found = semver::Version::parse(&manifest.wit).expect("validated");
    if !wit_compatible(&found) {
        return Err(PluginError::WitVersion {
            plugin: name,
            found: manifest.wit.clone(),
            accepted: accepted_wit_range(),
        });
    }
    let hash = content_hash(&input.wasm);
    let (component, cache_outcome) = cache.load(engine, &name, &hash, &input.wasm)?;
    check_imports(engine, &component, &manifest, &grant.capabilities)?;
    check_exports(engine, &component, &manifest)?;
    for cap in &manifest.capabilities {
        if !grant.capabilities.contains(cap) {
            return Err(PluginError::NotGranted {
                plugin: name,
                capability: *cap,
                detail: "requested in its manifest".into(),
            });
        }
    }

    let invalid = |reason: String| PluginError::Invalid {
        plugin: name.clone(),
        reason,
    };
    let linker = build_linker(engine, &grant.capabilities).map_err(|e| invalid(format!("linking: {e:#}")))?;
    let instance_pre = linker
        .instantiate_pre(&component)
        .map_err(|e| invalid(format!("cannot be linked: {e:#}")))?;
    let replies = match exports_replies(engine, &component, &manifest)? {
        true => Some(IntegrationPre::new(instance_pre.clone()).map_err(|e| world_mismatch(&name, manifest.kind, e))?),
        false => None,
    };
    let pre = match manifest.kind {
        Kind::Provider => {
            PluginPre::Provider(ProviderPre::new(instance_pre).map_err(|e| world_mismatch(&name, manifest.kind, e))?)
        }
        Kind::Webhook => {
            PluginPre::Webhook(WebhookPre::new(instance_pre).map_err(|e| world_mismatch(&name, manifest.kind, e))?)
        }
        Kind::Adapter => {
            PluginPre::Adapter(AdapterPre::new(instance_pre).map_err(|e| world_mismatch(&name, manifest.kind, e))?)
        }
    };

    let mut config = manifest.config.clone();
    config.extend(grant.config);
    let ctx = Arc::new(PluginContext {
        name: name.clone(),
        config,
        secrets: grant.secrets,
        http_allow: if grant.capabilities.contains(&Capability::Http) {
            grant.http_allow
        } else {
            Vec::new()
        },
        store,
        stats: Arc::new(PluginStats::default()),
        log_limiter: Mutex::new(LogLimiter::default()),
    });
    Ok(LoadedPlugin {
        size: input.wasm.len(),
        manifest,
        source: input.source,
        hash,
        granted: grant.capabilities,
        cache: cache_outcome,
        limits: grant.limits.unwrap_or(default_limits),
        ctx,
        pre,
        replies,
        engine: engine.clone(),
        loaded_at: crate::util::now_ms(),
    })
}

fn world_mismatch(name: &str, kind: Kind, e: wasmtime::Error) -> PluginError {
    PluginError::Invalid {
        plugin: name.to_string(),
        reason: format!("does not match the `{}` world: {e:#}", kind.as_str()),
    }
}

/// WASI p2 and wasi:http always (with an empty context), plus the granted
/// wasmux interfaces.
fn build_linker(engine: &Engine, granted: &[Capability]) -> wasmtime::Result<Linker<StoreData>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    super::imports::link_granted(&mut linker, granted)?;
    Ok(linker)
}

fn check_imports(
    engine: &Engine,
    component: &Component,
    manifest: &Manifest,
    granted: &[Capability],
) -> Result<(), PluginError> {
    let name = &manifest.name;
    for (import, _) in component.component_type().imports(engine) {
        if let Some(rest) = import.strip_prefix("wasmux:plugin/") {
            check_import_version(name, import, rest)?;
            let iface = rest.split('@').next().unwrap_or(rest);
            match Capability::for_import(import) {
                Some(cap) if !manifest.capabilities.contains(&cap) => {
                    return Err(PluginError::Invalid {
                        plugin: name.clone(),
                        reason: format!(
                            "imports `{import}` but its manifest does not list capability `{cap}`; add it to `capabilities`"
                        ),
                    });
                }
                Some(cap) if !granted.contains(&cap) => {
                    return Err(PluginError::NotGranted {
                        plugin: name.clone(),
                        capability: cap,
                        detail: format!("it imports `{import}`"),
                    });
                }
                Some(_) => {}
                None if iface == "types" => {}
                None => {
                    return Err(PluginError::Invalid {
                        plugin: name.clone(),
                        reason: format!("imports `{import}`, which is not an interface a plugin may import"),
                    });
                }
            }
        } else if !import.starts_with("wasi:") {
            return Err(PluginError::Invalid {
                plugin: name.clone(),
                reason: format!("imports `{import}`, which wasmux does not provide (only wasi:* and wasmux:plugin/*)"),
            });
        }
    }
    Ok(())
}

fn check_import_version(name: &str, import: &str, rest: &str) -> Result<(), PluginError> {
    let version = rest.split_once('@').map(|(_, v)| v).unwrap_or("");
    let parsed = semver::Version::parse(version).map_err(|_| PluginError::Invalid {
        plugin: name.to_string(),
        reason: format!("imports `{import}` without a valid version"),
    })?;
    if !wit_compatible(&parsed) {
        return Err(PluginError::WitVersion {
            plugin: name.to_string(),
            found: version.to_string(),
            accepted: accepted_wit_range(),
        });
    }
    Ok(())
}

fn check_exports(engine: &Engine, component: &Component, manifest: &Manifest) -> Result<(), PluginError> {
    let wanted = manifest.kind.export_interface();
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(n, _)| n.to_string())
        .collect();
    let found = exports.iter().find(|e| e.split('@').next() == Some(wanted));
    match found {
        Some(export) => {
            let rest = export.strip_prefix("wasmux:plugin/").unwrap_or(export);
            check_import_version(&manifest.name, export, rest)
        }
        None => Err(PluginError::Invalid {
            plugin: manifest.name.clone(),
            reason: format!(
                "its manifest says kind `{}`, but the component does not export `{wanted}` (exports: {}); build it for the `{}` world",
                manifest.kind.as_str(),
                if exports.is_empty() {
                    "none".to_string()
                } else {
                    exports.join(", ")
                },
                manifest.kind.as_str()
            ),
        }),
    }
}

/// The interface an integration exports beside `webhook-handler`.
pub const REPLY_HANDLER: &str = "wasmux:plugin/reply-handler";

/// Whether a webhook component also exports `reply-handler` (at a version
/// this host accepts); other kinds may not.
fn exports_replies(engine: &Engine, component: &Component, manifest: &Manifest) -> Result<bool, PluginError> {
    let found = component
        .component_type()
        .exports(engine)
        .map(|(n, _)| n.to_string())
        .find(|e| e.split('@').next() == Some(REPLY_HANDLER));
    let Some(export) = found else { return Ok(false) };
    if manifest.kind != Kind::Webhook {
        return Err(PluginError::Invalid {
            plugin: manifest.name.clone(),
            reason: format!("exports `{export}`, which only a webhook plugin may (world `integration`)"),
        });
    }
    let rest = export.strip_prefix("wasmux:plugin/").unwrap_or(&export);
    check_import_version(&manifest.name, &export, rest)?;
    Ok(true)
}

/// Read `<dir>/<name>.wasm` and `<dir>/<name>.toml` into a [`LoadInput`].
pub fn read_files(wasm_path: &std::path::Path) -> Result<LoadInput, PluginError> {
    let manifest_path = wasm_path.with_extension("toml");
    let wasm =
        std::fs::read(wasm_path).map_err(|e| PluginError::Io(format!("reading {}: {e}", wasm_path.display())))?;
    let manifest = std::fs::read_to_string(&manifest_path).map_err(|e| {
        PluginError::Io(format!(
            "reading manifest {} for {}: {e}",
            manifest_path.display(),
            wasm_path.display()
        ))
    })?;
    Ok(LoadInput {
        wasm,
        manifest,
        source: Source::File(wasm_path.to_path_buf()),
    })
}
