//! File-change wake-ups for the whole daemon: one `notify` watcher (one
//! inotify instance on Linux) shared by every directory that wants them —
//! sessions' raw output folders, the plugins folder, transcript folders.
//! A [`DirWatch`] wakes its [`Notify`] when a file in its directory is
//! created, written or removed, and unregisters on drop. Callers keep a
//! slow poll as a fallback, so a missing watcher costs latency, not data.

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::Notify;

type Targets = Arc<Mutex<HashMap<PathBuf, Vec<(u64, Arc<Notify>)>>>>;

struct Shared {
    watcher: Mutex<RecommendedWatcher>,
    targets: Targets,
    next_id: AtomicU64,
}

static SHARED: OnceLock<Option<Shared>> = OnceLock::new();

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn shared() -> Option<&'static Shared> {
    SHARED
        .get_or_init(|| {
            let targets: Targets = Arc::default();
            let wake = targets.clone();
            let handler = move |res: notify::Result<notify::Event>| {
                let Ok(ev) = res else { return };
                if matches!(ev.kind, EventKind::Access(_)) {
                    return;
                }
                let targets = lock(&wake);
                for path in &ev.paths {
                    let dirs = [Some(path.as_path()), path.parent()];
                    for dir in dirs.into_iter().flatten() {
                        for (_, n) in targets.get(dir).into_iter().flatten() {
                            n.notify_one();
                        }
                    }
                }
            };
            match notify::recommended_watcher(handler) {
                Ok(w) => Some(Shared {
                    watcher: Mutex::new(w),
                    targets,
                    next_id: AtomicU64::new(1),
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "file watching unavailable; folders are polled");
                    None
                }
            }
        })
        .as_ref()
}

/// A registration for one directory; unregistered on drop.
pub struct DirWatch {
    dir: PathBuf,
    id: u64,
}

/// Wake `notify` whenever a file in `dir` changes; `None` (with a warning)
/// if the directory cannot be watched — the caller's poll then carries on.
///
/// Lock order: the watcher, then (briefly) the targets. The event handler
/// takes only the targets, and `notify` waits for its event thread inside
/// `watch`/`unwatch`, so the targets are never held across those calls.
pub fn watch(dir: &Path, notify: Arc<Notify>) -> Option<DirWatch> {
    let s = shared()?;
    let id = s.next_id.fetch_add(1, Ordering::Relaxed);
    let mut watcher = lock(&s.watcher);
    let first = {
        let mut targets = lock(&s.targets);
        let entry = targets.entry(dir.to_path_buf()).or_default();
        entry.push((id, notify));
        entry.len() == 1
    };
    if first && let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot watch folder; polling it");
        lock(&s.targets).remove(dir);
        return None;
    }
    Some(DirWatch {
        dir: dir.to_path_buf(),
        id,
    })
}

impl Drop for DirWatch {
    fn drop(&mut self) {
        let Some(s) = shared() else { return };
        let mut watcher = lock(&s.watcher);
        let last = {
            let mut targets = lock(&s.targets);
            match targets.get_mut(&self.dir) {
                Some(list) => {
                    list.retain(|(id, _)| *id != self.id);
                    let empty = list.is_empty();
                    if empty {
                        targets.remove(&self.dir);
                    }
                    empty
                }
                None => false,
            }
        };
        if last {
            let _ = watcher.unwatch(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    async fn woken(n: &Notify) {
        tokio::time::timeout(Duration::from_secs(10), n.notified())
            .await
            .expect("a wake-up");
    }

    /// Registering while events flow must not deadlock with the event
    /// thread (it did when the targets were held across `watch`).
    #[test]
    fn registering_while_events_flow_does_not_deadlock() {
        let dir = tempfile::tempdir().unwrap();
        let busy = Arc::new(Notify::new());
        let _w = watch(dir.path(), busy).expect("watcher");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (path, stop) = (dir.path().join("busy"), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::fs::write(&path, b"x").unwrap();
                }
            })
        };
        let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let registrar = {
            let (root, done) = (dir.path().to_path_buf(), done.clone());
            std::thread::spawn(move || {
                for i in 0..200 {
                    let sub = root.join(format!("d{i}"));
                    std::fs::create_dir(&sub).unwrap();
                    drop(watch(&sub, Arc::new(Notify::new())));
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        // Progress, not speed: every registration completes.
        registrar.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        assert_eq!(done.load(Ordering::Relaxed), 200);
    }

    #[tokio::test]
    async fn wakes_on_create_write_and_remove_and_stops_after_drop() {
        let dir = tempfile::tempdir().unwrap();
        let a = Arc::new(Notify::new());
        let b = Arc::new(Notify::new());
        let wa = watch(dir.path(), a.clone()).expect("watcher");
        let _wb = watch(dir.path(), b.clone()).expect("a second watch of the same folder");
        let path = dir.path().join("x.raw");
        let mut f = std::fs::File::create(&path).unwrap();
        woken(&a).await;
        woken(&b).await;
        f.write_all(b"x").unwrap();
        woken(&a).await;
        drop(f);
        std::fs::remove_file(&path).unwrap();
        woken(&b).await;
        drop(wa);
        // The other registration still works after one is dropped.
        std::fs::write(dir.path().join("y"), b"y").unwrap();
        woken(&b).await;
    }
}
