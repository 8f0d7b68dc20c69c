//! Running one guest call under the plugin's limits: a fresh or reused
//! store, an epoch budget, a wall-clock backstop, and errors turned into
//! typed [`PluginError`]s that name the plugin and the call.

use std::future::Future;
use std::time::{Duration, Instant};
use wasmtime::{Store, Trap, UpdateDeadline};

use super::engine::TICK;
use super::error::PluginError;
use super::loader::LoadedPlugin;
use super::store_data::StoreData;

/// A store for `plugin` with its memory cap and deadline callback installed.
pub fn new_store(plugin: &LoadedPlugin) -> Store<StoreData> {
    let data = StoreData::new(plugin.ctx.clone(), plugin.limits.memory_bytes);
    let mut store = Store::new(&plugin.engine, data);
    store.limiter(|d| &mut d.limits);
    store.epoch_deadline_callback(|mut ctx| {
        let data = ctx.data_mut();
        if data.ticks_left == 0 {
            Ok(UpdateDeadline::Interrupt)
        } else {
            data.ticks_left -= 1;
            Ok(UpdateDeadline::Yield(1))
        }
    });
    plugin
        .stats()
        .instances
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    store
}

/// Give the next call its full budget.
pub fn arm(plugin: &LoadedPlugin, store: &mut Store<StoreData>) {
    let ticks = plugin.limits.deadline.as_millis().div_ceil(TICK.as_millis()).max(1) as u64;
    store.data_mut().ticks_left = ticks;
    store.data_mut().stderr.clear();
    store.set_epoch_deadline(1);
}

/// Wall-clock limit for a call, beyond the epoch budget: covers time spent in
/// host functions, which epochs cannot interrupt.
pub fn backstop(plugin: &LoadedPlugin) -> Duration {
    plugin.limits.deadline * 20 + Duration::from_secs(2)
}

/// Await `fut` (a call on a store armed with [`arm`]) and classify the outcome.
/// `stderr` is read after the call to quote a panic message.
pub async fn run<R>(
    plugin: &LoadedPlugin,
    call: &str,
    fut: impl Future<Output = wasmtime::Result<R>>,
    stderr: &super::stderr_tail::StderrTail,
) -> Result<R, PluginError> {
    let started = Instant::now();
    let outcome = tokio::time::timeout(backstop(plugin), fut).await;
    plugin.stats().record_call(started.elapsed().as_nanos() as u64);
    let err = match outcome {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(e)) => classify(plugin, call, e, stderr),
        Err(_) => PluginError::Deadline {
            plugin: plugin.name().to_string(),
            call: call.to_string(),
            deadline_ms: backstop(plugin).as_millis() as u64,
        },
    };
    fail(plugin, &err);
    Err(err)
}

/// Count and log a failure.
pub fn fail(plugin: &LoadedPlugin, err: &PluginError) {
    plugin.stats().record_failure(&err.to_string());
    tracing::warn!(plugin = plugin.name(), error = %err, "plugin call failed; its instance will be replaced");
}

fn classify(
    plugin: &LoadedPlugin,
    call: &str,
    e: wasmtime::Error,
    stderr: &super::stderr_tail::StderrTail,
) -> PluginError {
    let name = plugin.name().to_string();
    if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return PluginError::Deadline {
            plugin: name,
            call: call.to_string(),
            deadline_ms: plugin.limits.deadline.as_millis() as u64,
        };
    }
    let text = format!("{e:#}");
    let mut reason = if text.contains("forcing trap when growing memory") {
        format!("memory limit of {} MiB reached", plugin.limits.memory_bytes >> 20)
    } else {
        e.downcast_ref::<Trap>()
            .map(|t| t.to_string())
            .unwrap_or_else(|| first_line(&text))
    };
    let tail = stderr.text();
    if !tail.is_empty() {
        let last: Vec<&str> = tail.lines().rev().take(3).collect();
        reason.push_str(&format!(
            " (stderr: {})",
            last.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    PluginError::Trap {
        plugin: name,
        call: call.to_string(),
        reason,
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}

/// Turn a guest's own typed error into a [`PluginError::Refused`].
pub fn refused(plugin: &LoadedPlugin, e: super::bindings::types::PluginError) -> PluginError {
    PluginError::Refused {
        plugin: plugin.name().to_string(),
        kind: e.kind.into(),
        message: e.message,
    }
}

/// Instantiate `$plugin` from its pre-instance of variant `$variant` (plugin
/// kind `$kind`): a fresh, armed store and the bindings; returns
/// `NotLoaded` from the calling function if the plugin is another kind.
macro_rules! instantiate {
    ($plugin:expr, $variant:ident, $kind:literal) => {{
        let plugin: &std::sync::Arc<$crate::plugins::LoadedPlugin> = $plugin;
        let $crate::plugins::loader::PluginPre::$variant(pre) = &plugin.pre else {
            return Err($crate::plugins::PluginError::NotLoaded {
                kind: $kind,
                name: plugin.name().to_string(),
            });
        };
        let mut store = $crate::plugins::call::new_store(plugin);
        $crate::plugins::call::arm(plugin, &mut store);
        let stderr = store.data().stderr.clone();
        let bindings =
            $crate::plugins::call::run(plugin, "instantiate", pre.instantiate_async(&mut store), &stderr).await?;
        (store, bindings)
    }};
}
pub(crate) use instantiate;
