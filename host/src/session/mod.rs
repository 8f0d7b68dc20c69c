//! Sessions: one registry entry per session, owning its terminal half (the
//! tmux pane, raw files, output log) and its agent half (provider, state,
//! events, queue). The registry creates, restores, restarts and deletes
//! them.

mod error;
mod registry;

pub use error::SessionError;
pub use registry::{CreateSession, Registry};

use std::sync::Arc;

use crate::agent::Agent;
use crate::store::{RowCell, SessionRow};
use crate::terminal::Terminal;

/// One session.
pub struct Session {
    /// Name.
    pub name: String,
    /// The terminal half.
    pub terminal: Arc<Terminal>,
    /// The agent half.
    pub agent: Arc<Agent>,
    row: Arc<RowCell>,
}

impl Session {
    /// A copy of the stored row.
    pub fn row(&self) -> SessionRow {
        self.row.get()
    }
}
