//! Why a session operation failed.

use crate::plugins::PluginError;
use crate::tmux::TmuxError;

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Bad input (400).
    #[error("{0}")]
    Invalid(String),
    /// No such session (404).
    #[error("no session named `{0}`")]
    NotFound(String),
    /// A session of that name exists (409).
    #[error("a session named `{0}` already exists")]
    Exists(String),
    /// A session of that name exists and has exited (409).
    #[error(
        "a session named `{0}` already exists and has exited; `wasmux restart {0}` starts it again, `wasmux rm {0}` deletes it"
    )]
    ExistsExited(String),
    /// The session's agent has exited (409).
    #[error("session `{0}` has exited; `wasmux restart {0}` (POST /sessions/{0}/restart) starts its agent again")]
    Exited(String),
    /// The agent's program is not installed where the session looks (400).
    #[error(
        "the agent command `{program}` was not found on the session's PATH ({path}); install it or pass PATH in the session's env"
    )]
    CommandNotFound {
        /// The program.
        program: String,
        /// The PATH searched.
        path: String,
    },
    /// The provider plugin failed or refused.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// tmux failed.
    #[error(transparent)]
    Tmux(#[from] TmuxError),
    /// A write found the disk full (507); nothing of it was kept.
    #[error("{0}")]
    DiskFull(String),
    /// Storage failed.
    #[error("{0}")]
    Internal(String),
}

impl From<crate::store::StoreError> for SessionError {
    fn from(e: crate::store::StoreError) -> Self {
        if e.is_disk_full() {
            SessionError::DiskFull(e.to_string())
        } else {
            SessionError::Internal(e.to_string())
        }
    }
}

impl From<crate::outlog::LogError> for SessionError {
    fn from(e: crate::outlog::LogError) -> Self {
        match &e {
            crate::outlog::LogError::Io(io) if crate::store::is_disk_full_io(io) => {
                SessionError::DiskFull(format!("output log: {e}"))
            }
            _ => SessionError::Internal(format!("output log: {e}")),
        }
    }
}

impl From<std::io::Error> for SessionError {
    fn from(e: std::io::Error) -> Self {
        if crate::store::is_disk_full_io(&e) {
            SessionError::DiskFull(e.to_string())
        } else {
            SessionError::Internal(e.to_string())
        }
    }
}
