//! The demo agent's tools: list, read, run, write and sleep. They do the work
//! and return plain data; printing and transcript records are the caller's.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Component, Path};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Most bytes of command output kept (the rest is read and dropped).
pub const OUTPUT_CAP: usize = 16 * 1024;
/// Lines of a file that `read_file` shows.
pub const READ_LINES: usize = 40;
/// Longest single wait between two checks of the interrupt flag.
pub const POLL_STEP: Duration = Duration::from_millis(100);

/// Whether `path` is relative and stays inside the working directory (no
/// root, no `..`).
pub fn is_inside(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Wait `total`, in steps of at most [`POLL_STEP`]; false as soon as
/// `interrupted` is seen set (the flag is left set for the caller).
pub fn pause(total: Duration, interrupted: &AtomicBool) -> bool {
    let deadline = Instant::now() + total;
    loop {
        if interrupted.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep((deadline - now).min(POLL_STEP));
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// File name.
    pub name: String,
    /// Whether it is a directory (following symlinks).
    pub is_dir: bool,
    /// Size in bytes (0 for directories).
    pub size: u64,
}

/// List `dir`, sorted by name.
pub fn list_files(dir: &Path) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = fs::metadata(entry.path()).or_else(|_| entry.metadata())?;
        let is_dir = meta.is_dir();
        entries.push(Entry {
            name: entry.file_name().to_string_lossy().into_owned(),
            is_dir,
            size: if is_dir { 0 } else { meta.len() },
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// A listing as text: one name a line, directories with a trailing `/`.
pub fn format_listing(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|e| format!("{}{}\n", e.name, if e.is_dir { "/" } else { "" }))
        .collect()
}

/// The largest non-directory entry (ties go to the first name).
pub fn largest_file(entries: &[Entry]) -> Option<&Entry> {
    entries
        .iter()
        .filter(|e| !e.is_dir)
        .fold(None, |best: Option<&Entry>, e| match best {
            Some(b) if b.size >= e.size => Some(b),
            _ => Some(e),
        })
}

/// The head of a file, as `read_file` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHead {
    /// The first [`READ_LINES`] lines (lossy UTF-8, at most [`OUTPUT_CAP`] bytes).
    pub head: String,
    /// Lines in the whole file.
    pub total_lines: usize,
    /// Lines in `head`.
    pub shown_lines: usize,
    /// Size of the file in bytes.
    pub bytes: usize,
}

/// Read the first [`READ_LINES`] lines of `cwd/path`.
pub fn read_file(cwd: &Path, path: &str) -> io::Result<FileHead> {
    let bytes = fs::read(cwd.join(path))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut head = String::new();
    let mut shown_lines = 0;
    for line in text.lines().take(READ_LINES) {
        head.push_str(line);
        head.push('\n');
        shown_lines += 1;
    }
    truncate_at_char(&mut head, OUTPUT_CAP);
    Ok(FileHead {
        head,
        total_lines: text.lines().count(),
        shown_lines,
        bytes: bytes.len(),
    })
}

fn truncate_at_char(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// How a command run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRun {
    /// Captured stdout and stderr, interleaved, at most [`OUTPUT_CAP`] bytes (lossy UTF-8).
    pub output: String,
    /// Bytes the command printed in all (may exceed what was kept).
    pub total_bytes: usize,
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal that ended it, if any.
    pub signal: Option<i32>,
    /// Whether the run was cut short by `interrupted` (the child was killed).
    pub aborted: bool,
}

impl CommandRun {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.aborted
    }

    /// `exit status: N` or `killed by signal N`.
    pub fn status_text(&self) -> String {
        match (self.code, self.signal) {
            (Some(code), _) => format!("exit status: {code}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            (None, None) => "exit status: unknown".to_string(),
        }
    }

    /// The tool result text: the output (with a truncation note when cut),
    /// then the status line.
    pub fn report(&self) -> String {
        let mut text = self.output.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        if self.total_bytes > OUTPUT_CAP {
            let _ = writeln!(
                text,
                "[output truncated: {} of {} bytes shown]",
                OUTPUT_CAP, self.total_bytes
            );
        }
        text.push_str(&self.status_text());
        text
    }
}

/// Run `command` with `sh -c` in `cwd`, stdin from /dev/null, stdout and
/// stderr into one pipe. Stops reading and kills the shell when
/// `interrupted` is set (checked whenever a read returns, including on EINTR).
pub fn run_command(cwd: &Path, command: &str, interrupted: &AtomicBool) -> io::Result<CommandRun> {
    let (mut reader, writer) = io::pipe()?;
    let writer_err = writer.try_clone()?;
    // The `Command` (holding the parent's copies of the write end) is a
    // temporary, dropped at the end of this statement, so EOF arrives when
    // the child and its descendants close theirs.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer_err)
        // Its own process group, so an abort can kill the whole pipeline.
        .process_group(0)
        .spawn()?;
    let mut kept = Vec::new();
    let mut total_bytes = 0;
    let mut aborted = false;
    let mut buf = [0u8; 8192];
    loop {
        if interrupted.load(Ordering::SeqCst) {
            aborted = true;
            break;
        }
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total_bytes += n;
                let room = OUTPUT_CAP - kept.len();
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                kill_group(&mut child);
                let _ = child.wait();
                return Err(e);
            }
        }
    }
    if aborted {
        kill_group(&mut child);
    }
    drop(reader);
    let status = child.wait()?;
    Ok(CommandRun {
        output: String::from_utf8_lossy(&kept).into_owned(),
        total_bytes,
        code: status.code(),
        signal: status.signal(),
        aborted,
    })
}

/// SIGKILL the child's process group (it leads one), so grandchildren such
/// as the `sleep` in `sh -c 'sleep 9; echo'` go too.
fn kill_group(child: &mut std::process::Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: plain kill(2) on the group the child leads; it has not been
        // waited for yet, so its id cannot have been reused.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let _ = child.kill();
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    /// Whether the file did not exist before.
    pub created: bool,
    /// Bytes written.
    pub bytes: usize,
    /// Unified diff of the change.
    pub diff: String,
}

impl FileWrite {
    /// `created hello.txt (9 bytes)` or `updated hello.txt (9 bytes)`.
    pub fn description(&self, path: &str) -> String {
        let verb = if self.created { "created" } else { "updated" };
        format!("{verb} {path} ({} bytes)", self.bytes)
    }
}

/// Write `content` to `cwd/path` (which must satisfy [`is_inside`]),
/// replacing any previous content.
pub fn write_file(cwd: &Path, path: &str, content: &str) -> io::Result<FileWrite> {
    if !is_inside(path) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "path must stay inside the working directory",
        ));
    }
    let full = cwd.join(path);
    let old = match fs::read(&full) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    fs::write(&full, content)?;
    Ok(FileWrite {
        created: old.is_none(),
        bytes: content.len(),
        diff: unified_diff(path, old.as_deref(), content),
    })
}

/// A whole-file unified diff from `old` (`None`: the file did not exist) to `new`.
pub fn unified_diff(path: &str, old: Option<&str>, new: &str) -> String {
    let old_text = old.unwrap_or("");
    let mut diff = format!("--- {}\n+++ {path}\n", if old.is_some() { path } else { "/dev/null" });
    if old_text == new {
        return diff;
    }
    let old_lines: Vec<&str> = old_text.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let _ = writeln!(
        diff,
        "@@ -{} +{} @@",
        hunk_range(old_lines.len()),
        hunk_range(new_lines.len())
    );
    push_lines(&mut diff, '-', &old_lines, old_text);
    push_lines(&mut diff, '+', &new_lines, new);
    diff
}

fn hunk_range(lines: usize) -> String {
    match lines {
        0 => "0,0".to_string(),
        1 => "1".to_string(),
        n => format!("1,{n}"),
    }
}

fn push_lines(diff: &mut String, sign: char, lines: &[&str], text: &str) {
    for line in lines {
        let _ = writeln!(diff, "{sign}{line}");
    }
    if !text.is_empty() && !text.ends_with('\n') {
        diff.push_str("\\ No newline at end of file\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_paths() {
        assert!(is_inside("a.txt"));
        assert!(is_inside("./src/a.txt"));
        assert!(!is_inside("../a.txt"));
        assert!(!is_inside("/etc/passwd"));
        assert!(!is_inside("src/../../x"));
        assert!(!is_inside(""));
    }

    #[test]
    fn listing_is_sorted_with_dir_slashes() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("b.txt"), "12345").unwrap();
        fs::write(d.path().join("a.txt"), "1").unwrap();
        fs::create_dir(d.path().join("src")).unwrap();
        let entries = list_files(d.path()).unwrap();
        assert_eq!(format_listing(&entries), "a.txt\nb.txt\nsrc/\n");
        assert_eq!(largest_file(&entries).unwrap().name, "b.txt");
        assert_eq!(largest_file(&[]), None);
    }

    #[test]
    fn read_shows_first_40_lines() {
        let d = tempfile::tempdir().unwrap();
        let text: String = (1..=50).map(|i| format!("line {i}\n")).collect();
        fs::write(d.path().join("f.txt"), &text).unwrap();
        let head = read_file(d.path(), "f.txt").unwrap();
        assert_eq!(head.total_lines, 50);
        assert_eq!(head.shown_lines, 40);
        assert!(head.head.starts_with("line 1\n") && head.head.ends_with("line 40\n"));
        assert_eq!(head.bytes, text.len());
        assert_eq!(read_file(d.path(), "nope").unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn run_captures_both_streams_and_status() {
        let d = tempfile::tempdir().unwrap();
        let flag = AtomicBool::new(false);
        let run = run_command(d.path(), "echo out; echo err >&2; exit 3", &flag).unwrap();
        assert_eq!(run.output, "out\nerr\n");
        assert_eq!(run.code, Some(3));
        assert!(!run.success());
        assert_eq!(run.report(), "out\nerr\nexit status: 3");
        let run = run_command(d.path(), "pwd", &flag).unwrap();
        assert!(run.success());
        assert_eq!(
            run.output.trim_end(),
            d.path().canonicalize().unwrap().to_str().unwrap()
        );
    }

    #[test]
    fn run_caps_output() {
        let d = tempfile::tempdir().unwrap();
        let flag = AtomicBool::new(false);
        let run = run_command(d.path(), "head -c 40000 /dev/zero | tr '\\0' x", &flag).unwrap();
        assert_eq!(run.output.len(), OUTPUT_CAP);
        assert_eq!(run.total_bytes, 40000);
        assert!(run.report().contains("[output truncated: 16384 of 40000 bytes shown]"));
    }

    #[test]
    fn run_stops_when_interrupted() {
        let d = tempfile::tempdir().unwrap();
        let flag = AtomicBool::new(false);
        let start = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                flag.store(true, Ordering::SeqCst);
            });
            // Prints regularly, so the reader wakes up and sees the flag.
            let run = run_command(d.path(), "while true; do echo tick; sleep 0.05; done", &flag).unwrap();
            assert!(run.aborted);
            assert!(!run.success());
        });
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn write_creates_then_updates_with_diffs() {
        let d = tempfile::tempdir().unwrap();
        let w = write_file(d.path(), "hello.txt", "hi there\n").unwrap();
        assert!(w.created);
        assert_eq!(w.description("hello.txt"), "created hello.txt (9 bytes)");
        assert_eq!(w.diff, "--- /dev/null\n+++ hello.txt\n@@ -0,0 +1 @@\n+hi there\n");
        let w = write_file(d.path(), "hello.txt", "bye\n").unwrap();
        assert!(!w.created);
        assert_eq!(w.description("hello.txt"), "updated hello.txt (4 bytes)");
        assert_eq!(w.diff, "--- hello.txt\n+++ hello.txt\n@@ -1 +1 @@\n-hi there\n+bye\n");
        assert_eq!(fs::read_to_string(d.path().join("hello.txt")).unwrap(), "bye\n");
        assert!(write_file(d.path(), "../x.txt", "x\n").is_err());
        assert!(write_file(d.path(), "no/such/dir.txt", "x\n").is_err());
    }

    #[test]
    fn diff_of_unterminated_multiline_file() {
        assert_eq!(
            unified_diff("a", Some("x\ny"), "z\n"),
            "--- a\n+++ a\n@@ -1,2 +1 @@\n-x\n-y\n\\ No newline at end of file\n+z\n"
        );
        assert_eq!(unified_diff("a", Some("same\n"), "same\n"), "--- a\n+++ a\n");
    }

    #[test]
    fn pause_returns_early_on_interrupt() {
        let flag = AtomicBool::new(false);
        assert!(pause(Duration::from_millis(10), &flag));
        flag.store(true, Ordering::SeqCst);
        let start = Instant::now();
        assert!(!pause(Duration::from_secs(5), &flag));
        assert!(start.elapsed() < Duration::from_millis(50));
    }
}
