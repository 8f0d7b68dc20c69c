//! On-disk format: records, segment files, the `epoch` and `head` files, and
//! the scan that rebuilds the index (and cuts a torn tail) on open.
//!
//! Record (little endian): `magic u16 = 0x5758 | len u32 | seq u64 |
//! raw_end u64 | crc32 u32 of (seq ‖ raw_end ‖ data) | data`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::index::Segment;
use super::{Chunk, HEADER, LogError, MAX_CHUNK};

/// Record magic (bytes `58 57` on disk).
pub(super) const MAGIC: u16 = 0x5758;

/// A decoded record header.
pub(super) struct Header {
    pub len: usize,
    pub seq: u64,
    pub raw_end: u64,
    pub crc: u32,
}

/// CRC32 of `seq ‖ raw_end ‖ data`.
pub(super) fn checksum(seq: u64, raw_end: u64, data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(&raw_end.to_le_bytes());
    h.update(data);
    h.finalize()
}

/// Encodes one record into `buf` (cleared first).
pub(super) fn encode(buf: &mut Vec<u8>, seq: u64, raw_end: u64, data: &[u8]) {
    buf.clear();
    buf.reserve(HEADER + data.len());
    buf.extend_from_slice(&MAGIC.to_le_bytes());
    buf.extend_from_slice(&(data.len() as u32).to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&raw_end.to_le_bytes());
    buf.extend_from_slice(&checksum(seq, raw_end, data).to_le_bytes());
    buf.extend_from_slice(data);
}

/// Decodes a header (`b` holds at least [`HEADER`] bytes); `None` on a bad
/// magic or a length outside `1..=MAX_CHUNK`.
pub(super) fn decode_header(b: &[u8]) -> Option<Header> {
    let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
    if u16::from_le_bytes([b[0], b[1]]) != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(b[2..6].try_into().unwrap()) as usize;
    if len == 0 || len > MAX_CHUNK {
        return None;
    }
    let crc = u32::from_le_bytes(b[22..26].try_into().unwrap());
    Some(Header {
        len,
        seq: u64_at(6),
        raw_end: u64_at(14),
        crc,
    })
}

/// `LogError::Corrupt` naming the file and offset.
pub(super) fn corrupt(path: &Path, off: u64, what: impl std::fmt::Display) -> LogError {
    LogError::Corrupt(format!("{}: offset {off}: {what}", path.display()))
}

/// Wraps an I/O error so its message names `path`.
pub(super) fn io_at(path: &Path) -> impl FnOnce(io::Error) -> LogError + '_ {
    move |e| LogError::Io(io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Parses `count` consecutive records starting at `seq` from `buf`, read at
/// file offset `base`, verifying magic, seq and crc; appends them to `out`.
pub(super) fn parse_records(
    buf: Bytes,
    mut seq: u64,
    count: usize,
    path: &Path,
    base: u64,
    out: &mut Vec<Chunk>,
) -> Result<(), LogError> {
    let mut pos = 0usize;
    for _ in 0..count {
        let off = base + pos as u64;
        let h = (buf.len() - pos >= HEADER)
            .then(|| decode_header(&buf[pos..]))
            .flatten()
            .ok_or_else(|| corrupt(path, off, "bad record header"))?;
        let start = pos + HEADER;
        if h.seq != seq {
            return Err(corrupt(path, off, format!("expected seq {seq}, found {}", h.seq)));
        }
        if start + h.len > buf.len() {
            return Err(corrupt(
                path,
                off,
                format!("record seq {seq} runs past the end of what was read"),
            ));
        }
        let data = buf.slice(start..start + h.len);
        if checksum(h.seq, h.raw_end, &data) != h.crc {
            return Err(corrupt(path, off, format!("crc mismatch in seq {seq}")));
        }
        out.push(Chunk {
            seq,
            raw_end: h.raw_end,
            data,
        });
        pos = start + h.len;
        seq += 1;
    }
    Ok(())
}

/// File name of the segment whose first record is `first_seq`.
pub(super) fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.seg")
}

/// Segment files in `dir` as `(first_seq, path)`, sorted by seq.
pub(super) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, LogError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_at(dir))? {
        let entry = entry.map_err(io_at(dir))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".seg")) else {
            continue;
        };
        if stem.len() == 20
            && stem.bytes().all(|b| b.is_ascii_digit())
            && let Ok(seq) = stem.parse::<u64>()
        {
            out.push((seq, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Creates an empty segment file for `first_seq` (it must not exist yet).
pub(super) fn create_segment(dir: &Path, first_seq: u64) -> Result<Segment, LogError> {
    let path = dir.join(segment_name(first_seq));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io_at(&path))?;
    Ok(Segment::new(first_seq, Arc::new(file), path.into()))
}

/// Indexes a sealed (not last) segment, verifying every record (header,
/// seq and CRC), so damage is found at open, not mid-replay. Any bad
/// record, seq gap or short file is corruption.
pub(super) fn scan_sealed(path: &Path, first_seq: u64) -> Result<Segment, LogError> {
    let file = File::open(path).map_err(io_at(path))?;
    let len = file.metadata().map_err(io_at(path))?.len();
    let file = Arc::new(file);
    let mut seg = Segment::new(first_seq, file.clone(), path.into());
    let mut r = BufReader::with_capacity(256 * 1024, &*file);
    let mut hdr = [0u8; HEADER];
    let mut data = vec![0u8; MAX_CHUNK];
    let mut off = 0u64;
    while off < len {
        let seq = seg.next_seq();
        if len - off < HEADER as u64 {
            return Err(corrupt(path, off, "truncated record header"));
        }
        r.read_exact(&mut hdr).map_err(io_at(path))?;
        let h = decode_header(&hdr).ok_or_else(|| corrupt(path, off, "bad record header"))?;
        if h.seq != seq {
            return Err(corrupt(path, off, format!("expected seq {seq}, found {}", h.seq)));
        }
        let end = off + (HEADER + h.len) as u64;
        if end > len {
            return Err(corrupt(path, off, format!("record seq {seq} runs past end of file")));
        }
        r.read_exact(&mut data[..h.len]).map_err(io_at(path))?;
        if checksum(h.seq, h.raw_end, &data[..h.len]) != h.crc {
            return Err(corrupt(path, off, format!("crc mismatch in seq {seq}")));
        }
        seg.push(off, end, h.len as u64, h.raw_end);
        off = end;
    }
    Ok(seg)
}

/// Indexes the last segment, validating every record fully; a torn tail
/// (the first invalid or incomplete record, with nothing valid after it) is
/// truncated away; a bad record followed by valid ones is corruption.
/// Also returns the newest chunks (up to `cache_bytes` of data, at least
/// one if any) to seed the cache.
pub(super) fn recover_active(
    path: &Path,
    first_seq: u64,
    cache_bytes: usize,
) -> Result<(Segment, Vec<Chunk>), LogError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_at(path))?;
    let mut buf = Vec::new();
    (&file).read_to_end(&mut buf).map_err(io_at(path))?;
    let mut seg = Segment::new(first_seq, Arc::new(file), path.into());
    let mut records = Vec::new(); // (seq, raw_end, data range)
    let mut pos = 0usize;
    let mut bad = None;
    while pos < buf.len() {
        let seq = seg.next_seq();
        if buf.len() - pos < HEADER {
            bad = Some("incomplete record header".to_string());
            break;
        }
        let Some(h) = decode_header(&buf[pos..]) else {
            bad = Some("bad record header".to_string());
            break;
        };
        let end = pos + HEADER + h.len;
        if end > buf.len() {
            bad = Some(format!("incomplete record (seq {})", h.seq));
            break;
        }
        if h.seq != seq {
            bad = Some(format!("expected seq {seq}, found {}", h.seq));
            break;
        }
        if checksum(h.seq, h.raw_end, &buf[pos + HEADER..end]) != h.crc {
            bad = Some(format!("crc mismatch in seq {seq}"));
            break;
        }
        seg.push(pos as u64, end as u64, h.len as u64, h.raw_end);
        records.push((seq, h.raw_end, pos + HEADER..end));
        pos = end;
    }
    if let Some(reason) = bad {
        if super::recover::any_valid(&buf[pos..]) {
            // Valid records after a bad one: not a torn write but damage.
            // Cutting here would hand their seqs to new output under the
            // same epoch.
            return Err(corrupt(
                path,
                pos as u64,
                format!("{reason}, with valid records after it"),
            ));
        }
        tracing::warn!(
            file = %path.display(),
            offset = pos,
            cut_bytes = buf.len() - pos,
            "output log: {reason}; truncating torn tail"
        );
        seg.file.set_len(pos as u64).map_err(io_at(path))?;
    }
    let mut cached = Vec::new();
    let mut total = 0usize;
    for (seq, raw_end, range) in records.into_iter().rev() {
        if !cached.is_empty() && total + range.len() > cache_bytes {
            break;
        }
        total += range.len();
        let data = Bytes::copy_from_slice(&buf[range]);
        cached.push(Chunk { seq, raw_end, data });
    }
    cached.reverse();
    Ok((seg, cached))
}

/// Reads the header of the record at `off` (used to estimate `first_raw`).
pub(super) fn header_at(file: &File, off: u64) -> Option<Header> {
    let mut hdr = [0u8; HEADER];
    file.read_exact_at(&mut hdr, off).ok()?;
    decode_header(&hdr)
}

/// Writes `dir/name` atomically (temp file, fsync, rename).
pub(super) fn write_atomic(dir: &Path, name: &str, contents: &[u8]) -> Result<(), LogError> {
    let path = dir.join(name);
    crate::util::write_private(&path, contents).map_err(io_at(&path))
}

/// The epoch in `dir/epoch` if present and well formed (32 hex chars).
pub(super) fn read_epoch(dir: &Path) -> Option<String> {
    let s = fs::read_to_string(dir.join("epoch")).ok()?;
    let s = s.trim();
    (s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

/// A fresh random epoch: 16 bytes as 32 hex chars.
pub(super) fn new_epoch() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// `dir/head`: `"<first_seq> <first_raw>\n"`, written before retention
/// deletes segments so `first_raw` survives a restart.
pub(super) fn read_head(dir: &Path) -> Option<(u64, u64)> {
    let s = fs::read_to_string(dir.join("head")).ok()?;
    let mut it = s.split_whitespace().map(str::parse::<u64>);
    match (it.next(), it.next()) {
        (Some(Ok(seq)), Some(Ok(raw))) => Some((seq, raw)),
        _ => None,
    }
}

/// Writes `dir/head` (see [`read_head`]).
pub(super) fn write_head(dir: &Path, first_seq: u64, first_raw: u64) -> Result<(), LogError> {
    write_atomic(dir, "head", format!("{first_seq} {first_raw}\n").as_bytes())
}
