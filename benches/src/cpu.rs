//! Where CPU time goes: snapshots of `/proc/*/stat` before and after a
//! measurement, summed per command name over the process trees involved.

use std::collections::{BTreeMap, HashMap};
use std::fs;

/// One process at snapshot time.
struct Proc {
    ppid: i32,
    comm: String,
    /// utime + stime + cutime + cstime, in clock ticks: its own time plus that
    /// of children it has reaped (so short-lived children such as `cat` are
    /// counted under their parent once they exit).
    ticks: u64,
}

/// CPU times of every process on the machine at one instant.
pub struct Snapshot {
    procs: HashMap<i32, Proc>,
}

impl Snapshot {
    /// Read `/proc`.
    pub fn take() -> Snapshot {
        let mut procs = HashMap::new();
        if let Ok(dir) = fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                    continue;
                };
                if let Some(p) = read_stat(pid) {
                    procs.insert(pid, p);
                }
            }
        }
        Snapshot { procs }
    }
}

fn read_stat(pid: i32) -> Option<Proc> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let mut comm = text[open + 1..close].to_string();
    if comm == "wasmux" {
        // Tell the daemon (`serve`) from its helpers (`pipe-sink`, `bridge`).
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if let Some(sub) = cmdline.split(|&b| b == 0).nth(1).filter(|s| !s.is_empty()) {
            comm = format!("wasmux {}", String::from_utf8_lossy(sub));
        }
    }
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // After the comm: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
    let num = |i: usize| fields.get(i).and_then(|s| s.parse::<u64>().ok());
    Some(Proc {
        ppid: fields.get(1)?.parse().ok()?,
        comm,
        ticks: num(11)? + num(12)? + num(13)? + num(14)?,
    })
}

/// CPU seconds per command name spent between `before` and `after` by the
/// processes descending from any of `roots` (as seen in `after`), largest
/// first. Processes that exited in between are counted by whoever reaped them.
pub fn delta(before: &Snapshot, after: &Snapshot, roots: &[i32]) -> Vec<(String, f64)> {
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut by_comm: BTreeMap<String, u64> = BTreeMap::new();
    for (pid, p) in &after.procs {
        if !descends(after, *pid, roots) {
            continue;
        }
        let was = before
            .procs
            .get(pid)
            .filter(|b| b.comm == p.comm)
            .map_or(0, |b| b.ticks);
        *by_comm.entry(p.comm.clone()).or_default() += p.ticks.saturating_sub(was);
    }
    let mut out: Vec<(String, f64)> = by_comm
        .into_iter()
        .filter(|(_, t)| *t > 0)
        .map(|(c, t)| (c, t as f64 / tick))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

fn descends(snap: &Snapshot, mut pid: i32, roots: &[i32]) -> bool {
    for _ in 0..64 {
        if roots.contains(&pid) {
            return true;
        }
        match snap.procs.get(&pid) {
            Some(p) if p.ppid > 1 => pid = p.ppid,
            _ => return false,
        }
    }
    false
}

/// "name 1.23s (98%), other 0.40s (32%)" for the table: CPU seconds and the
/// share of one core over `wall` seconds.
pub fn format(d: &[(String, f64)], wall: f64) -> String {
    let parts: Vec<String> = d
        .iter()
        .filter(|(_, s)| *s >= 0.01)
        .map(|(c, s)| format!("{c} {s:.2}s ({:.0}%)", 100.0 * s / wall.max(1e-9)))
        .collect();
    if parts.is_empty() { "-".into() } else { parts.join(", ") }
}
