//! The wasmux plugin SDK for Rust.
//!
//! Enable the feature of your plugin's kind (`provider`, `webhook`,
//! `integration` — a webhook that answers back — or `adapter`), implement the matching trait, and call its macro:
//!
//! ```ignore
//! struct Echo;
//! impl wasmux_sdk::WebhookHandler for Echo {
//!     fn handle(req: HttpRequest) -> Result<Reply, PluginError> { ... }
//! }
//! wasmux_sdk::webhook!(Echo);
//! ```
//!
//! The generated bindings stay available under [`bindings`] for anything the
//! traits do not cover.

#[cfg(any(
    all(feature = "provider", feature = "webhook"),
    all(feature = "provider", feature = "adapter"),
    all(feature = "provider", feature = "integration"),
    all(feature = "webhook", feature = "adapter"),
    all(feature = "webhook", feature = "integration"),
    all(feature = "adapter", feature = "integration")
))]
compile_error!(
    "enable exactly one of the features `provider`, `webhook`, `integration`, `adapter` (build each plugin on its own)"
);

#[cfg(not(any(
    feature = "provider",
    feature = "webhook",
    feature = "integration",
    feature = "adapter"
)))]
compile_error!("enable one of the features `provider`, `webhook`, `integration`, `adapter`");

/// Generated bindings for the enabled world.
pub mod bindings {
    #[cfg(feature = "provider")]
    wit_bindgen::generate!({
        world: "provider",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_provider",
        default_bindings_module: "wasmux_sdk::bindings",
    });
    #[cfg(feature = "webhook")]
    wit_bindgen::generate!({
        world: "webhook",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_webhook",
        default_bindings_module: "wasmux_sdk::bindings",
    });
    #[cfg(feature = "integration")]
    wit_bindgen::generate!({
        world: "integration",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_integration",
        default_bindings_module: "wasmux_sdk::bindings",
    });
    #[cfg(feature = "adapter")]
    wit_bindgen::generate!({
        world: "adapter",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_adapter",
        default_bindings_module: "wasmux_sdk::bindings",
    });
}

pub use bindings::wasmux::plugin::types::*;
pub use bindings::wasmux::plugin::{clock, config, log};

pub mod argv;
mod logging;
pub use logging::*;

#[cfg(feature = "provider")]
pub mod dialogs;
#[cfg(feature = "provider")]
mod provider;
#[cfg(feature = "provider")]
pub mod tui;
#[cfg(feature = "provider")]
pub use provider::*;

#[cfg(any(feature = "webhook", feature = "integration"))]
mod webhook;
#[cfg(any(feature = "webhook", feature = "integration"))]
pub use webhook::*;

#[cfg(feature = "integration")]
mod replies;
#[cfg(feature = "integration")]
pub use replies::*;

#[cfg(feature = "adapter")]
mod adapter;
#[cfg(feature = "adapter")]
pub use adapter::*;

/// Shorthand for a [`PluginError`].
pub fn error(kind: ErrorKind, message: impl Into<String>) -> PluginError {
    PluginError {
        kind,
        message: message.into(),
    }
}

/// The docs/protocol.md §3 `type` of an event (`message`, `tool-call`, …;
/// `extension` for extension events): for logs and tests.
pub fn event_type(e: &AgentEvent) -> &'static str {
    match e {
        AgentEvent::Message(_) => "message",
        AgentEvent::Reasoning(_) => "reasoning",
        AgentEvent::Thinking(_) => "thinking",
        AgentEvent::ToolCall(_) => "tool-call",
        AgentEvent::ToolResult(_) => "tool-result",
        AgentEvent::FileEdit(_) => "file-edit",
        AgentEvent::TerminalOutput(_) => "terminal-output",
        AgentEvent::TaskStarted => "task-started",
        AgentEvent::TaskComplete(_) => "task-complete",
        AgentEvent::TurnAborted => "turn-aborted",
        AgentEvent::PermissionRequest(_) => "permission-request",
        AgentEvent::TokenCount(_) => "token-count",
        AgentEvent::Extension(_) => "extension",
    }
}
