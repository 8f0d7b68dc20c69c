//! The burst workload: a data file of base64 lines, the script that `cat`s it
//! between two markers, and a scanner that finds the markers in a byte stream.

use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use base64::Engine;

/// Printed by the script just before the file (its bytes only exist at run
/// time, so the echoed command line never contains them).
pub const BEGIN: &[u8] = b"BEGIN-MARK7f3a";
/// Printed by the script just after the file.
pub const END: &[u8] = b"END-MARK7f3a";

/// The script: raw mode so the tty neither echoes nor rewrites `\n`, then the
/// file between the two markers.
const SCRIPT: &str = "stty raw -echo; A=BEGIN; printf '%s-%s\\n' \"$A\" MARK7f3a; cat \"$1\"; \
A=END; printf '%s-%s\\n' \"$A\" MARK7f3a; stty sane\n";

/// A private temporary directory, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Create `/tmp/wasmux-bench-<tag>-<pid>-<nanos>` with mode 0700.
    pub fn new(tag: &str) -> Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!("wasmux-bench-{tag}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700))?;
        Ok(TempDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// The data file and the burst script in a temporary directory.
pub struct Workload {
    dir: TempDir,
    script: PathBuf,
    data: PathBuf,
    /// Size of the data file in bytes.
    pub data_bytes: u64,
}

impl Workload {
    /// Write `bytes` (rounded up to whole lines) of base64 text in 76-character
    /// lines from a xorshift PRNG, and the burst script.
    pub fn create(bytes: u64) -> Result<Workload> {
        let dir = TempDir::new("data")?;
        let script = dir.path().join("burst.sh");
        fs::write(&script, SCRIPT)?;
        let data = dir.path().join("data.txt");
        let mut out = BufWriter::with_capacity(1 << 20, fs::File::create(&data)?);
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut raw = [0u8; 57];
        let mut line = [0u8; 77];
        let mut written = 0u64;
        while written < bytes {
            for chunk in raw.chunks_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let word = state.to_le_bytes();
                chunk.copy_from_slice(&word[..chunk.len()]);
            }
            let n = base64::engine::general_purpose::STANDARD
                .encode_slice(raw, &mut line)
                .expect("76 bytes fit");
            debug_assert_eq!(n, 76);
            line[76] = b'\n';
            out.write_all(&line)?;
            written += 77;
        }
        out.flush()?;
        Ok(Workload {
            dir,
            script,
            data,
            data_bytes: written,
        })
    }

    /// The command line that runs the burst (without the Enter).
    pub fn command(&self) -> String {
        format!("sh {} {}", self.script.display(), self.data.display())
    }

    /// The script's path.
    pub fn script(&self) -> &Path {
        &self.script
    }

    /// The data file's path.
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// The temporary directory holding both.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Begin,
    Body,
    Done,
}

/// Finds [`BEGIN`] then [`END`] in a stream of chunks (markers may straddle
/// chunk boundaries) and records when each arrived and how many bytes lay
/// between them.
pub struct BurstScanner {
    phase: Phase,
    carry: Vec<u8>,
    fed: u64,
    body_start: u64,
    /// Arrival of the chunk holding the end of the BEGIN marker.
    pub t_begin: Option<Instant>,
    /// Arrival of the chunk holding the end of the END marker.
    pub t_end: Option<Instant>,
    /// Bytes strictly between the markers (the file plus the BEGIN line's `\n`).
    pub body_bytes: u64,
}

impl Default for BurstScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl BurstScanner {
    /// A scanner waiting for BEGIN.
    pub fn new() -> BurstScanner {
        BurstScanner {
            phase: Phase::Begin,
            carry: Vec::new(),
            fed: 0,
            body_start: 0,
            t_begin: None,
            t_end: None,
            body_bytes: 0,
        }
    }

    /// Whether BEGIN has been seen.
    pub fn begun(&self) -> bool {
        self.phase != Phase::Begin
    }

    /// Feed the next chunk, which arrived at `now`; true once END has been seen.
    pub fn feed(&mut self, chunk: &[u8], now: Instant) -> bool {
        let mut rest = chunk;
        let mut base = self.fed;
        loop {
            let needle = match self.phase {
                Phase::Begin => BEGIN,
                Phase::Body => END,
                Phase::Done => return true,
            };
            let Some(end) = find_across(&self.carry, rest, needle) else {
                break;
            };
            self.carry.clear();
            let abs_end = base + end as u64;
            match self.phase {
                Phase::Begin => {
                    self.phase = Phase::Body;
                    self.t_begin = Some(now);
                    self.body_start = abs_end;
                }
                _ => {
                    self.phase = Phase::Done;
                    self.t_end = Some(now);
                    self.body_bytes = abs_end - needle.len() as u64 - self.body_start;
                    self.fed += chunk.len() as u64;
                    return true;
                }
            }
            rest = &rest[end..];
            base = abs_end;
        }
        let keep = match self.phase {
            Phase::Begin => BEGIN.len() - 1,
            _ => END.len() - 1,
        };
        self.carry.extend_from_slice(&rest[rest.len().saturating_sub(keep)..]);
        let drop = self.carry.len().saturating_sub(keep);
        self.carry.drain(..drop);
        self.fed += chunk.len() as u64;
        false
    }
}

/// End offset (exclusive, in `chunk`) of the first `needle` in `carry ++ chunk`,
/// where `carry` is shorter than `needle`.
fn find_across(carry: &[u8], chunk: &[u8], needle: &[u8]) -> Option<usize> {
    let n = needle.len();
    if !carry.is_empty() {
        let mut buf = carry.to_vec();
        buf.extend_from_slice(&chunk[..chunk.len().min(n - 1)]);
        if let Some(i) = buf.windows(n).position(|w| w == needle)
            && i < carry.len()
        {
            return Some(i + n - carry.len());
        }
    }
    find(chunk, needle).map(|i| i + n)
}

/// Start of the first `needle` in `hay`, pivoting on its `-` (a byte base64
/// never produces, so the scan over the body is one tight loop).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let k = needle.iter().position(|&b| b == b'-').unwrap_or(0);
    let pivot = needle[k];
    let mut from = 0;
    while let Some(p) = hay[from..].iter().position(|&b| b == pivot) {
        let p = from + p;
        if p >= k && p - k + needle.len() <= hay.len() && &hay[p - k..p - k + needle.len()] == needle {
            return Some(p - k);
        }
        from = p + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_across_every_split() {
        let stream = b"echo x\r\nBEGIN-MARK7f3a\nabcdEFGH\nEND-MARK7f3a\nrest";
        for a in 0..stream.len() {
            for b in a..stream.len() {
                let mut s = BurstScanner::new();
                let now = Instant::now();
                let done = s.feed(&stream[..a], now) | s.feed(&stream[a..b], now) | s.feed(&stream[b..], now);
                assert!(done, "split {a} {b}");
                assert_eq!(s.body_bytes, 10, "split {a} {b}");
            }
        }
    }
}
