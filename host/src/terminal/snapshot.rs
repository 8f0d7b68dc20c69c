//! Screen snapshots: `capture-pane` (with SGR escapes), cursor, size and
//! alternate-screen flag in one atomic command list, tagged with the seq of
//! the chunk the screen reflects. While the control client's `%output`
//! count is aligned with the raw offsets, the capture's `%begin` position is
//! a chunk boundary and the seq is exact; otherwise the snapshot is taken
//! once output is quiet and tagged with the last ingested seq.

use base64::Engine;
use serde::Serialize;
use std::time::Duration;

use super::Terminal;
use crate::tmux::TmuxError;

/// A snapshot message body.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Snapshot {
    /// The screen is as it stands after chunk `seq` (0 if no output yet).
    pub seq: u64,
    /// Width.
    pub cols: u16,
    /// Height.
    pub rows: u16,
    /// Cursor position (0-based).
    pub cursor: Cursor,
    /// Whether the alternate screen is on.
    pub alternate: bool,
    /// Whether `seq` is exact (false only when output never paused).
    pub exact: bool,
    /// Base64 of the screen lines with SGR escapes, joined by `\r\n`.
    pub data: String,
    /// The same lines as plain text (for providers and tests).
    #[serde(skip)]
    pub lines: Vec<String>,
}

/// Cursor position.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Cursor {
    /// Column.
    pub x: u16,
    /// Row.
    pub y: u16,
}

impl Terminal {
    /// Capture the screen.
    pub async fn snapshot(&self) -> Result<Snapshot, TmuxError> {
        let p = self.pane()?;
        let (control, pane) = (p.control, p.id);
        let aligned = self.ingest.lock().unwrap_or_else(|p| p.into_inner()).aligned;
        if aligned.is_none() {
            // Wait (briefly) for a quiet moment so the last seq matches.
            let mut last = *self.ingested.borrow();
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(25)).await;
                let now = *self.ingested.borrow();
                if now == last {
                    break;
                }
                last = now;
            }
        }
        let capture = format!("capture-pane -p -e -t {pane}");
        let plain = format!("capture-pane -p -t {pane}");
        let info = format!(
            "display -p -t {pane} '#{{cursor_x}} #{{cursor_y}} #{{pane_width}} #{{pane_height}} #{{alternate_on}}'"
        );
        let before = *self.ingested.borrow();
        let raw_dir = self.dir.join("raw");
        let recorded = || crate::tmux::sink::end_offset(&raw_dir).unwrap_or(u64::MAX);
        let quiet_before = recorded() == before;
        let replies = control.atomic(&[&capture, &plain, &info]).await?;
        let fields: Vec<u16> = replies[2]
            .text()
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        let [x, y, cols, rows, alt] = fields[..] else {
            return Err(TmuxError::Invalid(format!(
                "unexpected display output {:?}",
                replies[2].text()
            )));
        };
        let aligned = self.ingest.lock().unwrap_or_else(|p| p.into_inner()).aligned;
        let (seq, exact) = match aligned {
            Some(a) => self.seq_at(a + replies[0].output_before).await,
            None => {
                // Exact if nothing was recorded or logged around the capture.
                tokio::time::sleep(Duration::from_millis(5)).await;
                let after = *self.ingested.borrow();
                let exact = quiet_before && after == before && recorded() == before;
                let meta = self.log.meta();
                (meta.last_seq, exact && meta.last_raw_end == before)
            }
        };
        let screen: Vec<&[u8]> = replies[0].lines.iter().map(Vec::as_slice).collect();
        let data = base64::engine::general_purpose::STANDARD.encode(screen.join(&b"\r\n"[..]));
        Ok(Snapshot {
            seq,
            cols,
            rows,
            cursor: Cursor { x, y },
            alternate: alt == 1,
            exact,
            data,
            lines: replies[1]
                .lines
                .iter()
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .collect(),
        })
    }

    /// The seq of the chunk ending exactly at raw offset `pos`.
    async fn seq_at(&self, pos: u64) -> (u64, bool) {
        if !self.wait_ingested(pos, Duration::from_secs(2)).await {
            return (self.log.meta().last_seq, false);
        }
        let st = self.ingest.lock().unwrap_or_else(|p| p.into_inner());
        match st.ends.iter().rev().find(|(end, _)| *end <= pos) {
            Some((end, seq)) => (*seq, *end == pos),
            None => {
                let meta = self.log.meta();
                (meta.last_seq, meta.last_raw_end == pos)
            }
        }
    }
}
