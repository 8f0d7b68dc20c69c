//! First-party plugins compiled into the binary (built by `host/build.rs`).

/// One embedded plugin.
pub struct Embedded {
    /// Plugin name.
    pub name: &'static str,
    /// The component.
    pub wasm: &'static [u8],
    /// Its manifest.
    pub manifest: &'static str,
}

macro_rules! embed {
    ($($name:literal),* $(,)?) => {
        /// Every embedded plugin.
        pub const EMBEDDED: &[Embedded] = &[$(
            Embedded {
                name: $name,
                wasm: include_bytes!(concat!(env!("BUILT_WASMUX_PLUGINS"), "/", $name, ".wasm")),
                manifest: include_str!(concat!(env!("BUILT_WASMUX_PLUGINS"), "/", $name, ".toml")),
            },
        )*];
    };
}

// Every plugin of plugins/Cargo.toml outside tests/, one per manifest.
include!(concat!(env!("OUT_DIR"), "/embedded_list.rs"));

/// Directory holding every plugin `build.rs` built (embedded ones and the
/// test plugins), each as `<name>.wasm` + `<name>.toml`. For tests and
/// benchmarks.
pub const BUILT_PLUGINS_DIR: &str = env!("BUILT_WASMUX_PLUGINS");
