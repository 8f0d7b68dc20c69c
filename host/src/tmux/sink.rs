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

/// The file the running sink writes its pid to (`<dir>/sink.pid`), so the
/// daemon can tell within a second that it died.
pub fn pid_path(dir: &Path) -> PathBuf {
    dir.join("sink.pid")
}

/// How long after a failed write the sink tries a new file.
const RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Run the sink until stdin closes.
pub fn run(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    crate::util::write_private(&pid_path(dir), std::process::id().to_string().as_bytes())?;
    let mut out = Recorder::new(dir, end_offset(dir)?, |dir, start| {
        open_new(dir, start).map(|f| Box::new(f) as Box<dyn Write>)
    })?;
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.record(&buf[..n]);
    }
}

/// Opens the raw file starting at an offset.
type Opener = fn(&Path, u64) -> std::io::Result<Box<dyn Write>>;

/// The sink's writer: appends to the current raw file, rotating every
/// [`RAW_FILE_BYTES`]. A write that fails (a full disk) never stops it: it
/// keeps reading, so the pane never blocks, counts the bytes it could not
/// keep, and at most every [`RETRY`] starts a new file *after* them. The
/// hole in the offsets tells the daemon exactly how many bytes were lost.
struct Recorder<'a> {
    dir: &'a Path,
    open: Opener,
    /// Offset of the next byte the pane prints (kept or not).
    offset: u64,
    /// Start offset of the current file.
    file_start: u64,
    file: Option<Box<dyn Write>>,
    failed_at: Option<std::time::Instant>,
}

impl<'a> Recorder<'a> {
    fn new(dir: &'a Path, offset: u64, open: Opener) -> std::io::Result<Recorder<'a>> {
        let file = open(dir, offset)?;
        Ok(Recorder {
            dir,
            open,
            offset,
            file_start: offset,
            file: Some(file),
            failed_at: None,
        })
    }

    /// Keep `data` if the disk takes it; either way it is accounted for.
    fn record(&mut self, data: &[u8]) {
        let retry = self.failed_at.is_none_or(|t| t.elapsed() >= RETRY);
        if (self.file.is_none() && retry) || self.offset - self.file_start >= RAW_FILE_BYTES {
            // The old file is complete (or broken) before the next exists.
            self.file = None;
            match (self.open)(self.dir, self.offset) {
                Ok(f) => {
                    self.file = Some(f);
                    self.file_start = self.offset;
                }
                Err(_) => self.failed_at = Some(std::time::Instant::now()),
            }
        }
        let mut kept = 0;
        if let Some(f) = self.file.as_mut() {
            while kept < data.len() {
                match f.write(&data[kept..]) {
                    Ok(0) => break,
                    Ok(n) => kept += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            if kept < data.len() {
                // The rest is lost: the next file starts after it.
                self.file = None;
                self.failed_at = Some(std::time::Instant::now());
            }
        }
        self.offset += data.len() as u64;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    static FULL: AtomicBool = AtomicBool::new(false);

    /// A raw file on a disk that is full while [`FULL`] is set.
    struct Disk(std::fs::File);

    impl Write for Disk {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            if FULL.load(Ordering::SeqCst) {
                return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
            }
            self.0.write(data)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn open_disk(dir: &Path, start: u64) -> std::io::Result<Box<dyn Write>> {
        if FULL.load(Ordering::SeqCst) {
            return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
        }
        Ok(Box::new(Disk(open_new(dir, start)?)))
    }

    #[test]
    fn a_full_disk_leaves_a_hole_of_exactly_the_lost_bytes_and_recording_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Recorder::new(dir.path(), 0, open_disk).unwrap();
        r.record(b"kept-1 ");
        FULL.store(true, Ordering::SeqCst);
        r.record(b"lost-a ");
        r.record(b"lost-b ");
        FULL.store(false, Ordering::SeqCst);
        // Within the retry period nothing is written yet.
        r.record(b"lost-c ");
        r.failed_at = Some(std::time::Instant::now() - RETRY);
        r.record(b"kept-2");
        let files = raw_files(dir.path()).unwrap();
        assert_eq!(files.len(), 2, "{files:?}");
        assert_eq!(files[0].0, 0);
        assert_eq!(std::fs::read(&files[0].1).unwrap(), b"kept-1 ");
        assert_eq!(files[1].0, 28, "the second file starts after the 21 lost bytes");
        assert_eq!(std::fs::read(&files[1].1).unwrap(), b"kept-2");
        assert_eq!(end_offset(dir.path()).unwrap(), 34);
    }
}
