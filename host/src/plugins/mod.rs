//! The plugin runtime: one wasmtime engine, a compile cache, loading with
//! capability checks, typed calls under deadlines and memory caps, and the
//! registry of loaded plugins with hot reload from the plugins folder.

pub mod adapter_stream;
pub mod bindings;
pub mod cache;
pub mod call;
pub mod capability;
pub mod check;
pub mod context;
pub mod embedded;
pub mod engine;
pub mod error;
pub mod http_policy;
pub mod imports;
pub mod loader;
pub mod manifest;
pub mod provider_instance;
pub mod registry;
pub mod stderr_tail;
pub mod store_data;
pub mod webhook_call;

pub use capability::Capability;
pub use error::PluginError;
pub use loader::LoadedPlugin;
pub use manifest::{Kind, Manifest};
pub use registry::PluginRegistry;
