//! End-to-end tests: a real `wasmux` daemon on a loopback port, real tmux
//! (its own socket per daemon), real wasmtime loading components built from
//! `plugins/` and `tests/plugins/`, real HTTP and WebSocket clients.

mod daemon_plugins;
mod demo;
mod harness;
mod plugin_runtime;
mod providers_protocol;
mod queue;
mod stream;
mod ws_client;
mod webhooks;
