//! `wasmux pipe-sink <dir>`: the process tmux's `pipe-pane -O` feeds. It
//! appends the pane's raw output to `<dir>/<start-offset:020>.raw` files
//! (rotating every 8 MiB) so output is recorded even while the daemon is
//! down; the daemon ingests these files and deletes them once logged.
//!
//! Offsets are absolute byte positions of the pane's output since its first
//! sink: a new sink continues after the last byte of the newest file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Bytes per raw file before rotating.
pub const RAW_FILE_BYTES: u64 = 8 << 20;

/// Raw files in `dir` as (start offset, path), sorted.
pub fn raw_files(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "raw")
            && let Some(start) = path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse().ok())
        {
            files.push((start, path));
        }
    }
    files.sort();
    Ok(files)
}

/// The absolute offset after the last recorded byte.
pub fn end_offset(dir: &Path) -> std::io::Result<u64> {
    Ok(match raw_files(dir)?.last() {
        Some((start, path)) => start + std::fs::metadata(path)?.len(),
        None => 0,
    })
}

/// Path of the raw file starting at `start`.
pub fn raw_path(dir: &Path, start: u64) -> PathBuf {
    dir.join(format!("{start:020}.raw"))
}

/// Run the sink until stdin closes.
pub fn run(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut offset = end_offset(dir)?;
    let mut file_start = offset;
    let mut file = open_new(dir, file_start)?;
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if offset - file_start >= RAW_FILE_BYTES {
            // The old file is complete before the next one exists.
            file_start = offset;
            file = open_new(dir, file_start)?;
        }
        file.write_all(&buf[..n])?;
        offset += n as u64;
    }
}

fn open_new(dir: &Path, start: u64) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(raw_path(dir, start))
}
