//! From a provider's launch spec to what the terminal runs: placeholders
//! expanded, the bridge applied, the environment completed, and the
//! program checked — one typed [`ResolvedLaunch`], stored with the session.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::plugins::provider_instance::LaunchSpec;
use crate::session::SessionError;
use crate::store::SessionRow;

/// What placeholders in a launch spec stand for.
pub struct LaunchContext<'a> {
    /// The running wasmux binary.
    pub exe: &'a Path,
    /// Session name.
    pub session: &'a str,
    /// The session's directory in the state dir.
    pub session_dir: &'a Path,
    /// The session UUID.
    pub uuid: &'a str,
    /// Working directory.
    pub cwd: &'a str,
}

/// Claude Code's project directory name for `cwd`: every character that is
/// not a letter or digit becomes `-` (`/home/u/my.app` → `-home-u-my-app`).
pub fn cwd_slug(cwd: &str) -> String {
    cwd.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

impl LaunchContext<'_> {
    /// Replace `{wasmux}`, `{session}`, `{session-dir}`, `{uuid}`, `{cwd}` and
    /// `{cwd-slug}` in `s`.
    pub fn expand(&self, s: &str) -> String {
        s.replace("{wasmux}", &self.exe.to_string_lossy())
            .replace("{session-dir}", &self.session_dir.to_string_lossy())
            .replace("{session}", self.session)
            .replace("{uuid}", self.uuid)
            .replace("{cwd-slug}", &cwd_slug(self.cwd))
            .replace("{cwd}", self.cwd)
    }
}

/// A launch ready to run: what the pane executes and how the agent half
/// reads the agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedLaunch {
    /// argv run in the pane.
    pub command: Vec<String>,
    /// The agent's whole environment (provider's, session's, `WASMUX_SESSION`, `PATH`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Transcript path pattern (expanded), if any.
    pub transcript: Option<String>,
    /// Whether the agent runs under `wasmux bridge`.
    #[serde(default)]
    pub bridge: bool,
    /// How often the screen is captured for the provider (ms; 0: never).
    #[serde(default)]
    pub screen_poll_ms: u32,
}

impl ResolvedLaunch {
    /// Expand `spec` for `row` (bridge sessions run `{wasmux} bridge --dir
    /// <session-dir> -- <command>`) and complete the environment.
    pub fn resolve(spec: &LaunchSpec, ctx: &LaunchContext<'_>, row: &SessionRow) -> ResolvedLaunch {
        let mut command: Vec<String> = spec.command.iter().map(|a| ctx.expand(a)).collect();
        if spec.bridge {
            let mut c = vec![
                ctx.exe.to_string_lossy().into_owned(),
                "bridge".into(),
                "--dir".into(),
                ctx.session_dir.to_string_lossy().into_owned(),
                "--".into(),
            ];
            c.append(&mut command);
            command = c;
        }
        let mut env: BTreeMap<String, String> = spec.env.iter().map(|(k, v)| (k.clone(), ctx.expand(v))).collect();
        env.extend(row.env.clone());
        env.insert("WASMUX_SESSION".into(), row.name.clone());
        // The pane would otherwise get the tmux server's PATH: whatever the
        // first daemon had.
        if !env.contains_key("PATH")
            && let Ok(path) = std::env::var("PATH")
        {
            env.insert("PATH".into(), path);
        }
        ResolvedLaunch {
            command,
            env,
            transcript: spec.transcript.as_ref().map(|t| ctx.expand(&t.pattern)),
            bridge: spec.bridge,
            screen_poll_ms: spec.screen_poll_ms.min(60_000),
        }
    }

    /// The agent's own argv (after `wasmux bridge … --` for bridged agents).
    pub fn agent_argv(&self) -> &[String] {
        if self.bridge {
            let after = self.command.iter().position(|a| a == "--").map_or(0, |i| i + 1);
            &self.command[after..]
        } else {
            &self.command
        }
    }

    /// Fail with [`SessionError::CommandNotFound`] unless the agent's program
    /// is an executable file, found on the launch's `PATH` when it names no
    /// directory.
    pub fn check_program(&self) -> Result<(), SessionError> {
        let Some(program) = self.agent_argv().first() else {
            return Err(SessionError::Invalid("the agent command is empty".into()));
        };
        let path = self.env.get("PATH").cloned().unwrap_or_default();
        if find_program(program, &path).is_some() {
            return Ok(());
        }
        Err(SessionError::CommandNotFound {
            program: program.clone(),
            path,
        })
    }

    /// As stored with the session.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// From the stored JSON (rows written before a launch was stored give
    /// the default: no transcript, no bridge, no polling).
    pub fn from_json(s: &str) -> ResolvedLaunch {
        serde_json::from_str(s).unwrap_or_default()
    }
}

/// The executable file `program` names: itself when it contains `/`, else
/// the first match in the `:`-separated `path`.
pub fn find_program(program: &str, path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(program))
        .find(|p| executable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_on_the_path_or_by_name() {
        assert!(find_program("sh", "/nonexistent:/bin:/usr/bin").is_some());
        assert!(find_program("sh", "/nonexistent").is_none());
        assert!(find_program("/bin/sh", "").is_some());
        assert!(find_program("/etc/passwd", "").is_none(), "not executable");
    }

    #[test]
    fn stored_json_round_trips_and_old_rows_load() {
        let l = ResolvedLaunch {
            command: vec!["claude".into()],
            env: BTreeMap::from([("A".into(), "b".into())]),
            transcript: Some("/x/*.jsonl".into()),
            bridge: false,
            screen_poll_ms: 250,
        };
        assert_eq!(ResolvedLaunch::from_json(&l.to_json()), l);
        let old = ResolvedLaunch::from_json(r#"{"command":["bash"],"transcript":null,"bridge":true,"screenPollMs":0}"#);
        assert_eq!((old.command, old.bridge), (vec!["bash".to_string()], true));
        assert_eq!(ResolvedLaunch::from_json("{}"), ResolvedLaunch::default());
    }

    #[test]
    fn bridged_agents_are_checked_by_their_own_program() {
        let l = ResolvedLaunch {
            command: vec![
                "/x/wasmux".into(),
                "bridge".into(),
                "--dir".into(),
                "/d".into(),
                "--".into(),
                "pi".into(),
            ],
            bridge: true,
            ..Default::default()
        };
        assert_eq!(l.agent_argv(), ["pi".to_string()]);
    }
}
