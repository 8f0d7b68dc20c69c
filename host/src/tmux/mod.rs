//! The tmux layer: wasmux's own tmux server (socket `<state>/tmux.sock`,
//! never the user's default server), one-shot commands, per-session
//! control-mode clients, and the pipe sink that records raw pane output.

pub mod client;
pub mod control;
#[cfg(test)]
mod fuzz_tests;
pub mod input;
pub mod sink;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::Command;

/// Errors of the tmux layer.
#[derive(Debug, thiserror::Error)]
pub enum TmuxError {
    /// tmux could not be started.
    #[error("cannot run tmux ({0}); is tmux installed and on PATH?")]
    Spawn(std::io::Error),
    /// A tmux command failed.
    #[error("tmux {command}: {message}")]
    Command {
        /// The command.
        command: String,
        /// tmux's message.
        message: String,
    },
    /// The control client is gone.
    #[error("the tmux control client for this session has exited")]
    Gone,
    /// tmux did not answer in time.
    #[error("tmux did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// Bad input to a tmux operation.
    #[error("{0}")]
    Invalid(String),
    /// I/O failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Server-wide settings written to `<state>/tmux.conf` (the user's own
/// `~/.tmux.conf` is not read, so their settings cannot break parsing).
const TMUX_CONF: &str = "\
set -g history-limit 20000
set -s escape-time 0
set -g default-terminal tmux-256color
set -g status-left-length 40
set -g status-right '#[fg=colour8]wasmux'
set -g focus-events on
set -g allow-rename off
set -g remain-on-exit off
";

/// wasmux's tmux server.
#[derive(Debug, Clone)]
pub struct Tmux {
    socket: PathBuf,
    config: PathBuf,
}

impl Tmux {
    /// The server for `state_dir` (writes its config file).
    pub fn new(state_dir: &Path) -> std::io::Result<Tmux> {
        let config = state_dir.join("tmux.conf");
        std::fs::write(&config, TMUX_CONF)?;
        Ok(Tmux {
            socket: state_dir.join("tmux.sock"),
            config,
        })
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `tmux -S <socket> -f <config> -u` ready for arguments.
    pub fn command(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket).arg("-f").arg(&self.config).arg("-u");
        c.stdin(Stdio::null()).kill_on_drop(true);
        c
    }

    /// Run a one-shot tmux command; its stdout on success.
    pub async fn run(&self, args: &[&str]) -> Result<String, TmuxError> {
        let out = self
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output();
        // kill_on_drop: a server that never answers does not leave the
        // client behind.
        let out = tokio::time::timeout(client::REPLY_TIMEOUT, out)
            .await
            .map_err(|_| TmuxError::Timeout(client::REPLY_TIMEOUT))?
            .map_err(TmuxError::Spawn)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(TmuxError::Command {
                command: args.first().copied().unwrap_or("").to_string(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    /// Names of the sessions on this server (empty if no server runs, or
    /// it was exiting: the last session just went).
    pub async fn list_sessions(&self) -> Result<Vec<String>, TmuxError> {
        match self.run(&["list-sessions", "-F", "#{session_name}"]).await {
            Ok(out) => Ok(out.lines().map(str::to_string).collect()),
            Err(TmuxError::Command { message, .. }) if server_absent(&message) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Kill session `name` (validated); Ok if it did not exist.
    pub async fn kill_session(&self, name: &str) -> Result<(), TmuxError> {
        let target = format!("={name}");
        match self.run(&["kill-session", "-t", &target]).await {
            Ok(_) => Ok(()),
            Err(TmuxError::Command { message, .. }) if message.contains("can't find") || server_absent(&message) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The command a person runs to attach to `name`.
    pub fn attach_command(&self, name: &str) -> String {
        format!(
            "tmux -S {} attach -t ={name}",
            shell_quote(&self.socket.to_string_lossy())
        )
    }
}

/// Quote `s` for `/bin/sh` (single quotes, `'` as `'\''`).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-=:,+@%".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Quote a whole argument for tmux's command parser: double quotes with
/// `\`, `"` and `$` escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '\\' | '"' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Session names: `[A-Za-z0-9_-]{1,64}`. They can't traverse paths or act
/// as tmux targets (`a:1.2`), and are used as directory names.
pub fn validate_session_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("session name is empty".into());
    }
    if name.len() > 64 {
        return Err(format!("session name is {} characters; the limit is 64", name.len()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "session name {name:?} contains {c:?}; use only letters, digits, `_` and `-` (names are tmux targets and directory names)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_session_name("agent_1-b").is_ok());
        for bad in ["", "a:1.2", "../x", "a b", "a/b", "x;y", "é", &"a".repeat(65)] {
            assert!(validate_session_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tmux_quoting() {
        assert_eq!(quote(r#"exec a "b" $HOME \x"#), r#""exec a \"b\" \$HOME \\x""#);
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/a/b"), "/a/b");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}

/// Whether tmux's `message` says no server answers on the socket: none
/// runs, the socket is stale or missing, or the server exited while the
/// command connected (its last session had just been killed).
fn server_absent(message: &str) -> bool {
    [
        "no server running",
        "error connecting",
        "No such file",
        "server exited unexpectedly",
    ]
    .iter()
    .any(|m| message.contains(m))
}

#[cfg(test)]
mod absent_tests {
    #[test]
    fn a_server_exiting_under_the_command_counts_as_absent() {
        assert!(super::server_absent("server exited unexpectedly"));
        assert!(super::server_absent("no server running on /tmp/x"));
        assert!(super::server_absent("error connecting to /tmp/x (Connection refused)"));
        assert!(!super::server_absent("can't find session: =x"));
    }
}
