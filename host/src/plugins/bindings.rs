//! Host-side bindings generated from `wit/`, one module per world. The
//! webhook world (the widest) generates the shared interfaces; the others
//! reuse them so there is one Rust type per WIT type.

/// Bindings of the `webhook` world, plus the shared interfaces.
pub mod webhook {
    wasmtime::component::bindgen!({
        world: "webhook",
        path: "../wit",
        exports: { default: async },
    });
}

/// Bindings of the `provider` world.
pub mod provider {
    wasmtime::component::bindgen!({
        world: "provider",
        path: "../wit",
        exports: { default: async },
        with: {
            "wasmux:plugin/types": super::webhook::wasmux::plugin::types,
            "wasmux:plugin/log": super::webhook::wasmux::plugin::log,
            "wasmux:plugin/clock": super::webhook::wasmux::plugin::clock,
            "wasmux:plugin/config": super::webhook::wasmux::plugin::config,
            "wasmux:plugin/kv": super::webhook::wasmux::plugin::kv,
        },
    });
}

/// Bindings of the `integration` world (a webhook that answers back), used
/// for its `reply-handler` export; `handle` goes through [`webhook`].
pub mod integration {
    wasmtime::component::bindgen!({
        world: "integration",
        path: "../wit",
        exports: { default: async },
        with: {
            "wasmux:plugin/types": super::webhook::wasmux::plugin::types,
            "wasmux:plugin/log": super::webhook::wasmux::plugin::log,
            "wasmux:plugin/clock": super::webhook::wasmux::plugin::clock,
            "wasmux:plugin/config": super::webhook::wasmux::plugin::config,
            "wasmux:plugin/kv": super::webhook::wasmux::plugin::kv,
            "wasmux:plugin/crypto": super::webhook::wasmux::plugin::crypto,
        },
    });
}

/// Bindings of the `adapter` world.
pub mod adapter {
    wasmtime::component::bindgen!({
        world: "adapter",
        path: "../wit",
        exports: { default: async },
        with: {
            "wasmux:plugin/types": super::webhook::wasmux::plugin::types,
            "wasmux:plugin/log": super::webhook::wasmux::plugin::log,
            "wasmux:plugin/clock": super::webhook::wasmux::plugin::clock,
            "wasmux:plugin/config": super::webhook::wasmux::plugin::config,
        },
    });
}

pub use webhook::wasmux::plugin::types;
pub use webhook::wasmux::plugin::{clock, config, crypto, kv, log};
