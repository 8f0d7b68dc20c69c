//! Finding and stopping a pane's processes (for restarting an agent).

use std::time::{Duration, Instant};

/// Pids whose parent is `ppid` (from /proc).
fn children(ppid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name (which may contain spaces) in parens.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let parent = rest.split_whitespace().nth(1).and_then(|p| p.parse::<i32>().ok());
        if parent == Some(ppid) {
            out.push(pid);
        }
    }
    out
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
