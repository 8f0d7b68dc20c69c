//! Tailing a file the provider reads line by line: an agent's transcript
//! (capability `transcript`) or a bridge's protocol log. The path is resolved
//! from a pattern (`~`, `*` within a segment) and must lie under the
//! session's directory or an operator-allowed root. The read offset is saved
//! in the session directory so a restarted daemon continues where it was.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Agent;

/// Longest line accepted; longer ones are skipped with a warning.
const MAX_LINE: usize = 8 << 20;

/// How often a bound, watched file is read without a wake-up.
const FALLBACK_POLL: Duration = Duration::from_secs(2);

/// How often the pattern is searched while no file is bound.
const SEARCH_POLL: Duration = Duration::from_millis(250);

/// `*` matches any run of characters within one name. Written by hand rather
/// than with the `glob` crate on purpose: patterns embed users' paths, which
/// may hold `?`, `[` or `{`, and here only `*` may be syntax.
fn wildcard(pat: &str, name: &str) -> bool {
    let parts: Vec<&str> = pat.split('*').collect();
    if parts.len() == 1 {
        return pat == name;
    }
    let mut rest = name;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(p) else { return false };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            match rest.find(p) {
                Some(at) => rest = &rest[at + p.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Files matching `pattern` (absolute, `*` within segments).
pub fn glob(pattern: &str) -> Vec<PathBuf> {
    matches(pattern).into_iter().filter(|p| p.is_file()).collect()
}

/// Folders a new match of `pattern` would appear in: those matching its
/// folder part, else the deepest existing folder on its literal prefix (a
/// file created further down shows there as a new folder).
fn folders_to_watch(pattern: &str) -> Vec<PathBuf> {
    let parent = Path::new(pattern).parent().unwrap_or(Path::new("/"));
    let found: Vec<PathBuf> = matches(&parent.to_string_lossy())
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    if !found.is_empty() {
        return found;
    }
    let literal: PathBuf = parent
        .components()
        .take_while(|c| !c.as_os_str().to_string_lossy().contains('*'))
        .collect();
    literal
        .ancestors()
        .find(|a| a.is_dir())
        .map(Path::to_path_buf)
        .into_iter()
        .collect()
}

/// Paths (files or folders) matching `pattern`.
fn matches(pattern: &str) -> Vec<PathBuf> {
    let mut current = vec![PathBuf::from("/")];
    for seg in pattern.split('/').filter(|s| !s.is_empty()) {
        let mut next = Vec::new();
        for dir in &current {
            if seg.contains('*') {
                if let Ok(entries) = std::fs::read_dir(dir) {
                    for e in entries.flatten() {
                        if e.file_name().to_str().is_some_and(|n| wildcard(seg, n)) {
                            next.push(e.path());
                        }
                    }
                }
            } else {
                let p = dir.join(seg);
                if p.exists() {
                    next.push(p);
                }
            }
        }
        current = next;
    }
    current
}

/// Whether `path` lies under one of `roots` (after resolving symlinks).
pub fn allowed(path: &Path, roots: &[PathBuf]) -> bool {
    let Ok(real) = path.canonicalize() else { return false };
    roots
        .iter()
        .filter_map(|r| r.canonicalize().ok())
        .any(|r| real.starts_with(r))
}

/// How far a launch read, saved for a restarted daemon.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct TailState {
    /// The pattern the path was found by: a state saved for another
    /// pattern (an earlier launch's uuid) is not this launch's.
    #[serde(default)]
    pattern: String,
    path: Option<PathBuf>,
    offset: u64,
}

/// Where a tail starts reading.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TailStart {
    /// The launch that was running when the daemon stopped: where the
    /// saved state says.
    Resume,
    /// A relaunch: the saved position is forgotten; a wildcard pattern
    /// never goes back to a file an earlier launch read, and a fixed path
    /// (one file for every launch, e.g. a bridge's `protocol.jsonl`) is
    /// read from this offset, its length when the new agent started:
    /// what it held is the earlier launch's.
    Relaunch {
        /// Length of a fixed path at the relaunch.
        fixed_from: u64,
    },
}

impl TailStart {
    /// The start of a relaunch of `pattern`: a fixed path's current length.
    pub fn relaunch(pattern: &str) -> TailStart {
        let fixed_from = if pattern.contains('*') {
            0
        } else {
            std::fs::metadata(crate::config::expand_home(pattern)).map_or(0, |m| m.len())
        };
        TailStart::Relaunch { fixed_from }
    }
}

impl Agent {
    /// Tail `pattern` and feed each line to the provider (`protocol` picks
    /// `feed-protocol` over `feed-transcript`) while launch `life` lasts,
    /// starting as `start` says.
    pub async fn tail(self: Arc<Self>, pattern: String, protocol: bool, life: u64, start: TailStart) {
        let fresh = start != TailStart::Resume;
        let kind = if protocol { "protocol" } else { "transcript" };
        let state_file = self.terminal.dir.join(format!("tail-{kind}.json"));
        let mut roots: Vec<PathBuf> = self
            .host
            .config
            .sessions
            .transcript_roots
            .iter()
            .map(|r| crate::config::expand_home(r))
            .collect();
        roots.push(self.terminal.dir.clone());
        let pattern = match pattern.strip_prefix("~/") {
            Some(rest) => crate::config::expand_home("~")
                .join(rest)
                .to_string_lossy()
                .into_owned(),
            None => pattern,
        };
        // A relaunch starts afresh: what the file holds is an earlier
        // launch's (whose tail may still be finishing a write). So is a
        // state saved for another pattern (states of older versions name
        // none).
        let mut state: TailState = if let TailStart::Relaunch { fixed_from } = start {
            if pattern.contains('*') {
                TailState::default()
            } else {
                TailState {
                    pattern: pattern.clone(),
                    path: Some(PathBuf::from(&pattern)).filter(|p| allowed(p, &roots)),
                    offset: fixed_from,
                }
            }
        } else {
            std::fs::read(&state_file)
                .ok()
                .and_then(|b| serde_json::from_slice::<TailState>(&b).ok())
                .filter(|s| s.pattern.is_empty() || s.pattern == pattern)
                .unwrap_or_default()
        };
        let started = if fresh {
            SystemTime::now()
        } else {
            SystemTime::UNIX_EPOCH + Duration::from_millis(self.row().created_at)
        };
        // A wildcard pattern binds a file created for this launch, never one
        // that was already there, last written before it started (another
        // session's rollout under the same HOME, e.g. Codex's, which is
        // created only at its session's first prompt).
        let preexisting: Vec<PathBuf> = if pattern.contains('*') && state.path.is_none() {
            glob(&pattern)
                .into_iter()
                .filter(|p| {
                    std::fs::metadata(p)
                        .and_then(|m| m.modified())
                        .is_ok_and(|m| m < started)
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut stop = self.stop.subscribe();
        let mut lives = self.life.subscribe();
        let mut partial: Vec<u8> = Vec::new();
        let mut warned = false;
        // Woken by file changes in the folders watched; a slow poll stays
        // as the fallback for filesystems that send no events.
        let wake = Arc::new(tokio::sync::Notify::new());
        let mut watched: (Vec<PathBuf>, Vec<crate::watch::DirWatch>) = Default::default();
        loop {
            if *stop.borrow() || *lives.borrow_and_update() != life {
                // Remember how far this launch read, for the next one.
                if let Some(path) = state.path.take() {
                    let reached = state.offset - partial.len() as u64;
                    self.earlier_transcripts
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((path, reached));
                }
                return;
            }
            if state.path.is_none() {
                // The newest matching file written since the agent started.
                let earlier = self
                    .earlier_transcripts
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                let fixed = !pattern.contains('*');
                let found = glob(&pattern)
                    .into_iter()
                    .filter(|p| fixed || !earlier.iter().any(|(e, _)| e == p))
                    .filter(|p| !preexisting.contains(p))
                    .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
                    .filter(|(m, _)| *m + Duration::from_secs(5) >= started)
                    .max();
                if let Some((_, path)) = found {
                    if allowed(&path, &roots) {
                        tracing::info!(session = %self.name, path = %path.display(), kind, "tailing");
                        let offset = earlier.iter().rev().find(|(e, _)| *e == path).map_or(0, |(_, o)| *o);
                        state = TailState {
                            pattern: pattern.clone(),
                            path: Some(path),
                            offset,
                        };
                    } else if !warned {
                        warned = true;
                        tracing::warn!(session = %self.name, path = %path.display(), "transcript is outside the allowed roots (sessions.transcript_roots); not reading it");
                    }
                }
            }
            if let Some(path) = state.path.clone() {
                match read_from(&path, state.offset) {
                    Ok(bytes) if !bytes.is_empty() => {
                        state.offset += bytes.len() as u64;
                        partial.extend_from_slice(&bytes);
                        while let Some(i) = partial.iter().position(|&b| b == b'\n') {
                            let line: Vec<u8> = partial.drain(..=i).collect();
                            let text = String::from_utf8_lossy(&line);
                            let text = text.trim_end_matches(['\n', '\r']);
                            if !text.is_empty() {
                                self.feed_line(protocol, text, life).await;
                            }
                        }
                        if partial.len() > MAX_LINE {
                            tracing::warn!(session = %self.name, bytes = partial.len(), "skipping an over-long {kind} line");
                            partial.clear();
                        }
                        let keep = state.offset - partial.len() as u64;
                        let saved = TailState {
                            pattern: pattern.clone(),
                            path: state.path.clone(),
                            offset: keep,
                        };
                        // A tail whose launch ended leaves the file to the
                        // next launch's.
                        if *lives.borrow() == life {
                            let bytes = serde_json::to_vec(&saved).unwrap_or_default();
                            if let Err(e) = crate::util::write_private(&state_file, &bytes) {
                                tracing::warn!(session = %self.name, error = %e, "saving the {kind} tail state");
                            }
                        }
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(session = %self.name, error = %e, "reading {kind}"),
                }
            }
            let folders = match &state.path {
                Some(p) => p.parent().map(Path::to_path_buf).into_iter().collect(),
                None => folders_to_watch(&pattern),
            };
            if folders != watched.0 {
                let watches = folders
                    .iter()
                    .filter_map(|d| crate::watch::watch(d, wake.clone()))
                    .collect();
                watched = (folders, watches);
            }
            // Bound and watched: events carry it. Still looking: a new
            // folder on the way down may not be watched yet.
            let poll = if state.path.is_some() && !watched.1.is_empty() {
                FALLBACK_POLL
            } else {
                SEARCH_POLL
            };
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
                _ = stop.changed() => {}
                _ = lives.changed() => {}
            }
        }
    }
}

fn read_from(path: &Path, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len <= offset {
        return Ok(Vec::new());
    }
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity((len - offset).min(1 << 20) as usize);
    f.take(1 << 20).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_glob() {
        assert!(wildcard("rollout-*.jsonl", "rollout-2026-01-01T00-abc.jsonl"));
        assert!(!wildcard("rollout-*.jsonl", "rollout-x.json"));
        assert!(wildcard("*", "anything"));
        assert!(wildcard("a*b*c", "aXXbYYc"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("2026/11/22")).unwrap();
        std::fs::write(dir.path().join("2026/11/22/rollout-1.jsonl"), b"").unwrap();
        let found = glob(&format!("{}/*/*/*/rollout-*.jsonl", dir.path().display()));
        assert_eq!(found.len(), 1);
        assert!(allowed(&found[0], &[dir.path().to_path_buf()]));
        assert!(!allowed(&found[0], &[PathBuf::from("/nonexistent")]));
        let day = dir.path().join("2026/11/22");
        assert_eq!(
            folders_to_watch(&format!("{}/*/*/*/rollout-*.jsonl", dir.path().display())),
            vec![day]
        );
        // Nothing of the folder part exists yet: its deepest existing prefix.
        let later = format!("{}/projects/slug/u.jsonl", dir.path().display());
        assert_eq!(folders_to_watch(&later), vec![dir.path().to_path_buf()]);
    }
}
