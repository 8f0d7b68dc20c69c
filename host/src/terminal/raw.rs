//! Reading the pipe sink's raw files by absolute offset (see
//! [`crate::tmux::sink`]). A file is complete once a later file exists.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use crate::tmux::sink::raw_files;

/// A cursor over a session's raw output files.
pub struct RawReader {
    dir: PathBuf,
    pos: u64,
    /// (start offset, open file) of the file holding `pos`.
    current: Option<(u64, File)>,
    /// Spans `from..to` skipped because no file holds them.
    holes: Vec<(u64, u64)>,
}

impl RawReader {
    /// A reader of `dir` positioned at absolute offset `pos`.
    pub fn new(dir: PathBuf, pos: u64) -> RawReader {
        RawReader {
            dir,
            pos,
            current: None,
            holes: Vec::new(),
        }
    }

    /// The spans skipped since the last call: output the sink never
    /// recorded (it could not write) or raw files deleted before they were
    /// read.
    pub fn take_holes(&mut self) -> Vec<(u64, u64)> {
        std::mem::take(&mut self.holes)
    }

    /// The next offset to read.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Offset after the last byte recorded so far.
    pub fn available(&self) -> u64 {
        crate::tmux::sink::end_offset(&self.dir)
            .unwrap_or(self.pos)
            .max(self.pos)
    }

    /// Read up to `max` bytes from `pos`, not beyond `limit` if given.
    /// Returns an empty vector when nothing new is recorded yet.
    pub fn read(&mut self, max: usize, limit: Option<u64>) -> std::io::Result<Vec<u8>> {
        let max = match limit {
            Some(l) if l <= self.pos => return Ok(Vec::new()),
            Some(l) => max.min((l - self.pos) as usize),
            None => max,
        };
        let mut out = Vec::new();
        while out.len() < max {
            if self.current.is_none() && !self.open_current()? {
                break;
            }
            let (start, file) = self.current.as_ref().expect("open");
            let mut buf = vec![0u8; max - out.len()];
            let n = file.read_at(&mut buf, self.pos - start)?;
            if n > 0 {
                out.extend_from_slice(&buf[..n]);
                self.pos += n as u64;
                continue;
            }
            // End of this file: move on only if a later file exists (then this
            // one is complete; re-read once to catch its last bytes).
            let start = *start;
            let next = raw_files(&self.dir)?.into_iter().find(|(s, _)| *s > start);
            match next {
                Some(_) => {
                    let (_, file) = self.current.as_ref().expect("open");
                    let n = file.read_at(&mut buf, self.pos - start)?;
                    if n > 0 {
                        out.extend_from_slice(&buf[..n]);
                        self.pos += n as u64;
                        continue;
                    }
                    self.current = None;
                    if !self.open_current()? {
                        break;
                    }
                }
                None => break,
            }
        }
        Ok(out)
    }

    /// Open the file containing `pos`; false if none does yet. If `pos` is
    /// before every file (they were deleted) or in a hole, jump to the next
    /// recorded byte and log the loss.
    fn open_current(&mut self) -> std::io::Result<bool> {
        let files = raw_files(&self.dir)?;
        let holding = files.iter().rev().find(|(s, _)| *s <= self.pos);
        let chosen = match holding {
            Some((s, p)) => {
                let len = std::fs::metadata(p)?.len();
                let later = files.iter().find(|(s2, _)| *s2 > *s).cloned();
                // At the end of a file that a later one follows after a
                // hole, the later one (not this one again, forever).
                if self.pos < s + len || (self.pos == s + len && later.is_none()) {
                    Some((*s, p.clone()))
                } else {
                    later
                }
            }
            None => files.first().cloned(),
        };
        let Some((start, path)) = chosen else { return Ok(false) };
        if start > self.pos {
            tracing::warn!(dir = %self.dir.display(), from = self.pos, to = start, "raw output missing (the sink could not record it); skipping the hole");
            self.holes.push((self.pos, start));
            self.pos = start;
        }
        self.current = Some((start, File::open(path)?));
        Ok(true)
    }

    /// Delete raw files that end at or before `upto` (already logged).
    pub fn discard_before(&self, upto: u64) {
        let Ok(files) = raw_files(&self.dir) else { return };
        for pair in files.windows(2) {
            let (_, path) = &pair[0];
            let (next_start, _) = &pair[1];
            if *next_start <= upto {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tmux::sink::raw_path;

    #[test]
    fn reads_across_files_and_limits() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(raw_path(dir.path(), 0), b"hello ").unwrap();
        let mut r = RawReader::new(dir.path().to_path_buf(), 0);
        assert_eq!(r.read(100, None).unwrap(), b"hello ");
        assert_eq!(r.read(100, None).unwrap(), b"");
        std::fs::write(raw_path(dir.path(), 6), b"world").unwrap();
        assert_eq!(r.read(3, None).unwrap(), b"wor");
        assert_eq!(r.read(100, Some(10)).unwrap(), b"l");
        assert_eq!(r.read(100, None).unwrap(), b"d");
        assert_eq!(r.pos(), 11);
        assert_eq!(r.available(), 11);
        r.discard_before(11);
        assert!(!raw_path(dir.path(), 0).exists());
        assert!(raw_path(dir.path(), 6).exists());
        // Resume in the middle of a file.
        let mut r = RawReader::new(dir.path().to_path_buf(), 8);
        assert_eq!(r.read(100, None).unwrap(), b"rld");
        assert!(r.take_holes().is_empty());
    }

    #[test]
    fn a_hole_between_files_is_skipped_and_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(raw_path(dir.path(), 0), b"abc").unwrap();
        std::fs::write(raw_path(dir.path(), 10), b"xyz").unwrap();
        let mut r = RawReader::new(dir.path().to_path_buf(), 0);
        assert_eq!(r.read(100, None).unwrap(), b"abcxyz");
        assert_eq!(r.take_holes(), [(3, 10)]);
        assert!(r.take_holes().is_empty());
    }
}
