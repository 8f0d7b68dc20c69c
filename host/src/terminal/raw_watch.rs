//! Wake-ups when a pipe sink writes: one inotify instance and thread for
//! every session's raw directory, so the ingester reacts in microseconds
//! instead of polling.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::Notify;

struct Watcher {
    fd: OwnedFd,
    targets: Mutex<HashMap<i32, Arc<Notify>>>,
}

static WATCHER: OnceLock<Option<Arc<Watcher>>> = OnceLock::new();

fn watcher() -> Option<Arc<Watcher>> {
    WATCHER
        .get_or_init(|| {
            // SAFETY: plain syscall; the fd is owned below.
            let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
            if fd < 0 {
                tracing::warn!("inotify unavailable; raw output is polled");
                return None;
            }
            // SAFETY: fd is a fresh, valid descriptor we own.
            let w = Arc::new(Watcher {
                fd: unsafe { OwnedFd::from_raw_fd(fd) },
                targets: Mutex::new(HashMap::new()),
            });
            let reader = w.clone();
            std::thread::Builder::new()
                .name("raw-watch".into())
                .spawn(move || reader.run())
                .ok()?;
            Some(w)
        })
        .clone()
}

impl Watcher {
    fn run(&self) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: reading into our buffer from our fd.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            }
            let mut off = 0usize;
            let header = std::mem::size_of::<libc::inotify_event>();
            while off + header <= n as usize {
                // SAFETY: the kernel wrote whole events; read the header unaligned.
                let ev: libc::inotify_event = unsafe { std::ptr::read_unaligned(buf.as_ptr().add(off).cast()) };
                tracing::trace!(wd = ev.wd, mask = ev.mask, "raw dir event");
                if let Some(n) = self.targets.lock().unwrap_or_else(|p| p.into_inner()).get(&ev.wd) {
                    n.notify_one();
                }
                off += header + ev.len as usize;
            }
        }
    }
}

/// A registration: wakes `notify` when files in the directory change;
/// removed on drop.
pub struct RawWatch {
    wd: i32,
    watcher: Arc<Watcher>,
}

/// Watch `dir` (created/modified files); None if inotify is unavailable.
pub fn watch(dir: &Path, notify: Arc<Notify>) -> Option<RawWatch> {
    let w = watcher()?;
    let path = CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: valid fd and NUL-terminated path.
    let wd = unsafe {
        libc::inotify_add_watch(
            w.fd.as_raw_fd(),
            path.as_ptr(),
            libc::IN_MODIFY | libc::IN_CREATE | libc::IN_CLOSE_WRITE,
        )
    };
    if wd < 0 {
        tracing::warn!(dir = %dir.display(), error = %std::io::Error::last_os_error(), "cannot watch raw output dir; polling");
        return None;
    }
    tracing::trace!(dir = %dir.display(), wd, "watching raw output");
    w.targets.lock().unwrap_or_else(|p| p.into_inner()).insert(wd, notify);
    Some(RawWatch { wd, watcher: w })
}

impl Drop for RawWatch {
    fn drop(&mut self) {
        self.watcher
            .targets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.wd);
        // SAFETY: removing our own watch.
        unsafe { libc::inotify_rm_watch(self.watcher.fd.as_raw_fd(), self.wd) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_on_write() {
        let dir = tempfile::tempdir().unwrap();
        let notify = Arc::new(Notify::new());
        let _w = watch(dir.path(), notify.clone()).expect("inotify");
        let mut f = std::fs::File::create(dir.path().join("a.raw")).unwrap();
        tokio::time::timeout(Duration::from_secs(2), notify.notified())
            .await
            .expect("create event");
        f.write_all(b"x").unwrap();
        tokio::time::timeout(Duration::from_secs(2), notify.notified())
            .await
            .expect("modify event");
    }
}
