//! wasmux: a daemon that hosts AI coding agents in tmux, streams their
//! terminals over WebSocket with gapless resume, queues messages durably per
//! session, and loads providers, webhooks and adapters as WebAssembly
//! components against the `wasmux:plugin` WIT package.

pub mod agent;
pub mod api;
pub mod auth;
pub mod bridge;
pub mod cli;
pub mod config;
pub mod console;
pub mod events;
pub mod httpd;
pub mod logging;
pub mod outbox;
pub mod outlog;
pub mod plugin_build;
pub mod plugins;
pub mod server;
pub mod session;
pub mod store;
pub mod stream;
pub mod terminal;
pub mod tmux;
pub mod util;
pub mod watch;

#[cfg(test)]
mod fuzz_kit;
