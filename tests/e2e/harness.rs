//! The shared test kit (crate `wasmux-testkit`): a daemon per test, tmux
//! cleanup, plugin installs.

pub use wasmux_testkit::*;
