//! Per-session sequenced output log.
//!
//! A session's terminal output is stored as numbered chunks: `seq` starts at
//! 1 and grows by exactly 1 per chunk. Each chunk also carries `raw_end`, an
//! opaque ingestion position the log only stores and returns.
//!
//! On disk, in the log's directory:
//! - `epoch`: 32 hex chars naming this incarnation of the log;
//! - `<first_seq:020>.seg`: segment files of records (see `segment.rs`),
//!   rotated past a size limit and deleted oldest-first for retention;
//! - `head`: `"<first_seq> <first_raw>"`, written when retention deletes
//!   segments, so `first_raw` survives a restart.
//!
//! On open every segment is validated record by record (header, seq, CRC).
//! A torn tail of the last segment (nothing valid after it) is cut. Any
//! other damage — a bad sealed segment, a seq gap, valid records after a
//! bad one — rebuilds the log under a new epoch from every record that
//! still checks out, the old files quarantined (see `recover.rs`).

#[cfg(test)]
mod fuzz_tests;
mod index;
mod recover;
#[cfg(test)]
mod recover_tests;
mod segment;
#[cfg(test)]
mod tests;

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;

use index::{Plan, State};
use segment::io_at;

/// Record header size on disk: magic 2 + len 4 + seq 8 + raw_end 8 + crc 4
/// (the format is `segment`'s; the index derives data lengths from it).
const HEADER: usize = 26;

/// Largest chunk `append` accepts, in bytes of data.
pub const MAX_CHUNK: usize = 256 * 1024;
/// Default segment size: the active segment is rotated once it reaches this.
pub const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;
/// Data bytes of the newest chunks kept in memory for readers.
pub const CACHE_BYTES: usize = 4 * 1024 * 1024;

/// One chunk of output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Sequence number, from 1, contiguous.
    pub seq: u64,
    /// Ingestion position (raw pane output offset) at the end of this chunk.
    pub raw_end: u64,
    /// The output bytes (never empty).
    pub data: Bytes,
}

/// A snapshot of the log's extent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogMeta {
    /// Random id of this log's incarnation; a new epoch means seqs restarted.
    pub epoch: String,
    /// Oldest retained seq; `last_seq + 1` when the log is empty.
    pub first_seq: u64,
    /// Newest seq; 0 when nothing was ever appended.
    pub last_seq: u64,
    /// `raw_end` of the chunk before `first_seq` (0 at the log start).
    pub first_raw: u64,
    /// `raw_end` of chunk `last_seq`, or `first_raw` when the log is empty.
    pub last_raw_end: u64,
    /// Data bytes currently retained (headers excluded).
    pub bytes: u64,
}

/// Errors of the output log.
#[derive(thiserror::Error, Debug)]
pub enum LogError {
    /// A file operation failed; the message names the file.
    #[error("output log I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The files on disk are inconsistent; the message names the file.
    #[error("output log corrupt: {0}")]
    Corrupt(String),
    /// `append` was given more than [`MAX_CHUNK`] bytes.
    #[error("output log chunk too large: {0} bytes (max {MAX_CHUNK})")]
    TooLarge(usize),
    /// `append` was given no bytes.
    #[error("output log chunk is empty")]
    Empty,
}

/// Append-side state, serialised by the writer mutex.
struct Writer {
    file: Arc<File>,
    path: Arc<Path>,
    /// Committed length of the active segment (next write offset).
    len: u64,
    next_seq: u64,
    segment_bytes: u64,
    retention_bytes: u64,
    /// A segment was created or deleted since the last directory fsync.
    dir_dirty: bool,
}

/// A session's output log; `Send + Sync`, share it as `Arc<OutputLog>`.
///
/// Appends are serialised by a mutex and publish each record to the index
/// under a brief write lock once its `write(2)` is done; readers take the
/// read lock only to plan, then read disk data without holding any lock.
pub struct OutputLog {
    dir: PathBuf,
    epoch: String,
    writer: Mutex<Writer>,
    state: RwLock<State>,
    damage: Option<String>,
}

impl std::fmt::Debug for OutputLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputLog")
            .field("dir", &self.dir)
            .field("meta", &self.meta())
            .finish()
    }
}

impl OutputLog {
    /// Opens (or creates) the log in `dir`, keeping about `retention_bytes`
    /// of chunk data: older whole segments are deleted after appends.
    pub fn open(dir: &Path, retention_bytes: u64) -> Result<OutputLog, LogError> {
        Self::open_with(dir, retention_bytes, SEGMENT_BYTES)
    }

    /// [`open`](Self::open) with a custom segment rotation size (for tests).
    pub fn open_with(dir: &Path, retention_bytes: u64, segment_bytes: u64) -> Result<OutputLog, LogError> {
        Self::open_inner(dir, retention_bytes, segment_bytes, CACHE_BYTES)
    }

    fn open_inner(
        dir: &Path,
        retention_bytes: u64,
        segment_bytes: u64,
        cache_limit: usize,
    ) -> Result<OutputLog, LogError> {
        fs::create_dir_all(dir).map_err(io_at(dir))?;
        let mut found = segment::list_segments(dir)?;
        let head = segment::read_head(dir);
        if let Some((head_seq, _)) = head
            && found.first().is_some_and(|f| f.0 < head_seq)
        {
            if found.iter().any(|f| f.0 == head_seq) {
                // Retention wrote `head` but was interrupted before deleting.
                for (_, path) in found.iter().filter(|f| f.0 < head_seq) {
                    tracing::info!(file = %path.display(), "output log: finishing retention");
                    fs::remove_file(path).map_err(io_at(path))?;
                }
                found.retain(|f| f.0 >= head_seq);
            } else {
                tracing::warn!(dir = %dir.display(), head_seq, "output log: head matches no segment");
            }
        }
        let existed = !found.is_empty();
        let epoch = match segment::read_epoch(dir) {
            Some(e) if existed => e,
            _ => {
                let e = segment::new_epoch();
                segment::write_atomic(dir, "epoch", e.as_bytes())?;
                e
            }
        };
        let mut segments = Vec::new();
        if !existed {
            let head = dir.join("head");
            if head.exists() {
                fs::remove_file(&head).map_err(io_at(&head))?;
            }
            segments.push(segment::create_segment(dir, 1)?);
        }
        let cached = match index_segments(&found, cache_limit) {
            Ok((segs, tail)) => {
                segments.extend(segs);
                tail
            }
            Err(LogError::Corrupt(reason)) => {
                return Self::rebuilt(dir, retention_bytes, segment_bytes, cache_limit, &reason);
            }
            Err(e) => return Err(e),
        };
        let oldest = &segments[0];
        let first_raw = match head {
            Some((seq, raw)) if seq == oldest.first_seq => raw,
            _ if oldest.first_seq == 1 => 0,
            _ => {
                // Segments before this one vanished without `head`: estimate.
                let est = segment::header_at(&oldest.file, 0).map_or(0, |h| h.raw_end.saturating_sub(h.len as u64));
                tracing::warn!(dir = %dir.display(), first_raw = est, "output log: first_raw unknown, estimated");
                est
            }
        };
        let state = State::new(segments, first_raw, cached, cache_limit);
        let active = state.active();
        let writer = Writer {
            file: active.file.clone(),
            path: active.path.clone(),
            len: active.end,
            next_seq: active.next_seq(),
            segment_bytes,
            retention_bytes,
            dir_dirty: true,
        };
        let log = OutputLog {
            dir: dir.to_path_buf(),
            epoch,
            writer: Mutex::new(writer),
            state: RwLock::new(state),
            damage: None,
        };
        log.enforce_retention(&mut log.lock_writer());
        Ok(log)
    }

    /// Set when this open found the log damaged and rebuilt it under a new
    /// epoch: what was lost and where the old files are.
    pub fn damage(&self) -> Option<&str> {
        self.damage.as_deref()
    }

    /// Current epoch, first/last seq, raw positions and retained bytes.
    pub fn meta(&self) -> LogMeta {
        let st = self.read_state();
        LogMeta {
            epoch: self.epoch.clone(),
            first_seq: st.first_seq(),
            last_seq: st.last_seq(),
            first_raw: st.first_raw,
            last_raw_end: st.last_raw,
            bytes: st.total_bytes,
        }
    }

    /// This log's epoch (32 hex chars). Kept across reopens; replaced only when
    /// the directory is opened without segment files or without an `epoch` file.
    pub fn epoch(&self) -> String {
        self.epoch.clone()
    }

    /// Appends one chunk (1..=[`MAX_CHUNK`] bytes) ending at ingestion
    /// position `raw_end` and returns it with its new seq. Once this returns
    /// the record survives a process crash (written, not fsynced).
    pub fn append(&self, raw_end: u64, data: &[u8]) -> Result<Chunk, LogError> {
        if data.is_empty() {
            return Err(LogError::Empty);
        }
        if data.len() > MAX_CHUNK {
            return Err(LogError::TooLarge(data.len()));
        }
        let mut w = self.lock_writer();
        if w.len > 0 && w.len >= w.segment_bytes {
            let seg = segment::create_segment(&self.dir, w.next_seq)?;
            (w.file, w.path, w.len, w.dir_dirty) = (seg.file.clone(), seg.path.clone(), 0, true);
            self.write_state().segments.push(seg);
        }
        let seq = w.next_seq;
        let mut rec = Vec::new();
        segment::encode(&mut rec, seq, raw_end, data);
        let off = w.len;
        if let Err(e) = w.file.write_all_at(&rec, off) {
            let _ = w.file.set_len(off); // drop any partial record
            return Err(io_at(&w.path)(e));
        }
        let end = off + rec.len() as u64;
        let chunk = Chunk {
            seq,
            raw_end,
            data: Bytes::from(rec).slice(HEADER..),
        };
        self.write_state().commit(off, end, chunk.clone());
        w.len = end;
        w.next_seq += 1;
        self.enforce_retention(&mut w);
        Ok(chunk)
    }

    /// Chunks from seq `from` on (from `first_seq` if `from` is older), in
    /// order, with at most `max_bytes` of data but always at least one chunk
    /// if any exists at or after `from`. Empty if `from > last_seq`.
    pub fn read_from(&self, from: u64, max_bytes: usize) -> Result<Vec<Chunk>, LogError> {
        let plan = self.read_state().plan(from, max_bytes);
        let parts = match plan {
            Plan::Cached(chunks) => return Ok(chunks),
            Plan::Disk(parts) => parts,
        };
        let mut out = Vec::new();
        for p in parts {
            let mut buf = vec![0u8; (p.end - p.start) as usize];
            p.file.read_exact_at(&mut buf, p.start).map_err(io_at(&p.path))?;
            segment::parse_records(Bytes::from(buf), p.first_seq, p.count, &p.path, p.start, &mut out)?;
        }
        Ok(out)
    }

    /// Fsyncs the active segment (and the directory if segments were
    /// created or deleted since the last sync).
    pub fn sync(&self) -> Result<(), LogError> {
        let mut w = self.lock_writer();
        w.file.sync_data().map_err(io_at(&w.path))?;
        if w.dir_dirty {
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(io_at(&self.dir))?;
            w.dir_dirty = false;
        }
        Ok(())
    }

    /// Deletes oldest segments while over retention, keeping the active one.
    /// Failures are logged, not returned: the append itself succeeded.
    fn enforce_retention(&self, w: &mut Writer) {
        let (n, first_seq, first_raw) = {
            let st = self.read_state();
            let (mut total, mut raw, mut n) = (st.total_bytes, st.first_raw, 0);
            while total > w.retention_bytes && st.segments.len() - n > 1 {
                total -= st.segments[n].data_bytes;
                raw = st.segments[n].last_raw.unwrap_or(raw);
                n += 1;
            }
            if n == 0 {
                return;
            }
            (n, st.segments[n].first_seq, raw)
        };
        if let Err(e) = segment::write_head(&self.dir, first_seq, first_raw) {
            tracing::warn!(error = %e, "output log: cannot write head; retention skipped");
            return;
        }
        let gone = self.write_state().drop_oldest(n, first_raw);
        for seg in gone {
            if let Err(e) = fs::remove_file(&seg.path) {
                tracing::warn!(file = %seg.path.display(), error = %e, "output log: cannot delete segment");
            }
        }
        w.dir_dirty = true;
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Index the segments `found` (sorted): sealed ones verified, the last one
/// recovered (torn tail cut), seqs continuous across files.
fn index_segments(found: &[(u64, PathBuf)], cache_limit: usize) -> Result<(Vec<index::Segment>, Vec<Chunk>), LogError> {
    let mut segments: Vec<index::Segment> = Vec::new();
    let mut cached = Vec::new();
    for (i, (seq, path)) in found.iter().enumerate() {
        if let Some(prev) = segments.last()
            && prev.next_seq() != *seq
        {
            return Err(LogError::Corrupt(format!(
                "{}: starts at seq {seq} but the previous segment ends at seq {}",
                path.display(),
                prev.next_seq() - 1
            )));
        }
        if i + 1 < found.len() {
            segments.push(segment::scan_sealed(path, *seq)?);
        } else {
            let (seg, tail) = segment::recover_active(path, *seq, cache_limit)?;
            segments.push(seg);
            cached = tail;
        }
    }
    Ok((segments, cached))
}
