//! The supervisor of a running pane: runs the ingester, re-attaches when
//! the control client dies while the tmux session lives, and reports the
//! agent's exit when the pane is gone.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

use super::ingest::{self, Ended};
use super::raw::RawReader;
use super::script::ExitScanner;
use super::{Pane, Terminal};

/// A running supervisor task and its stop signal.
pub(super) struct Supervisor {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Terminal {
    /// Start supervising `pane`, ingesting from `reader`.
    pub(super) async fn run_supervisor(self: &Arc<Self>, pane: Pane, reader: RawReader) {
        *self.pane.lock().unwrap_or_else(|p| p.into_inner()) = Some(pane.clone());
        let (stop, stop_rx) = watch::channel(false);
        let me = self.clone();
        let task = tokio::spawn(async move { me.supervise(pane, reader, stop_rx).await });
        *self.supervisor.lock().await = Some(Supervisor { stop, task });
    }

    /// Stop the supervisor and wait until it has returned, so it can no
    /// longer act on the session (e.g. report an exit after a relaunch gave
    /// it a new pane).
    pub(super) async fn stop_supervisor(&self) {
        let sup = self.supervisor.lock().await.take();
        if let Some(sup) = sup {
            let _ = sup.stop.send(true);
            let _ = sup.task.await;
        }
    }

    async fn supervise(self: Arc<Self>, mut pane: Pane, mut reader: RawReader, stop: watch::Receiver<bool>) {
        let nonce = self.row().nonce;
        loop {
            match ingest::run(&self, pane.control.clone(), &mut reader, nonce.clone(), stop.clone()).await {
                Ended::Stopped => return,
                Ended::ClientLost => {
                    let alive = self.exited().is_none()
                        && self
                            .host
                            .tmux
                            .list_sessions()
                            .await
                            .is_ok_and(|l| l.contains(&self.name));
                    if !alive {
                        self.finish(None);
                        return;
                    }
                    let stored = self.row().pane;
                    match self.attach(stored.as_deref()).await {
                        Ok(p) => {
                            *self.pane.lock().unwrap_or_else(|x| x.into_inner()) = Some(p.clone());
                            pane = p;
                        }
                        Err(e) => {
                            tracing::warn!(session = %self.name, error = %e, "re-attaching failed; retrying");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            }
        }
    }

    /// Append everything the sink recorded from `reader` on; the exit code
    /// the agent's wrapper printed, if it did (recorded by
    /// [`Terminal::finish`] together with the status, never alone).
    pub(super) fn ingest_rest(
        &self,
        reader: &mut RawReader,
        scanner: &mut ExitScanner,
    ) -> Result<Option<i32>, super::super::session::SessionError> {
        let mut exit = None;
        loop {
            let data = reader.read(ingest::CHUNK_BYTES, None)?;
            if data.is_empty() {
                break;
            }
            self.log.append(reader.pos(), &data)?;
            if let Some(code) = scanner.scan(&data) {
                exit = Some(code);
            }
        }
        reader.discard_before(reader.pos());
        Ok(exit)
    }

    /// The pane is gone: record the exit (with `code` if known).
    pub(super) fn finish(&self, code: Option<i32>) {
        *self.pane.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.report_exit(code);
        let code = self.row().exit_code;
        if let Err(e) = self.host.store.session_exited(&self.name, code) {
            tracing::error!(session = %self.name, error = %e, "recording exit failed");
        }
        tracing::info!(session = %self.name, code = ?code, "session ended");
    }
}
