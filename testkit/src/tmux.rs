//! A test's own tmux server: bounded one-shot commands and cleanup.
//!
//! tmux 3.3a clients can hang on a server that is shutting down (seen with
//! `kill-server` and `display`), so no call here waits without a deadline:
//! a test that meets a stuck server fails with a message instead of
//! holding the whole suite until CI's time limit.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// How long a one-shot tmux command may take.
pub const TMUX_TIMEOUT: Duration = Duration::from_secs(20);

/// Run `tmux -S socket <args>` with a deadline; its output (any status).
pub fn tmux_output(socket: &Path, args: &[&str]) -> Result<Output> {
    let child = Command::new("tmux")
        .arg("-S")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running tmux (apt-get install tmux)")?;
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(TMUX_TIMEOUT) {
        Ok(out) => Ok(out?),
        Err(_) => {
            // SAFETY: signalling our own child, which has not been reaped
            // (its waiter thread is still blocked on it).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            bail!(
                "tmux {args:?} on {} did not answer within {TMUX_TIMEOUT:?}",
                socket.display()
            )
        }
    }
}

/// Run `tmux -S socket <args>` with a deadline; its stdout, or an error
/// naming tmux's message.
pub fn tmux(socket: &Path, args: &[&str]) -> Result<String> {
    let out = tmux_output(socket, args)?;
    if !out.status.success() {
        bail!("tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Stop the tmux server on `socket`: `kill-server` with a deadline, then
/// SIGKILL of every process whose command line names the socket (the
/// server and any clients left behind), found in `/proc` so a hung server
/// is killed too.
pub fn kill_tmux_server(socket: &Path) {
    let _ = tmux_output(socket, &["kill-server"]);
    for pid in processes_naming(socket) {
        // SAFETY: signalling the test's own tmux processes.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Pids of tmux processes whose argv contains `socket`.
fn processes_naming(socket: &Path) -> Vec<i32> {
    let needle = socket.as_os_str().as_encoded_bytes();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            comm.starts_with("tmux") && argv.split(|b| *b == 0).any(|a| a == needle)
        })
        .collect()
}
