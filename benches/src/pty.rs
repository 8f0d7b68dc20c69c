//! Baseline (c), the ceiling: the burst script on a bare pty, no tmux, the
//! master read directly in 64 KiB reads.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cpu;
use crate::measure::Burst;
use crate::workload::{BurstScanner, Workload};

/// Run `sh burst.sh data.txt` on a fresh 120×40 pty and time BEGIN→END read
/// from the master. Blocking; call from a blocking thread.
pub fn burst(w: &Workload, limit: Duration) -> Result<Burst> {
    let (master, slave) = open_pty()?;
    let before = cpu::Snapshot::take();
    let mut child = {
        let out = slave.try_clone()?;
        let err = slave.try_clone()?;
        let mut cmd = Command::new("sh");
        cmd.arg(w.script())
            .arg(w.data())
            .current_dir(w.dir())
            .stdin(Stdio::from(slave))
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        // SAFETY: setsid is async-signal-safe; the child gets its own session
        // so it is not in our terminal's process group.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        cmd.spawn().context("spawning sh on the pty")?
        // `cmd` (and with it our copies of the slave) drops here, so the
        // master reads EIO once the child exits.
    };
    let mut master = File::from(master);
    let mut buf = vec![0u8; 64 * 1024];
    let mut scan = BurstScanner::new();
    let stop = Instant::now() + limit;
    let result = loop {
        let left = stop.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let which = if scan.begun() { "END" } else { "BEGIN" };
            break Err(anyhow::anyhow!(
                "pty: the {which} marker did not arrive within {}s",
                limit.as_secs()
            ));
        }
        let mut pfd = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(1000) as i32) };
        if r == 0 {
            continue;
        }
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            break Err(e.into());
        }
        match master.read(&mut buf) {
            Ok(0) => break Err(anyhow::anyhow!("pty closed before the END marker")),
            Ok(n) => {
                if scan.feed(&buf[..n], Instant::now()) {
                    break Ok(());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(anyhow::anyhow!("pty closed before the END marker ({e})")),
        }
    };
    let after = cpu::Snapshot::take();
    if result.is_err() {
        let _ = child.kill();
    }
    // Drain so `stty sane` cannot block on a full pty, then reap.
    let drain = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while matches!(master.read(&mut buf), Ok(n) if n > 0) {}
    });
    let _ = child.wait();
    let _ = drain.join();
    result?;
    let (Some(b), Some(e)) = (scan.t_begin, scan.t_end) else {
        bail!("pty: markers missing")
    };
    Ok(Burst {
        elapsed: e - b,
        body_bytes: scan.body_bytes,
        cpu: cpu::delta(&before, &after, &[std::process::id() as i32]),
    })
}

/// `openpty` with a 120×40 window.
fn open_pty() -> Result<(OwnedFd, OwnedFd)> {
    let mut master = -1;
    let mut slave = -1;
    let ws = libc::winsize {
        ws_row: 40,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: out-pointers to two ints and a valid winsize; no name buffer.
    let r = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &ws) };
    if r != 0 {
        bail!("openpty: {}", std::io::Error::last_os_error());
    }
    for fd in [master, slave] {
        // SAFETY: fd is valid; FD_CLOEXEC keeps the originals out of the child
        // (it gets the slave as dup2'd stdio only).
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    // SAFETY: openpty succeeded, so both are fresh fds we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) })
}
