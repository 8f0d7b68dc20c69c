//! In-memory index: per segment the byte offset of every record, plus a
//! cache of the newest chunks, and read planning over both.

use std::collections::VecDeque;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use super::{Chunk, HEADER};

/// One segment file and the offsets of its committed records.
pub(super) struct Segment {
    /// Seq of the first record (also the file name).
    pub first_seq: u64,
    /// `offsets[i]` is the byte offset of record `first_seq + i`.
    pub offsets: Vec<u64>,
    /// End of the last committed record (readers never look past it).
    pub end: u64,
    /// Sum of record data lengths.
    pub data_bytes: u64,
    /// `raw_end` of the last record; `None` while empty.
    pub last_raw: Option<u64>,
    pub file: Arc<File>,
    pub path: Arc<Path>,
}

impl Segment {
    pub fn new(first_seq: u64, file: Arc<File>, path: Arc<Path>) -> Segment {
        Segment {
            first_seq,
            offsets: Vec::new(),
            end: 0,
            data_bytes: 0,
            last_raw: None,
            file,
            path,
        }
    }

    /// Seq the next record appended here would get.
    pub fn next_seq(&self) -> u64 {
        self.first_seq + self.offsets.len() as u64
    }

    /// Records a committed record at `off` ending at `end`.
    pub fn push(&mut self, off: u64, end: u64, data_len: u64, raw_end: u64) {
        self.offsets.push(off);
        self.end = end;
        self.data_bytes += data_len;
        self.last_raw = Some(raw_end);
    }

    /// Data length of record index `i`, derived from neighbouring offsets.
    fn data_len(&self, i: usize) -> usize {
        let next = self.offsets.get(i + 1).copied().unwrap_or(self.end);
        (next - self.offsets[i]) as usize - HEADER
    }
}

/// A positional read of `count` records starting at `first_seq`.
pub(super) struct ReadPart {
    pub file: Arc<File>,
    pub path: Arc<Path>,
    pub start: u64,
    pub end: u64,
    pub first_seq: u64,
    pub count: usize,
}

/// What `read_from` must do after releasing the lock.
pub(super) enum Plan {
    /// Everything came from the cache.
    Cached(Vec<Chunk>),
    /// Read these byte ranges from disk.
    Disk(Vec<ReadPart>),
}

/// All mutable log state, behind the log's `RwLock`.
pub(super) struct State {
    /// Oldest first; never empty (the last one is the active segment).
    pub segments: Vec<Segment>,
    /// `raw_end` of the chunk before `first_seq` (or of the log start).
    pub first_raw: u64,
    /// `raw_end` of the last chunk, or `first_raw` when empty.
    pub last_raw: u64,
    /// Data bytes in all segments.
    pub total_bytes: u64,
    cache: VecDeque<Chunk>,
    cache_bytes: usize,
    cache_limit: usize,
}

impl State {
    pub fn new(segments: Vec<Segment>, first_raw: u64, cached: Vec<Chunk>, limit: usize) -> State {
        let last_raw = segments.iter().rev().find_map(|s| s.last_raw).unwrap_or(first_raw);
        let total_bytes = segments.iter().map(|s| s.data_bytes).sum();
        let cache_bytes = cached.iter().map(|c| c.data.len()).sum();
        let cache = cached.into();
        State {
            segments,
            first_raw,
            last_raw,
            total_bytes,
            cache,
            cache_bytes,
            cache_limit: limit,
        }
    }

    pub fn first_seq(&self) -> u64 {
        self.segments[0].first_seq
    }

    pub fn last_seq(&self) -> u64 {
        self.active().next_seq() - 1
    }

    pub fn active(&self) -> &Segment {
        self.segments.last().expect("log has an active segment")
    }

    /// Publishes a record written at `off..end` of the active segment.
    pub fn commit(&mut self, off: u64, end: u64, chunk: Chunk) {
        let len = chunk.data.len();
        let active = self.segments.last_mut().expect("log has an active segment");
        active.push(off, end, len as u64, chunk.raw_end);
        self.last_raw = chunk.raw_end;
        self.total_bytes += len as u64;
        self.cache_bytes += len;
        self.cache.push_back(chunk);
        while self.cache_bytes > self.cache_limit && self.cache.len() > 1 {
            let old = self.cache.pop_front().expect("non-empty cache");
            self.cache_bytes -= old.data.len();
        }
    }

    /// Drops the `n` oldest segments (returning them) and cached chunks
    /// older than the new `first_seq`.
    pub fn drop_oldest(&mut self, n: usize, new_first_raw: u64) -> Vec<Segment> {
        let gone: Vec<Segment> = self.segments.drain(..n).collect();
        self.total_bytes -= gone.iter().map(|s| s.data_bytes).sum::<u64>();
        self.first_raw = new_first_raw;
        let first = self.first_seq();
        while self.cache.front().is_some_and(|c| c.seq < first) {
            let old = self.cache.pop_front().expect("non-empty cache");
            self.cache_bytes -= old.data.len();
        }
        gone
    }

    /// Plans a read of seqs `from..` (clamped to `first_seq`) of at most
    /// `max_bytes` data, but at least one chunk if any exists.
    pub fn plan(&self, from: u64, max_bytes: usize) -> Plan {
        let from = from.max(self.first_seq());
        if from > self.last_seq() {
            return Plan::Cached(Vec::new());
        }
        if let Some(front) = self.cache.front()
            && from >= front.seq
        {
            let mut used = 0usize;
            let mut out = Vec::new();
            for c in self.cache.range((from - front.seq) as usize..) {
                if !out.is_empty() && used + c.data.len() > max_bytes {
                    break;
                }
                used += c.data.len();
                out.push(c.clone());
            }
            return Plan::Cached(out);
        }
        let mut si = self.segments.partition_point(|s| s.first_seq <= from) - 1;
        let mut seq = from;
        let (mut used, mut taken) = (0usize, 0usize);
        let mut parts = Vec::new();
        while si < self.segments.len() {
            let s = &self.segments[si];
            let start = (seq - s.first_seq) as usize;
            let mut i = start;
            let mut full = false;
            while i < s.offsets.len() {
                let len = s.data_len(i);
                if taken > 0 && used + len > max_bytes {
                    full = true;
                    break;
                }
                used += len;
                taken += 1;
                i += 1;
            }
            if i > start {
                parts.push(ReadPart {
                    file: s.file.clone(),
                    path: s.path.clone(),
                    start: s.offsets[start],
                    end: s.offsets.get(i).copied().unwrap_or(s.end),
                    first_seq: seq,
                    count: i - start,
                });
            }
            if full {
                break;
            }
            seq = s.next_seq();
            si += 1;
        }
        Plan::Disk(parts)
    }
}
