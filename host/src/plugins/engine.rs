//! The one wasmtime `Engine` and its policy: component model, async calls,
//! epoch interruption driven by a ticker thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::{Config, Engine};

/// How often the epoch advances; deadlines are counted in these ticks.
pub const TICK: Duration = Duration::from_millis(10);

/// The shared engine plus the thread that advances its epoch.
pub struct PluginEngine {
    /// The engine every plugin is compiled and run with.
    pub engine: Engine,
    stop: Arc<AtomicBool>,
}

impl PluginEngine {
    /// Build the engine and start its epoch ticker.
    pub fn new() -> anyhow::Result<PluginEngine> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.parallel_compilation(true);
        // Deep recursion in a guest traps instead of exhausting host stack.
        config.max_wasm_stack(1 << 20);
        let engine = Engine::new(&config).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker_engine = engine.clone();
        let ticker_stop = stop.clone();
        std::thread::Builder::new().name("wasmux-epoch".into()).spawn(move || {
            while !ticker_stop.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                ticker_engine.increment_epoch();
            }
        })?;
        Ok(PluginEngine { engine, stop })
    }

    /// A stable string naming what compiled code this engine accepts: the
    /// wasmtime version plus its compatibility hash.
    pub fn fingerprint(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        format!("wasmtime48-{:016x}", h.finish())
    }
}

impl Drop for PluginEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
