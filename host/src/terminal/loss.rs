//! Output the pane printed that the pipe sink did not record, and the
//! sink's supervision: the ingester checks every second that the sink
//! runs, re-pipes a dead one, and reports each loss to the agent half,
//! which publishes it as an `output-lost` event (never silent).

use std::path::Path;
use std::time::Duration;

use super::{Pane, Terminal};
use crate::tmux::sink;

/// How often the ingester checks that the pipe sink runs.
pub(super) const SINK_CHECK: Duration = Duration::from_secs(1);

/// Output that was not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLoss {
    /// The last seq recorded before the loss.
    pub after_seq: u64,
    /// Bytes lost, when known.
    pub bytes: Option<u64>,
    /// What happened.
    pub reason: String,
}

/// The pid of the sink recording into `raw`, if its pid file names a
/// process that is still that sink (a zombie or a reused pid is not).
/// `Ok(None)`: no pid file (a sink from an older wasmux): nothing to judge.
fn sink_pid(raw: &Path) -> Result<Option<u32>, u32> {
    let Ok(text) = std::fs::read_to_string(sink::pid_path(raw)) else {
        return Ok(None);
    };
    let Ok(pid) = text.trim().parse::<u32>() else {
        return Ok(None);
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let raw = raw.as_os_str().as_encoded_bytes();
    let alive = memchr::memmem::find(&cmdline, b"pipe-sink").is_some() && memchr::memmem::find(&cmdline, raw).is_some();
    if alive { Ok(Some(pid)) } else { Err(pid) }
}

impl From<OutputLoss> for crate::events::Event {
    fn from(l: OutputLoss) -> Self {
        crate::events::Event::OutputLost {
            after_seq: l.after_seq,
            bytes: l.bytes,
            reason: l.reason,
        }
    }
}

impl Terminal {
    /// Record `loss` for the agent half to publish, and log it.
    pub(super) fn lose(&self, loss: OutputLoss) {
        tracing::warn!(session = %self.name, after_seq = loss.after_seq, bytes = ?loss.bytes, reason = %loss.reason, "terminal output lost");
        self.losses.lock().unwrap_or_else(|p| p.into_inner()).push(loss);
        self.loss_count.send_modify(|n| *n += 1);
    }

    /// The losses recorded since the last call.
    pub fn take_losses(&self) -> Vec<OutputLoss> {
        std::mem::take(&mut *self.losses.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Changes whenever a loss is recorded.
    pub fn loss_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.loss_count.subscribe()
    }

    /// Spans the raw files skip: the sink could not write them.
    pub(super) fn report_holes(&self, holes: Vec<(u64, u64)>) {
        for (from, to) in holes {
            self.lose(OutputLoss {
                after_seq: self.log.meta().last_seq,
                bytes: Some(to - from),
                reason: "the pipe sink could not write it (disk full?)".into(),
            });
        }
    }

    /// If the pipe sink of `pane` died, start a new one and report the
    /// loss (how much the pane printed meanwhile is unknown). Does nothing
    /// once the agent has exited.
    pub(super) async fn check_sink(&self, pane: &Pane) {
        if self.exited().is_some() {
            return;
        }
        let raw = self.dir.join("raw");
        let Err(dead) = sink_pid(&raw) else { return };
        match self.repipe(&pane.control, &pane.id).await {
            Ok(_) => self.lose(OutputLoss {
                after_seq: self.log.meta().last_seq,
                bytes: None,
                reason: format!("the pipe sink (pid {dead}) died; what the pane printed until it was re-piped is lost"),
            }),
            Err(e) => tracing::warn!(session = %self.name, error = %e, "re-piping a dead pipe sink failed"),
        }
    }
}
