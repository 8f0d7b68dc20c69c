//! What the end-to-end tests and the benchmarks share: one daemon harness
//! ([`TestDaemon`], killed and cleaned up on drop), one tmux cleanup, and
//! plugin installs into a daemon's plugins folder.

pub mod daemon;
pub mod plugins;
pub mod tmux;

pub use daemon::{TestDaemon, tail, wasmux_bin};
pub use plugins::{built_plugins, install_plugin};
pub use tmux::kill_tmux_server;
