//! Rebuilding a damaged log. When a sealed segment fails its check, seqs
//! do not continue, or the active segment has valid records after a bad
//! one, the numbering can no longer be trusted: every record that still
//! checks out is salvaged (resyncing past damage on the record magic and
//! CRC), the old files are moved to `quarantine-<epoch>-<ms>/` with a
//! `REPORT`, and the salvaged records are written to a log with a NEW epoch
//! (numbered from 1). Seqs are never renumbered under the same epoch.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::segment::{self, checksum, decode_header, io_at};
use super::{HEADER, LogError, OutputLog};

/// A salvaged record: its old seq, `raw_end` and data.
pub(super) struct Salvaged {
    pub seq: u64,
    pub raw_end: u64,
    pub data: Bytes,
}

/// What a rebuild found and did.
pub(super) struct Rebuild {
    /// Records kept, in old-seq order.
    pub records: Vec<Salvaged>,
    /// `raw_end` before the first kept record.
    pub first_raw: u64,
    /// One-line summary for logs and the API.
    pub summary: String,
}

/// Every valid record in `buf`, in file order, skipping damaged bytes.
pub(super) fn salvage(buf: &Bytes) -> Vec<Salvaged> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + HEADER <= buf.len() {
        if let Some(h) = decode_header(&buf[pos..])
            && pos + HEADER + h.len <= buf.len()
            && checksum(h.seq, h.raw_end, &buf[pos + HEADER..pos + HEADER + h.len]) == h.crc
        {
            out.push(Salvaged {
                seq: h.seq,
                raw_end: h.raw_end,
                data: buf.slice(pos + HEADER..pos + HEADER + h.len),
            });
            pos += HEADER + h.len;
        } else {
            pos += 1;
        }
    }
    out
}

/// Whether `buf` holds at least one valid record (after a bad one).
pub(super) fn any_valid(buf: &[u8]) -> bool {
    !salvage(&Bytes::copy_from_slice(buf)).is_empty()
}

/// Salvage every segment of `dir`, move the old files to a quarantine
/// directory with a report, and return what to write under a new epoch.
pub(super) fn rebuild(dir: &Path, reason: &str) -> Result<Rebuild, LogError> {
    let found = segment::list_segments(dir)?;
    let mut records: Vec<Salvaged> = Vec::new();
    for (_, path) in &found {
        let buf = Bytes::from(fs::read(path).map_err(io_at(path))?);
        for r in salvage(&buf) {
            // Keep old seq order strictly increasing: a damaged header can
            // only make a record vanish, never move or repeat.
            if records.last().is_none_or(|l| r.seq > l.seq) {
                records.push(r);
            }
        }
    }
    let old_epoch = segment::read_epoch(dir).unwrap_or_else(|| "unknown".into());
    let head = segment::read_head(dir);
    let quarantine = dir.join(format!("quarantine-{old_epoch}-{}", crate::util::now_ms()));
    fs::create_dir_all(&quarantine).map_err(io_at(&quarantine))?;
    let mut moved: Vec<PathBuf> = found.iter().map(|f| f.1.clone()).collect();
    moved.extend(["epoch", "head"].iter().map(|n| dir.join(n)).filter(|p| p.exists()));
    for p in &moved {
        let to = quarantine.join(p.file_name().unwrap_or_default());
        fs::rename(p, &to).map_err(io_at(p))?;
    }
    let mut lost = Vec::new();
    let mut expect = head.map_or(found.first().map_or(1, |f| f.0), |h| h.0);
    for r in &records {
        if r.seq > expect {
            lost.push(format!("{expect}-{}", r.seq - 1));
        }
        expect = r.seq + 1;
    }
    let first_raw = match (records.first(), head) {
        (Some(f), Some((seq, raw))) if f.seq == seq => raw,
        (Some(f), _) if f.seq == 1 => 0,
        (Some(f), _) => f.raw_end.saturating_sub(f.data.len() as u64),
        (None, _) => 0,
    };
    let summary = format!(
        "output log of epoch {old_epoch} was damaged ({reason}); kept {} records under a new epoch, old seqs lost: {}; old files in {}",
        records.len(),
        if lost.is_empty() {
            "none".to_string()
        } else {
            lost.join(", ")
        },
        quarantine.display()
    );
    segment::write_atomic(&quarantine, "REPORT", format!("{summary}\n").as_bytes())?;
    tracing::error!(dir = %dir.display(), "{summary}");
    Ok(Rebuild {
        records,
        first_raw,
        summary,
    })
}

impl OutputLog {
    /// The log in `dir` was damaged: salvage it into a log with a new epoch
    /// (see `recover.rs`) and open that.
    pub(super) fn rebuilt(
        dir: &Path,
        retention_bytes: u64,
        segment_bytes: u64,
        cache_limit: usize,
        reason: &str,
    ) -> Result<OutputLog, LogError> {
        let r = rebuild(dir, reason)?;
        {
            let fresh = Self::open_inner(dir, retention_bytes, segment_bytes, cache_limit)?;
            for rec in &r.records {
                fresh.append(rec.raw_end, &rec.data)?;
            }
        }
        if segment::read_head(dir).is_none() {
            segment::write_head(dir, 1, r.first_raw)?;
        }
        let mut log = Self::open_inner(dir, retention_bytes, segment_bytes, cache_limit)?;
        log.damage = Some(r.summary);
        Ok(log)
    }
}
