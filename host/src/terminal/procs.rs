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

/// Whether the agent the pane's wrapper `pane_pid` started holds the
/// terminal itself: the leader of the terminal's foreground process group
/// is a child of the wrapper (a shell at its prompt), not a job the agent
/// started (its children). None when /proc cannot tell (the pane is gone).
pub fn agent_in_foreground(pane_pid: i32) -> Option<bool> {
    // Field 8 of proc(5): tpgid, the terminal's foreground process group.
    let tpgid = stat_field(pane_pid, 5).filter(|g| *g > 0)?;
    Some(parent(tpgid)? == pane_pid)
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
