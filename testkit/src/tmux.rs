//! Stopping a test's own tmux server.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Stop the tmux server on `socket`: `kill-server` with a timeout (it can
/// hang on tmux 3.3a), then SIGKILL of the server pid.
pub fn kill_tmux_server(socket: &Path) {
    let pid = Command::new("tmux")
        .arg("-S")
        .arg(socket)
        .args(["display", "-p", "#{pid}"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<i32>().ok());
    if let Ok(mut child) = Command::new("tmux")
        .arg("-S")
        .arg(socket)
        .arg("kill-server")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    let still_tmux =
        |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with("tmux"));
    if let Some(pid) = pid.filter(|p| still_tmux(*p)) {
        // SAFETY: signalling the test's own tmux server.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}
