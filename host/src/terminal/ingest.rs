//! The ingester: the only writer of a session's log. It reads the raw files
//! the pipe sink writes (so nothing the pane printed is lost, even while the
//! daemon was down), numbers each chunk once, appends it, then broadcasts it.
//! `%output` notifications from the control client wake it up; while the
//! control client's byte count is aligned with the raw offsets, chunks end
//! exactly where client commands began, so a snapshot names an exact seq.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Terminal;
use super::raw::RawReader;
use super::script::ExitScanner;
use crate::outlog::MAX_CHUNK;
use crate::tmux::client::ControlClient;

/// Chunks are at most this many bytes (one WebSocket frame each).
pub const CHUNK_BYTES: usize = 64 * 1024;
/// How long output must be silent before the client's count is aligned.
const QUIET: Duration = Duration::from_millis(25);
/// Recent chunk ends kept for snapshot lookups.
const ENDS_KEPT: usize = 8192;

/// What ended an ingestion run.
pub enum Ended {
    /// The control client exited but the tmux session still exists.
    ClientLost,
    /// The session was deleted.
    Stopped,
}

/// Ingest until the control client exits.
pub async fn run(
    session: &Arc<Terminal>,
    control: Arc<ControlClient>,
    reader: &mut RawReader,
    nonce: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Ended {
    let (aligned_at_start, counts_output) = {
        let l = control.live.lock().unwrap_or_else(|p| p.into_inner());
        (l.aligned_at_start, l.counts_output)
    };
    session.ingest.lock().unwrap_or_else(|p| p.into_inner()).aligned = aligned_at_start.then_some(reader.pos());
    let mut scanner = ExitScanner::new(&nonce);
    let mut splits: std::collections::VecDeque<u64> = Default::default();
    let mut exited = control.exited.clone();
    let mut last_count = u64::MAX;
    let mut quiet_since = Instant::now();
    let mut last_gc = Instant::now();
    let mut last_sink_check = Instant::now();
    let mut recent_tail: Vec<u8> = Vec::new();
    let written = Arc::new(tokio::sync::Notify::new());
    let _watch = crate::watch::watch(&session.dir.join("raw"), written.clone());
    loop {
        let (count, new_splits) = {
            let mut l = control.live.lock().unwrap_or_else(|p| p.into_inner());
            (l.output_bytes, l.split_points.drain(..).collect::<Vec<_>>())
        };
        let aligned = session.ingest.lock().unwrap_or_else(|p| p.into_inner()).aligned;
        let target = match aligned {
            Some(a) => {
                splits.extend(new_splits.into_iter().map(|c| a + c));
                Some(a + count)
            }
            None => None,
        };
        if let Err(e) = ingest_available(session, reader, target, &mut splits, &mut scanner, &mut recent_tail) {
            tracing::error!(session = %session.name, error = %e, "ingesting output failed");
        }
        session.report_holes(reader.take_holes());
        if last_sink_check.elapsed() >= super::loss::SINK_CHECK {
            last_sink_check = Instant::now();
            if let Ok(pane) = session.pane() {
                session.check_sink(&pane).await;
            }
        }
        let lagging = target.is_some_and(|t| reader.pos() < t);

        // Learn the alignment once output has been quiet and fully ingested.
        if count != last_count {
            last_count = count;
            quiet_since = Instant::now();
        } else if counts_output
            && aligned.is_none()
            && quiet_since.elapsed() >= QUIET
            && reader.pos() == reader.available()
        {
            let recent: Vec<u8> = control
                .live
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .recent
                .iter()
                .copied()
                .collect();
            if recent_tail.ends_with(&recent) && reader.pos() >= count {
                let a = reader.pos() - count;
                session.ingest.lock().unwrap_or_else(|p| p.into_inner()).aligned = Some(a);
                tracing::debug!(session = %session.name, at = a, "control client aligned with raw output");
            }
        }
        if last_gc.elapsed() > Duration::from_secs(2) {
            reader.discard_before(reader.pos());
            last_gc = Instant::now();
        }

        let wait = if lagging {
            Duration::from_millis(2)
        } else {
            Duration::from_millis(20)
        };
        tokio::select! {
            _ = written.notified() => {}
            _ = control.output_notify.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = exited.changed() => {
                // The pane is gone or the client died: give the sink a moment
                // to write its last bytes, then take everything recorded.
                tokio::time::sleep(Duration::from_millis(200)).await;
                let _ = ingest_available(session, reader, None, &mut splits, &mut scanner, &mut recent_tail);
                reader.discard_before(reader.pos());
                let reason = exited.borrow().clone().unwrap_or_default();
                tracing::info!(session = %session.name, reason = %reason, "control client exited");
                return Ended::ClientLost;
            }
            _ = stop.changed() => return Ended::Stopped,
        }
    }
}

/// Append every recorded byte (up to `target`, split at `splits`).
fn ingest_available(
    session: &Terminal,
    reader: &mut RawReader,
    target: Option<u64>,
    splits: &mut std::collections::VecDeque<u64>,
    scanner: &mut ExitScanner,
    recent_tail: &mut Vec<u8>,
) -> Result<(), Box<dyn std::error::Error>> {
    loop {
        while splits.front().is_some_and(|s| *s <= reader.pos()) {
            splits.pop_front();
        }
        let limit = match (target, splits.front()) {
            (Some(t), Some(s)) => Some(t.min(*s)),
            (Some(t), None) => Some(t),
            (None, _) => None,
        };
        let data = reader.read(CHUNK_BYTES.min(MAX_CHUNK), limit)?;
        if data.is_empty() {
            return Ok(());
        }
        let chunk = session.log.append(reader.pos(), &data)?;
        tracing::trace!(session = %session.name, seq = chunk.seq, bytes = data.len(), "ingested");
        {
            let mut st = session.ingest.lock().unwrap_or_else(|p| p.into_inner());
            st.ends.push_back((reader.pos(), chunk.seq));
            if st.ends.len() > ENDS_KEPT {
                st.ends.pop_front();
            }
        }
        recent_tail.extend_from_slice(&data[data.len().saturating_sub(512)..]);
        let excess = recent_tail.len().saturating_sub(512);
        recent_tail.drain(..excess);
        session.ingested.send_replace(reader.pos());
        if let Some(code) = scanner.scan(&data) {
            tracing::info!(session = %session.name, code, "agent exited");
            session.report_exit(Some(code));
        }
        let _ = session.live.send(chunk);
    }
}
