//! End-to-end tests: a real `wasmux` daemon on a loopback port, real tmux
//! (its own socket per daemon), real wasmtime loading components built from
//! `plugins/` and `tests/plugins/`, real HTTP and WebSocket clients.

mod agents;
mod chat;
mod console;
mod console_api;
mod daemon_plugins;
mod demo;
mod edge;
mod harness;
mod isolation;
mod languages;
mod lost_output;
mod ops;
mod plugin_runtime;
mod plugin_units;
mod providers;
mod providers_protocol;
mod queue;
mod reliability;
mod replies;
mod sessions;
mod storage;
mod stream;
mod webhooks;
mod ws_client;
