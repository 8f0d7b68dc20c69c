//! What the end-to-end tests and the benchmarks share:
//!
//! * [`daemon`] — one daemon harness ([`TestDaemon`], killed and cleaned up
//!   on drop), [`tmux`] — one tmux cleanup, [`plugins`] — plugin installs;
//! * [`model_stub`] — a loopback HTTP server that speaks the Anthropic
//!   Messages and OpenAI Responses streaming APIs, answers each model call
//!   from a per-scenario script and records every request it receives;
//! * [`agent_clis`] — installs the pinned CLIs (`tests/agents/package.json`
//!   + lock file) privately under `target/agent-clis` with `npm ci`;
//! * [`home`] — a per-test `HOME` with each CLI's onboarding pre-answered,
//!   its model API pointed at the stub;
//! * [`fake_api`] — a recording loopback stand-in for GitHub, Slack and
//!   ntfy, with scripted failures.

pub mod agent_clis;
pub mod daemon;
pub mod fake_api;
pub mod home;
pub mod model_stub;
pub mod plugins;
mod sse;
pub mod tmux;

pub use daemon::{TestDaemon, tail, wasmux_bin};
pub use plugins::{built_plugins, install_plugin};
pub use tmux::{kill_tmux_server, tmux, tmux_output};
