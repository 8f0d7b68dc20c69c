//! The plugin runtime in-process with real components: deadlines, memory
//! caps, traps, output floods, capability grants, malformed components.

use anyhow::Result;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use wasmux::config::Config;
use wasmux::plugins::cache::CompileCache;
use wasmux::plugins::engine::PluginEngine;
use wasmux::plugins::provider_instance::{LaunchRequest, ProviderInstance};
use wasmux::plugins::{Kind, PluginError, PluginRegistry};
use wasmux::store::Store;

use crate::harness::install_plugin;

fn request() -> LaunchRequest {
    LaunchRequest {
        session: "t".into(),
        cwd: "/tmp".into(),
        args: vec![],
        env: vec![],
        cols: 80,
        rows: 24,
        session_uuid: "0b6c3f6e-0000-4000-8000-000000000000".into(),
    }
}

async fn registry(dir: &Path, config: &str) -> Result<Arc<PluginRegistry>> {
    let config: Config = Config::from_toml_and_env(config, std::iter::empty())?;
    let engine = Arc::new(PluginEngine::new()?);
    let cache = CompileCache::new(Some(dir.join("cache")), engine.fingerprint())?;
    let store = Arc::new(Store::in_memory()?);
    let reg = Arc::new(PluginRegistry::new(
        engine,
        cache,
        store,
        Arc::new(config),
        Some(dir.join("plugins")),
    ));
    reg.load_embedded().await;
    reg.scan(false).await;
    Ok(reg)
}

async fn hostile(mode: &str) -> Result<(tempfile::TempDir, Arc<PluginRegistry>, ProviderInstance)> {
    let dir = tempfile::tempdir()?;
    let name = format!("hostile-{mode}");
    install_plugin(&dir.path().join("plugins"), "hostile", &name, "")?;
    // Only the loop is about the deadline: the memory bomb and the flood get
    // time to reach their limits even on a loaded machine.
    let deadline = if mode == "loop" { 100 } else { 10_000 };
    let config = format!("[plugins.{name}]\ndeadline_ms = {deadline}\n[plugins.{name}.config]\nmode = \"{mode}\"\n");
    let reg = registry(dir.path(), &config).await?;
    let plugin = reg.of_kind(&name, Kind::Provider)?;
    let inst = ProviderInstance::new(plugin, request()).await?;
    Ok((dir, reg, inst))
}

/// After a failure the next call gets a fresh instance (state reset) and works.
async fn recovers(inst: &mut ProviderInstance) -> Result<()> {
    let actions = inst.encode_prompt("hello").await?.expect("plugin accepts the prompt");
    assert_eq!(
        format!("{actions:?}"),
        r#"[InputAction::Text("calls=0")]"#,
        "a fresh instance starts over"
    );
    Ok(())
}

#[tokio::test]
async fn infinite_loop_is_interrupted_at_the_deadline() -> Result<()> {
    let (_d, reg, mut inst) = hostile("loop").await?;
    let started = Instant::now();
    let err = inst.feed_output(b"x").await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, PluginError::Deadline { deadline_ms: 100, .. }), "{err}");
    assert!(err.to_string().contains("hostile-loop"), "{err}");
    eprintln!("loop interrupted after {took:?} (deadline 100 ms)");
    recovers(&mut inst).await?;
    let (rows, _) = reg.describe();
    let row = rows.iter().find(|r| r.name == "hostile-loop").unwrap();
    assert_eq!(row.failures, 1);
    assert!(row.instances >= 2, "instance was replaced: {}", row.instances);
    Ok(())
}

#[tokio::test]
async fn memory_bomb_hits_the_cap() -> Result<()> {
    let (_d, _reg, mut inst) = hostile("membomb").await?;
    let err = inst.feed_output(b"x").await.unwrap_err();
    assert!(matches!(err, PluginError::Trap { .. }), "{err}");
    assert!(err.to_string().contains("memory limit of 64 MiB"), "{err}");
    recovers(&mut inst).await
}

#[tokio::test]
async fn trap_becomes_a_typed_error() -> Result<()> {
    let (_d, _reg, mut inst) = hostile("trap").await?;
    let err = inst.feed_output(b"x").await.unwrap_err();
    assert!(matches!(err, PluginError::Trap { .. }), "{err}");
    assert!(err.to_string().contains("unreachable"), "{err}");
    recovers(&mut inst).await
}

#[tokio::test]
async fn output_flood_is_refused_and_logs_are_rate_limited() -> Result<()> {
    let (_d, reg, mut inst) = hostile("flood").await?;
    let err = inst.feed_output(b"x").await.unwrap_err();
    assert!(matches!(err, PluginError::OutputLimit { .. }), "{err}");
    assert!(err.to_string().contains("50000 events"), "{err}");
    let plugin = reg.get("hostile-flood").unwrap();
    let dropped = plugin.stats().logs_dropped.load(std::sync::atomic::Ordering::Relaxed);
    assert!(dropped >= 15_000, "log flood was limited: {dropped} dropped");
    recovers(&mut inst).await
}

#[tokio::test]
async fn well_behaved_plugin_keeps_state_between_calls() -> Result<()> {
    let (_d, _reg, mut inst) = hostile("well").await?;
    inst.feed_output(b"a").await?;
    inst.feed_output(b"b").await?;
    let actions = inst.encode_prompt("x").await?.unwrap();
    assert_eq!(format!("{actions:?}"), r#"[InputAction::Text("calls=2")]"#);
    Ok(())
}

#[tokio::test]
async fn ungranted_capability_fails_to_load_naming_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    install_plugin(&dir.path().join("plugins"), "greedy", "greedy", "")?;
    let reg = registry(dir.path(), "").await?;
    assert!(reg.get("greedy").is_none());
    let (_, failures) = reg.describe();
    let f = failures
        .iter()
        .find(|f| f.name.as_deref() == Some("greedy"))
        .expect("failure listed");
    assert!(f.error.contains("capability `kv`"), "{}", f.error);
    assert!(f.error.contains("wasmux:plugin/kv@0.1.1"), "{}", f.error);
    assert!(f.error.contains("[plugins.greedy]"), "says how to grant: {}", f.error);
    // The shell still loaded alongside.
    assert!(reg.get("shell").is_some());

    // Granted, it loads and its kv namespace works.
    let dir2 = tempfile::tempdir()?;
    install_plugin(&dir2.path().join("plugins"), "greedy", "greedy", "")?;
    let reg = registry(dir2.path(), "[plugins.greedy]\ngrants = [\"kv\"]\n").await?;
    let plugin = reg.of_kind("greedy", Kind::Provider)?;
    let mut inst = ProviderInstance::new(plugin, request()).await?;
    let first = inst.encode_prompt("p").await?.unwrap();
    let second = inst.encode_prompt("p").await?.unwrap();
    assert_eq!(format!("{first:?}"), r#"[InputAction::Text("p #1")]"#);
    assert_eq!(format!("{second:?}"), r#"[InputAction::Text("p #2")]"#);
    Ok(())
}

#[tokio::test]
async fn malformed_components_and_manifests_get_precise_errors() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins)?;
    // Not a component at all.
    std::fs::write(plugins.join("junk.wasm"), b"\0asm\x01\0\0\0garbage")?;
    std::fs::write(
        plugins.join("junk.toml"),
        "name = \"junk\"\nkind = \"provider\"\nversion = \"0.1.0\"\nwit = \"0.1.0\"\n",
    )?;
    // A provider component whose manifest claims the webhook world.
    std::fs::copy(
        crate::harness::built_plugins().join("shell.wasm"),
        plugins.join("liar.wasm"),
    )?;
    std::fs::write(
        plugins.join("liar.toml"),
        "name = \"liar\"\nkind = \"webhook\"\nversion = \"0.1.0\"\nwit = \"0.1.0\"\n\
         capabilities = [\"log\", \"config\"]\n[webhook]\nroute = \"liar\"\n",
    )?;
    // A newer, incompatible WIT version.
    install_plugin(&plugins, "hostile", "future", "")?;
    let m = std::fs::read_to_string(plugins.join("future.toml"))?.replace("wit = \"0.1.1\"", "wit = \"0.2.0\"");
    std::fs::write(plugins.join("future.toml"), m)?;
    // A wasm without a manifest.
    std::fs::copy(
        crate::harness::built_plugins().join("shell.wasm"),
        plugins.join("orphan.wasm"),
    )?;

    let reg = registry(dir.path(), "").await?;
    let (_, failures) = reg.describe();
    let error_of = |needle: &str| {
        failures
            .iter()
            .find(|f| f.source.contains(needle))
            .map(|f| f.error.clone())
            .unwrap_or_else(|| panic!("no failure for {needle}: {failures:?}"))
    };
    let junk = error_of("junk.wasm");
    assert!(junk.contains("not a valid component"), "{junk}");
    let liar = error_of("liar.wasm");
    assert!(
        liar.contains("does not export `wasmux:plugin/webhook-handler`"),
        "{liar}"
    );
    let future = error_of("future.wasm");
    assert!(
        future.contains("wasmux:plugin@0.2.0") && future.contains("0.1.1"),
        "names both versions: {future}"
    );
    let orphan = error_of("orphan.wasm");
    assert!(orphan.contains("orphan.toml"), "{orphan}");
    assert!(reg.get("shell").is_some(), "the embedded plugin is unaffected");
    Ok(())
}
