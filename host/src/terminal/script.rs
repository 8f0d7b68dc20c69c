//! The script a session's pane runs: the agent's command under a wrapper
//! that prints a nonce'd exit marker with the exit status and keeps the pty
//! open one more second (tmux 3.3a drops the last kilobytes of output of a
//! pane whose program exits at once), and the scanner that finds the marker.

use std::collections::BTreeMap;
use std::path::Path;

use crate::tmux::shell_quote;

/// The OSC number of the exit marker (ignored by terminals).
pub const EXIT_OSC: &str = "5170";

/// The marker prefix a pane prints when the agent exits: the bytes
/// `ESC ] 5170 ; wasmux-exit ; <nonce> ;` then the status and `BEL`.
pub fn exit_marker_prefix(nonce: &str) -> Vec<u8> {
    format!("\x1b]{EXIT_OSC};wasmux-exit;{nonce};").into_bytes()
}

/// Write the pane's scripts: `<dir>/agent.sh` execs `argv` with `env`;
/// `<dir>/launch.sh` (what the pane runs) runs agent.sh, runs it again when
/// `<dir>/restart` exists (a reset), and otherwise prints the exit marker.
/// Returns the path of launch.sh.
pub fn write_script(
    dir: &Path,
    cwd: &str,
    argv: &[String],
    env: &BTreeMap<String, String>,
    nonce: &str,
) -> std::io::Result<std::path::PathBuf> {
    write_agent_script(dir, argv, env)?;
    let d = shell_quote(&dir.to_string_lossy());
    let mut s = String::from(
        "#!/bin/sh\n# Written by wasmux: runs the agent, restarts it on reset, reports its exit status.\n",
    );
    s.push_str("trap : INT QUIT\n");
    s.push_str(&format!("cd {} || exit 1\n", shell_quote(cwd)));
    s.push_str(&format!(
        "while :; do\n  /bin/sh {d}/agent.sh\n  rc=$?\n  if [ -e {d}/restart ]; then rm -f {d}/restart; continue; fi\n  break\ndone\n"
    ));
    s.push_str(&format!(
        "printf '\\033]{EXIT_OSC};wasmux-exit;%s;%d\\007' {} \"$rc\"\n",
        shell_quote(nonce)
    ));
    s.push_str("sleep 1\n");
    let path = dir.join("launch.sh");
    crate::util::write_private(&path, s.as_bytes())?;
    Ok(path)
}

/// Write `<dir>/agent.sh`: export `env`, exec `argv`.
pub fn write_agent_script(dir: &Path, argv: &[String], env: &BTreeMap<String, String>) -> std::io::Result<()> {
    let mut s = String::from("#!/bin/sh\n");
    for (k, v) in env {
        s.push_str(&format!("export {k}={}\n", shell_quote(v)));
    }
    let cmd: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
    s.push_str("exec ");
    s.push_str(&cmd.join(" "));
    s.push('\n');
    crate::util::write_private(&dir.join("agent.sh"), s.as_bytes())
}

/// Environment variable names: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn valid_env_name(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Finds the exit marker in output that may split it across chunks.
pub struct ExitScanner {
    prefix: Vec<u8>,
    tail: Vec<u8>,
}

impl ExitScanner {
    /// A scanner for `nonce`.
    pub fn new(nonce: &str) -> ExitScanner {
        ExitScanner {
            prefix: exit_marker_prefix(nonce),
            tail: Vec::new(),
        }
    }

    /// Scan the next bytes; the exit status if the marker completed.
    pub fn scan(&mut self, data: &[u8]) -> Option<i32> {
        let mut hay = std::mem::take(&mut self.tail);
        hay.extend_from_slice(data);
        let mut found = None;
        let mut consumed = 0;
        for i in memchr::memmem::find_iter(&hay, &self.prefix) {
            let rest = &hay[i + self.prefix.len()..];
            match rest.iter().position(|&b| b == 0x07) {
                Some(end) if end <= 12 => {
                    found = std::str::from_utf8(&rest[..end]).ok().and_then(|s| s.parse().ok());
                    consumed = i + self.prefix.len() + end + 1;
                }
                Some(_) => {}
                None if rest.len() <= 12 => {
                    // Incomplete: keep from the marker start.
                    self.tail = hay[i..].to_vec();
                    return found;
                }
                None => {}
            }
        }
        let keep = self.prefix.len().min(hay.len().saturating_sub(consumed));
        self.tail = hay[hay.len() - keep..].to_vec();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_found_across_splits() {
        let whole = b"out\x1b]5170;wasmux-exit;abc;42\x07more";
        for i in 0..whole.len() {
            let mut s = ExitScanner::new("abc");
            let a = s.scan(&whole[..i]);
            let b = s.scan(&whole[i..]);
            assert_eq!(a.or(b), Some(42), "split at {i}");
        }
        let mut s = ExitScanner::new("abc");
        assert_eq!(s.scan(b"\x1b]5170;wasmux-exit;zzz;1\x07"), None, "other nonce");
    }

    #[test]
    fn env_names() {
        assert!(valid_env_name("FOO_1"));
        assert!(!valid_env_name("1X"));
        assert!(!valid_env_name("A-B"));
        assert!(!valid_env_name(""));
    }
}
