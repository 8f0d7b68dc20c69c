//! Sessions: an agent in a tmux pane, its sequenced output log, the live
//! fan-out of new chunks, and its state. Data flows one way: tmux → raw
//! files → ingester → log → (stream clients, providers).

mod ingest;
pub mod launch;
mod manager;
mod procs;
pub mod raw;
mod raw_watch;
mod snapshot;
pub mod state;

pub use manager::{CreateSession, SessionError, SessionManager};
pub use snapshot::Snapshot;
pub use state::StateInfo;

use serde::Serialize;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, watch};

use crate::outlog::{Chunk, OutputLog};
use crate::store::SessionRow;
use crate::tmux::client::ControlClient;
use crate::tmux::{Tmux, TmuxError, input};

/// One step of typed input.
#[derive(Debug, Clone)]
pub enum TypeAction {
    /// Literal bytes.
    Text(Vec<u8>),
    /// tmux key names.
    Keys(Vec<String>),
}

/// How the agent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ExitInfo {
    /// Exit status, if known.
    pub code: Option<i32>,
}

/// What the ingester shares with snapshot requests.
#[derive(Debug, Default)]
struct IngestState {
    /// Raw offset where the control client's `%output` count is 0, when known.
    aligned: Option<u64>,
    /// Recent chunk ends: (raw offset after the chunk, seq).
    ends: VecDeque<(u64, u64)>,
}

/// One session.
pub struct Session {
    /// Name.
    pub name: String,
    /// Directory holding the log, raw files and launch script.
    pub dir: PathBuf,
    /// The stored row (size, labels, status).
    row: Mutex<SessionRow>,
    /// The output log.
    pub log: Arc<OutputLog>,
    /// The tmux pane id (`%3`), if the pane exists.
    pane: Mutex<Option<String>>,
    control: Mutex<Option<Arc<ControlClient>>>,
    live: broadcast::Sender<Chunk>,
    /// Agent state.
    pub state: watch::Sender<StateInfo>,
    /// Set once the agent has exited.
    pub exit: watch::Sender<Option<ExitInfo>>,
    ingest: Mutex<IngestState>,
    /// Appended raw position, for waiters.
    ingested: watch::Sender<u64>,
    /// The launch spec's `startup` actions, taken by the agent once it runs.
    pub startup: Mutex<Vec<crate::plugins::bindings::types::InputAction>>,
    /// Connected stream clients.
    pub stream_clients: AtomicUsize,
    tmux: Tmux,
}

impl Session {
    /// A copy of the stored row.
    pub fn row(&self) -> SessionRow {
        self.row.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update_row(&self, f: impl FnOnce(&mut SessionRow)) {
        f(&mut self.row.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Subscribe to chunks as they are appended.
    pub fn subscribe(&self) -> broadcast::Receiver<Chunk> {
        self.live.subscribe()
    }

    /// Whether the agent has exited.
    pub fn exited(&self) -> Option<ExitInfo> {
        *self.exit.borrow()
    }

    fn control(&self) -> Result<(Arc<ControlClient>, String), TmuxError> {
        let control = self.control.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let pane = self.pane.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match (control, pane) {
            (Some(c), Some(p)) if c.is_alive() => Ok((c, p)),
            _ => Err(TmuxError::Gone),
        }
    }

    /// Type `text` literally into the pane.
    pub async fn send_text(&self, text: &[u8]) -> Result<(), TmuxError> {
        let (control, pane) = self.control()?;
        if text.len() > 4096 {
            return self.paste(text, false).await;
        }
        control.commands(&input::literal(&pane, text)).await
    }

    /// Paste `text` as one block (bracketed if the app asked for it).
    pub async fn paste(&self, text: &[u8], bracketed: bool) -> Result<(), TmuxError> {
        let (control, pane) = self.control()?;
        let buffer = format!("wasmux-{}", self.name);
        let file = self.dir.join("paste.buf");
        crate::plugins::cache::write_private(&file, text)?;
        let path = file.to_string_lossy().into_owned();
        if path.contains(['\'', '\n']) {
            return Err(TmuxError::Invalid("state dir path cannot be quoted for tmux".into()));
        }
        let load = format!("load-buffer -b {buffer} '{path}'");
        let paste = format!(
            "paste-buffer -d -r {} -b {buffer} -t {pane}",
            if bracketed { "-p" } else { "" }
        );
        let result = control.atomic(&[&load, &paste]).await;
        let _ = std::fs::remove_file(&file);
        result.map(drop)
    }

    /// Type a sequence of text and keys as one tmux command list.
    pub async fn type_atomically(&self, actions: &[TypeAction]) -> Result<(), TmuxError> {
        let (control, pane) = self.control()?;
        let mut lines = Vec::new();
        for a in actions {
            match a {
                TypeAction::Text(t) => lines.extend(input::literal(&pane, t)),
                TypeAction::Keys(k) => lines.extend(input::keys(&pane, k)?),
            }
        }
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        control.atomic(&refs).await.map(drop)
    }

    /// Press tmux keys.
    pub async fn send_keys(&self, keys: &[String]) -> Result<(), TmuxError> {
        let (control, pane) = self.control()?;
        control.commands(&input::keys(&pane, keys)?).await
    }

    /// Resize the window to `cols`×`rows`.
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<(), TmuxError> {
        if !(2..=1000).contains(&cols) || !(2..=500).contains(&rows) {
            return Err(TmuxError::Invalid(format!(
                "size {cols}x{rows} is out of range (cols 2-1000, rows 2-500)"
            )));
        }
        let (control, _) = self.control()?;
        control
            .command(&format!("resize-window -t ={} -x {cols} -y {rows}", self.name))
            .await?;
        self.update_row(|r| {
            r.cols = cols;
            r.rows = rows;
        });
        Ok(())
    }

    /// Set the agent state (no-op if unchanged).
    pub fn set_state(&self, state: StateInfo) {
        self.state.send_if_modified(|cur| {
            if cur.value == state.value && cur.tool == state.tool {
                false
            } else {
                *cur = state;
                true
            }
        });
    }

    /// Wait until the log holds every byte up to raw offset `pos`.
    async fn wait_ingested(&self, pos: u64, timeout: std::time::Duration) -> bool {
        let mut rx = self.ingested.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|p| *p >= pos))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Count a stream client for the lifetime of the guard.
    pub fn stream_guard(self: &Arc<Self>) -> StreamGuard {
        self.stream_clients.fetch_add(1, Ordering::Relaxed);
        StreamGuard(self.clone())
    }
}

/// Decrements the stream client count on drop.
pub struct StreamGuard(Arc<Session>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.stream_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Bytes of recent output searched for [`Session::last_output_lines`].
const LAST_OUTPUT_BYTES: usize = 16 * 1024;

impl Session {
    /// The last `n` non-empty lines the pane printed, as plain text (escape
    /// sequences removed): what a user needs to see why an agent died.
    pub fn last_output_lines(&self, n: usize) -> Vec<String> {
        let meta = self.log.meta();
        if meta.last_seq == 0 {
            return Vec::new();
        }
        let mut back = 4u64;
        let data = loop {
            let from = meta.last_seq.saturating_sub(back - 1).max(meta.first_seq).max(1);
            let chunks = self.log.read_from(from, 4 * LAST_OUTPUT_BYTES).unwrap_or_default();
            let data: Vec<u8> = chunks.iter().flat_map(|c| c.data.iter().copied()).collect();
            if data.len() >= LAST_OUTPUT_BYTES || from <= meta.first_seq.max(1) || back >= 1024 {
                break data;
            }
            back *= 4;
        };
        let tail = &data[data.len().saturating_sub(LAST_OUTPUT_BYTES)..];
        let plain = strip_ansi_escapes::strip(tail);
        let text = String::from_utf8_lossy(&plain);
        let lines: Vec<String> = text
            .split(['\n', '\r'])
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        lines[lines.len().saturating_sub(n)..].to_vec()
    }

    /// The command a person runs to take over this session locally.
    pub fn attach_command(&self) -> String {
        self.tmux.attach_command(&self.name)
    }
}
