//! The terminal half of a session: its tmux pane, the pipe sink's raw
//! files, the sequenced output log and the live fan-out of new chunks.
//! Data flows one way: tmux → raw files → ingester → log → (stream clients,
//! the agent half). The terminal reports how the agent's process ended
//! ([`ExitInfo`]); it never decides the agent's state.

mod ingest;
pub mod loss;
mod pane;
mod procs;
pub mod raw;
pub mod script;
mod snapshot;
mod supervise;
mod typing;

pub use loss::OutputLoss;
pub use snapshot::{Cursor, Snapshot};
pub use typing::TypeAction;

use serde::Serialize;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, watch};

use crate::config::Config;
use crate::outlog::{Chunk, OutputLog};
use crate::store::{RowCell, SessionRow, Store};
use crate::tmux::client::ControlClient;
use crate::tmux::{Tmux, TmuxError, shell_quote};

/// How the agent's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ExitInfo {
    /// Exit status, if known.
    pub code: Option<i32>,
}

/// What every terminal of a daemon shares: the tmux server, the config,
/// and the binary the pipe sink runs.
pub struct TerminalHost {
    /// The tmux server.
    pub tmux: Tmux,
    /// Effective configuration.
    pub config: Arc<Config>,
    /// The running wasmux binary.
    pub exe: PathBuf,
    store: Arc<Store>,
}

impl TerminalHost {
    /// The host for `state_dir`'s tmux server.
    pub fn new(state_dir: &Path, config: Arc<Config>, store: Arc<Store>) -> std::io::Result<TerminalHost> {
        Ok(TerminalHost {
            tmux: Tmux::new(state_dir)?,
            config,
            exe: std::env::current_exe()?,
            store,
        })
    }

    /// The `pipe-pane` shell command (`#` doubled: tmux expands formats in it).
    fn sink_command(&self, raw_dir: &Path) -> String {
        format!(
            "exec {} pipe-sink {}",
            shell_quote(&self.exe.to_string_lossy()),
            shell_quote(&raw_dir.to_string_lossy())
        )
        .replace('#', "##")
    }
}

/// What the ingester shares with snapshot requests.
#[derive(Debug, Default)]
struct IngestState {
    /// Raw offset where the control client's `%output` count is 0, when known.
    aligned: Option<u64>,
    /// Recent chunk ends: (raw offset after the chunk, seq).
    ends: VecDeque<(u64, u64)>,
}

/// The pane the agent runs in, and the control client that drives it.
#[derive(Clone)]
struct Pane {
    control: Arc<ControlClient>,
    id: String,
}

/// One session's terminal.
pub struct Terminal {
    /// Session name (the tmux session's name too).
    pub name: String,
    /// Directory holding the log, raw files and launch scripts.
    pub dir: PathBuf,
    row: Arc<RowCell>,
    host: Arc<TerminalHost>,
    /// The output log.
    pub log: Arc<OutputLog>,
    pane: Mutex<Option<Pane>>,
    live: broadcast::Sender<Chunk>,
    exit: watch::Sender<Option<ExitInfo>>,
    ingest: Mutex<IngestState>,
    /// Appended raw position, for waiters.
    ingested: watch::Sender<u64>,
    stream_clients: AtomicUsize,
    supervisor: tokio::sync::Mutex<Option<supervise::Supervisor>>,
    /// Output losses not yet published (see [`loss`]).
    losses: Mutex<Vec<OutputLoss>>,
    loss_count: watch::Sender<u64>,
}

/// Bytes of recent output searched for [`Terminal::last_output_lines`].
const LAST_OUTPUT_BYTES: usize = 16 * 1024;

impl Terminal {
    /// The terminal of `row` in `dir` (its log opened; no pane yet).
    pub fn open(
        host: Arc<TerminalHost>,
        row: Arc<RowCell>,
        dir: PathBuf,
    ) -> Result<Arc<Terminal>, crate::outlog::LogError> {
        // Retention drops whole segments: keep segments well below it.
        let retention = host.config.stream.retention_bytes;
        let segment = (retention / 8).clamp(64 << 10, crate::outlog::SEGMENT_BYTES);
        let log = Arc::new(OutputLog::open_with(&dir.join("log"), retention, segment)?);
        let ingested = log.meta().last_raw_end;
        let exited = row.get().status == crate::store::SessionStatus::Exited;
        let code = row.get().exit_code;
        Ok(Arc::new(Terminal {
            name: row.get().name,
            dir,
            row,
            live: broadcast::channel(host.config.stream.client_buffer_frames.max(16)).0,
            host,
            log,
            pane: Mutex::new(None),
            exit: watch::channel(exited.then_some(ExitInfo { code })).0,
            ingest: Mutex::new(IngestState::default()),
            ingested: watch::channel(ingested).0,
            stream_clients: AtomicUsize::new(0),
            supervisor: tokio::sync::Mutex::new(None),
            losses: Mutex::new(Vec::new()),
            loss_count: watch::channel(0).0,
        }))
    }

    /// A copy of the stored row.
    pub fn row(&self) -> SessionRow {
        self.row.get()
    }

    /// Subscribe to chunks as they are appended.
    pub fn subscribe(&self) -> broadcast::Receiver<Chunk> {
        self.live.subscribe()
    }

    /// How the agent ended, once it has.
    pub fn exited(&self) -> Option<ExitInfo> {
        *self.exit.borrow()
    }

    /// Watch the agent's exit.
    pub fn exit_watch(&self) -> watch::Receiver<Option<ExitInfo>> {
        self.exit.subscribe()
    }

    /// Record that the agent ended with `code` (first report wins).
    fn report_exit(&self, code: Option<i32>) {
        self.row.update(|r| {
            r.status = crate::store::SessionStatus::Exited;
            r.exit_code = r.exit_code.or(code);
        });
        let code = self.row.get().exit_code;
        self.exit.send_if_modified(|e| {
            if e.is_none() {
                *e = Some(ExitInfo { code });
                true
            } else {
                false
            }
        });
    }

    fn pane(&self) -> Result<Pane, TmuxError> {
        match self.pane.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            Some(p) if p.control.is_alive() => Ok(p),
            _ => Err(TmuxError::Gone),
        }
    }

    /// Resize the window to `cols`×`rows` (and record it).
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<(), TmuxError> {
        if !(2..=1000).contains(&cols) || !(2..=500).contains(&rows) {
            return Err(TmuxError::Invalid(format!(
                "size {cols}x{rows} is out of range (cols 2-1000, rows 2-500)"
            )));
        }
        let p = self.pane()?;
        p.control
            .command(&format!("resize-window -t ={} -x {cols} -y {rows}", self.name))
            .await?;
        self.row.update(|r| {
            r.cols = cols;
            r.rows = rows;
        });
        let _ = self.host.store.session_resize(&self.name, cols, rows);
        Ok(())
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

    /// Connected stream clients.
    pub fn stream_clients(&self) -> usize {
        self.stream_clients.load(Ordering::Relaxed)
    }

    /// The command a person runs to take over this session locally.
    pub fn attach_command(&self) -> String {
        self.host.tmux.attach_command(&self.name)
    }

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
}

/// Decrements the stream client count on drop.
pub struct StreamGuard(Arc<Terminal>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.stream_clients.fetch_sub(1, Ordering::Relaxed);
    }
}
