//! `wasmux-bench plugins`: the plugin runtime in-process — compile, cached
//! load, instantiate from `InstancePre`, and the shell provider's output
//! parser as wasm beside the same parser compiled natively.

use std::sync::Arc;
use std::time::Instant;

use crate::stats::nanos as stats;
use wasmux::plugins::cache::CompileCache;
use wasmux::plugins::call;
use wasmux::plugins::embedded::EMBEDDED;
use wasmux::plugins::engine::PluginEngine;
use wasmux::plugins::loader::{self, Grant, LoadInput, PluginLimits, PluginPre, Source};
use wasmux::plugins::provider_instance::{LaunchRequest, ProviderInstance};
use wasmux::store::Store;

/// The shell provider's parser, compiled natively from the same source file.
#[path = "../../plugins/shell/src/osc.rs"]
#[allow(dead_code)]
mod osc;

/// 4 KiB chunks of realistic shell output: command marks, SGR colours,
/// UTF-8 text, line endings.
fn chunks(count: usize) -> Vec<Vec<u8>> {
    let mut stream = Vec::new();
    let mut i = 0;
    while stream.len() < count * 4096 + 4096 {
        stream.extend_from_slice(b"\x1b]133;C\x07");
        for _ in 0..20 {
            stream.extend_from_slice(
                format!("\x1b[32m{i:>6}\x1b[0m  -rw-r--r--  caf\u{e9} r\u{e9}sum\u{e9} file_{i}.txt\r\n").as_bytes(),
            );
            i += 1;
        }
        stream.extend_from_slice(b"\x1b]133;D;0\x07\x1b]133;A\x07user@host:~$ \x1b]133;B\x07");
    }
    stream.chunks(4096).take(count).map(<[u8]>::to_vec).collect()
}

/// What the wasm provider does per chunk, natively: scan, then turn pieces
/// into events with the same rules (output only while a command runs).
fn native_parse(scanner: &mut osc::Scanner, running: &mut bool, data: &[u8], pieces: &mut Vec<osc::Piece>) -> usize {
    pieces.clear();
    scanner.feed(data, pieces);
    let mut events: Vec<String> = Vec::new();
    for p in pieces.drain(..) {
        match p {
            osc::Piece::Text(t) if *running => events.push(t),
            osc::Piece::Mark(osc::Mark::Executed) => {
                *running = true;
                events.push("task-started".into());
            }
            osc::Piece::Mark(osc::Mark::Finished(code)) if *running => {
                *running = false;
                events.push(format!("task-complete {code:?}"));
            }
            _ => {}
        }
    }
    std::hint::black_box(&events);
    events.len()
}

/// Run the benchmark with `iterations` per measurement.
pub async fn run(iterations: usize) -> anyhow::Result<()> {
    let shell = EMBEDDED.iter().find(|e| e.name == "shell").expect("shell is embedded");
    let engine = PluginEngine::new()?;
    let tmp = std::env::temp_dir().join(format!("wasmux-bench-{}", std::process::id()));
    let cache = CompileCache::new(Some(tmp.clone()), engine.fingerprint())?;
    let store = Arc::new(Store::in_memory()?);
    let input = || LoadInput {
        wasm: shell.wasm.to_vec(),
        manifest: shell.manifest.to_string(),
        source: Source::Embedded,
    };
    let manifest = loader::parse_manifest(&input())?;
    let grant = Grant {
        capabilities: manifest.capabilities.clone(),
        ..Grant::default()
    };
    let limits = PluginLimits {
        deadline: std::time::Duration::from_millis(100),
        memory_bytes: 64 << 20,
    };

    let t = Instant::now();
    let _ = loader::load(
        &engine.engine,
        &cache,
        store.clone(),
        input(),
        manifest.clone(),
        grant.clone(),
        limits,
    )?;
    let first_load = t.elapsed();
    let t = Instant::now();
    let plugin = Arc::new(loader::load(
        &engine.engine,
        &cache,
        store.clone(),
        input(),
        manifest,
        grant,
        limits,
    )?);
    let cached_load = t.elapsed();
    let _ = std::fs::remove_dir_all(&tmp);

    // Instantiate from InstancePre.
    let PluginPre::Provider(pre) = &plugin.pre else {
        anyhow::bail!("shell is not a provider")
    };
    let mut inst = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        let mut s = call::new_store(&plugin);
        call::arm(&plugin, &mut s);
        let b = pre
            .instantiate_async(&mut s)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        std::hint::black_box(&b);
        inst.push(t.elapsed().as_nanos() as u64);
    }
    let inst = stats(&mut inst);

    // Parser per call: wasm vs native, same 4 KiB chunks.
    let data = chunks(iterations);
    let req = LaunchRequest {
        session: "bench".into(),
        cwd: "/".into(),
        args: vec![],
        env: vec![],
        cols: 120,
        rows: 40,
        session_uuid: "00000000-0000-0000-0000-000000000000".into(),
    };
    let mut provider = ProviderInstance::new(plugin.clone(), req).await?;
    let mut wasm = Vec::with_capacity(iterations);
    let mut wasm_events = 0usize;
    let started = Instant::now();
    for c in &data {
        let t = Instant::now();
        let u = provider.feed_output(c).await?;
        wasm.push(t.elapsed().as_nanos() as u64);
        wasm_events += u.events.len();
    }
    let wasm_total = started.elapsed();
    let wasm = stats(&mut wasm);

    let mut scanner = osc::Scanner::new();
    let mut running = false;
    let mut pieces = Vec::new();
    let mut native = Vec::with_capacity(iterations);
    let mut native_events = 0usize;
    let started = Instant::now();
    for c in &data {
        let t = Instant::now();
        native_events += native_parse(&mut scanner, &mut running, c, &mut pieces);
        native.push(t.elapsed().as_nanos() as u64);
    }
    let native_total = started.elapsed();
    let native = stats(&mut native);
    let mb = (data.len() * 4096) as f64 / 1e6;

    println!(
        "wasmux bench plugins — shell provider ({} KB component), {iterations} iterations",
        shell.wasm.len() / 1024
    );
    println!();
    println!("| measurement                         | mean       | p50        | p99        |");
    println!("|-------------------------------------|------------|------------|------------|");
    println!(
        "| compile (first load, no cache)      | {:>7.1} ms |            |            |",
        first_load.as_secs_f64() * 1e3
    );
    println!(
        "| load from on-disk cache             | {:>7.2} ms |            |            |",
        cached_load.as_secs_f64() * 1e3
    );
    println!(
        "| instantiate from InstancePre        | {:>7.1} µs | {:>7.1} µs | {:>7.1} µs |",
        inst.mean / 1e3,
        inst.p50 / 1e3,
        inst.p99 / 1e3
    );
    println!(
        "| parse 4 KiB chunk — wasm provider   | {:>7.1} µs | {:>7.1} µs | {:>7.1} µs |",
        wasm.mean / 1e3,
        wasm.p50 / 1e3,
        wasm.p99 / 1e3
    );
    println!(
        "| parse 4 KiB chunk — native baseline | {:>7.1} µs | {:>7.1} µs | {:>7.1} µs |",
        native.mean / 1e3,
        native.p50 / 1e3,
        native.p99 / 1e3
    );
    println!();
    println!(
        "throughput: wasm {:.0} MB/s, native {:.0} MB/s (wasm/native time ratio {:.1}x); events: wasm {wasm_events}, native {native_events}",
        mb / wasm_total.as_secs_f64(),
        mb / native_total.as_secs_f64(),
        wasm.mean / native.mean.max(1.0)
    );
    Ok(())
}
