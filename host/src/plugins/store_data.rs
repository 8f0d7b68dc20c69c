//! The data of one plugin `Store`: an empty WASI context (no preopens, no
//! env, sockets denied), wasi:http with a deny-by-default outgoing hook,
//! memory limits, the deadline budget, and the plugin's context.

use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::context::PluginContext;
use super::http_policy::HttpPolicy;
use super::stderr_tail::StderrTail;

/// Per-store state.
pub struct StoreData {
    /// The plugin this store runs.
    pub ctx: Arc<PluginContext>,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: HttpPolicy,
    table: ResourceTable,
    /// Memory and instance limits.
    pub limits: StoreLimits,
    /// Epoch ticks the current call may still run.
    pub ticks_left: u64,
    /// The guest's stderr (last 4 KiB), quoted in trap reports.
    pub stderr: StderrTail,
}

impl StoreData {
    /// Fresh state for `ctx` with a memory cap of `memory_bytes`.
    pub fn new(ctx: Arc<PluginContext>, memory_bytes: usize) -> StoreData {
        let stderr = StderrTail::default();
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .stderr(stderr.clone())
            .build();
        let limits = StoreLimitsBuilder::new()
            .memory_size(memory_bytes)
            .table_elements(100_000)
            .instances(64)
            .tables(64)
            .memories(16)
            .trap_on_grow_failure(true)
            .build();
        StoreData {
            hooks: HttpPolicy::new(ctx.name.clone(), ctx.http_allow.clone()),
            ctx,
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits,
            ticks_left: 0,
            stderr,
        }
    }
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StoreData {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
