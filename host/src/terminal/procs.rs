//! A pane's processes from /proc: stopping them (for restarting an agent)
//! and asking which holds the terminal (for re-deriving a lost state).

use std::time::{Duration, Instant};

/// Field `n` of `/proc/<pid>/stat` counted from the state (field 3 in
/// `proc(5)` is `n = 0`): the command name before it may hold spaces.
fn stat_field(pid: i32, n: usize) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    rest.split_whitespace().nth(n)?.parse().ok()
}

/// Parent pid of `pid`.
fn parent(pid: i32) -> Option<i32> {
    stat_field(pid, 1)
}

/// Pids whose parent is `ppid` (from /proc).
fn children(ppid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|pid| parent(*pid) == Some(ppid))
        .collect()
}

/// Whether the agent the pane's wrapper `pane_pid` started waits at its
/// prompt: it holds the terminal itself (the leader of the terminal's
/// foreground process group is a child of the wrapper, not a job the agent
/// started) and the terminal is in raw mode (a line editor such as
/// readline reading input; a builtin like `read`, or the commands the
/// agent runs, see a canonical terminal). None when /proc or the terminal
/// cannot tell (the pane is gone).
pub fn agent_at_prompt(pane_pid: i32) -> Option<bool> {
    // Field 8 of proc(5): tpgid, the terminal's foreground process group.
    let tpgid = stat_field(pane_pid, 5).filter(|g| *g > 0)?;
    if parent(tpgid)? != pane_pid {
        return Some(false);
    }
    Some(!canonical(&format!("/proc/{pane_pid}/fd/0"))?)
}

/// Whether the terminal at `path` is in canonical (line) mode.
fn canonical(path: &str) -> Option<bool> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    // O_NOCTTY: never become the daemon's controlling terminal.
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    // SAFETY: tcgetattr fills a termios we own from an fd we hold open.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(tty.as_raw_fd(), &mut t) } != 0 {
        return None;
    }
    Some(t.c_lflag & libc::ICANON != 0)
}

/// Every descendant of `pid` (not `pid` itself), parents before children.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for c in children(p) {
            out.push(c);
            frontier.push(c);
        }
    }
    out
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Stop every descendant of `pid`: SIGHUP and SIGTERM, then SIGKILL for
/// those still alive after `grace`.
pub async fn kill_descendants(pid: i32, grace: Duration) {
    let procs = descendants(pid);
    for p in &procs {
        // SAFETY: plain signals to processes of our own pane.
        unsafe {
            libc::kill(*p, libc::SIGHUP);
            libc::kill(*p, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && procs.iter().any(|p| alive(*p)) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for p in procs.iter().filter(|p| alive(**p)) {
        // SAFETY: as above.
        unsafe { libc::kill(*p, libc::SIGKILL) };
    }
}
