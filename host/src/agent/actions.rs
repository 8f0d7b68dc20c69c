//! Performing a provider's input actions on a session.

use std::time::Duration;

use crate::plugins::bindings::types::InputAction;
use crate::terminal::{Terminal, TypeAction};

/// Longest `wait-ms` honoured.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// Where `protocol` actions go (the bridge of a session), if any.
pub trait ProtocolSink: Send + Sync {
    /// Send one protocol line to the agent.
    fn send_line(&self, line: &str) -> Result<(), String>;
}

/// Perform `actions` in order; stops at the first failure. Each run of
/// text, paste and key actions (a prompt and its Enter) goes to tmux as one
/// command list, so a crash cannot split it; a `wait-ms` or `protocol`
/// action ends a run.
pub async fn perform(
    session: &Terminal,
    protocol: Option<&dyn ProtocolSink>,
    actions: &[InputAction],
) -> Result<(), String> {
    let mut run: Vec<TypeAction> = Vec::new();
    for action in actions {
        match action {
            InputAction::Text(t) => run.push(TypeAction::Text(t.as_bytes().to_vec())),
            InputAction::Keys(k) => run.push(TypeAction::Keys(k.clone())),
            InputAction::Paste(t) => run.push(TypeAction::Paste(t.as_bytes().to_vec())),
            other => {
                flush(session, &mut run).await?;
                match other {
                    InputAction::Protocol(line) => match protocol {
                        Some(p) => tokio::task::block_in_place(|| p.send_line(line))?,
                        None => return Err("the provider sent a protocol line, but this session has no bridge".into()),
                    },
                    InputAction::WaitMs(ms) => {
                        tokio::time::sleep(Duration::from_millis(*ms as u64).min(MAX_WAIT)).await
                    }
                    InputAction::Other(x) => {
                        tracing::debug!(session = %session.name, kind = %x.kind, "ignoring unknown input action")
                    }
                    InputAction::Text(_) | InputAction::Keys(_) | InputAction::Paste(_) => {}
                }
            }
        }
    }
    flush(session, &mut run).await
}

/// Type the pending run as one command list.
async fn flush(session: &Terminal, run: &mut Vec<TypeAction>) -> Result<(), String> {
    if run.is_empty() {
        return Ok(());
    }
    let r = session.type_atomically(run).await.map_err(|e| e.to_string());
    run.clear();
    r
}
