//! Ctrl-C handling for the demo agent: a SIGINT handler that only sets a flag,
//! and a standard-input reader that lets a blocked read be interrupted by it.
//!
//! The handler is installed without `SA_RESTART`, so a `read(2)` blocked on
//! the terminal fails with `EINTR` when Ctrl-C is pressed; [`StdinFd`] passes
//! that up as [`std::io::ErrorKind::Interrupted`] and the agent's line reader
//! turns it into an interruption instead of retrying.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the SIGINT handler; cleared by whoever acts on it.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_signal: libc::c_int) {
    // Only async-signal-safe work here: one atomic store.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Install the SIGINT handler (no `SA_RESTART`, so blocking reads return
/// `EINTR`). Child processes get the default disposition back on `exec`.
pub fn install() -> io::Result<()> {
    // SAFETY: a zeroed `sigaction` is a valid value; we fill in the handler and
    // an empty mask, and the handler itself only touches an atomic.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = 0;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Unbuffered reader of file descriptor 0 that reports `EINTR` as
/// [`io::ErrorKind::Interrupted`] (std's own `Stdin` would hide it behind its
/// buffer and retry). Wrap it in a [`std::io::BufReader`].
#[derive(Debug, Default)]
pub struct StdinFd;

impl Read for StdinFd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is a valid writable region of `buf.len()` bytes.
        let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}
