//! Performing a provider's input actions on a session.

use std::time::Duration;

use crate::plugins::bindings::types::InputAction;
use crate::terminal::Terminal;

/// Longest `wait-ms` honoured.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// Where `protocol` actions go (the bridge of a session), if any.
pub trait ProtocolSink: Send + Sync {
    /// Send one protocol line to the agent.
    fn send_line(&self, line: &str) -> Result<(), String>;
}

/// Perform `actions` in order; stops at the first failure.
pub async fn perform(
    session: &Terminal,
    protocol: Option<&dyn ProtocolSink>,
    actions: &[InputAction],
) -> Result<(), String> {
    for action in actions {
        match action {
            InputAction::Text(t) => session.send_text(t.as_bytes()).await.map_err(|e| e.to_string())?,
            InputAction::Keys(k) => session.send_keys(k).await.map_err(|e| e.to_string())?,
            InputAction::Paste(t) => session.paste(t.as_bytes(), true).await.map_err(|e| e.to_string())?,
            InputAction::Protocol(line) => match protocol {
                Some(p) => tokio::task::block_in_place(|| p.send_line(line))?,
                None => return Err("the provider sent a protocol line, but this session has no bridge".into()),
            },
            InputAction::WaitMs(ms) => tokio::time::sleep(Duration::from_millis(*ms as u64).min(MAX_WAIT)).await,
            InputAction::Other(x) => {
                tracing::debug!(session = %session.name, kind = %x.kind, "ignoring unknown input action")
            }
        }
    }
    Ok(())
}
