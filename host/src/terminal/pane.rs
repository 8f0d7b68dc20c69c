//! Starting, re-attaching, relaunching and stopping a session's pane. The
//! pane id comes from the command that created it (`new-session -P -F`),
//! never from a later untargeted query: tmux answers those for whichever
//! session it considers current, which is another session's pane about 3
//! times in 10 when sessions are created back to back. Every command names
//! its target.

use std::sync::Arc;
use std::time::Duration;

use super::raw::RawReader;
use super::script::{write_agent_script, write_script};
use super::{Pane, Terminal};
use crate::agent::ResolvedLaunch;
use crate::session::SessionError;
use crate::store::SessionStatus;
use crate::tmux::TmuxError;
use crate::tmux::client::ControlClient;

fn random_hex(n: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Whether `s` looks like a tmux pane id (`%` and digits).
fn is_pane_id(s: &str) -> bool {
    s.len() > 1 && s.starts_with('%') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

impl Terminal {
    /// Start the agent in a new tmux session named after the session,
    /// running `launch` under the pane wrapper with its pipe sink; the log
    /// (epoch, seq numbering, raw offsets) continues where it ended. An old
    /// pane of this session (a relaunch) is stopped first.
    pub async fn start(self: &Arc<Self>, launch: &ResolvedLaunch) -> Result<(), SessionError> {
        self.stop_supervisor().await;
        self.host.tmux.kill_session(&self.name).await?;
        std::fs::create_dir_all(self.dir.join("raw"))?;
        let nonce = random_hex(12);
        let row = self.row();
        let script = write_script(&self.dir, &row.cwd, &launch.command, &launch.env, &nonce)?;
        let config = &self.host.config;
        let mut args: Vec<String> = vec!["new-session".into()];
        if !config.stream.output_notifications {
            args.extend(["-f".into(), "no-output".into()]);
        }
        args.extend([
            "-P".into(),
            "-F".into(),
            "#{session_name} #{pane_id}".into(),
            "-s".into(),
            self.name.clone(),
            "-x".into(),
            row.cols.to_string(),
            "-y".into(),
            row.rows.to_string(),
            "-c".into(),
            row.cwd.clone(),
            "/bin/sh".into(),
            script.to_string_lossy().into_owned(),
            ";".into(),
            "pipe-pane".into(),
            "-O".into(),
            "-t".into(),
            format!("={}:", self.name),
            self.host.sink_command(&self.dir.join("raw")),
        ]);
        let counts = config.stream.output_notifications;
        let control = ControlClient::spawn(&self.host.tmux, &args, counts, counts)?;
        let created = control.startup_reply().await.map_err(|e| {
            SessionError::Tmux(TmuxError::Command {
                command: "new-session".into(),
                message: format!("tmux could not create the session: {e}"),
            })
        })?;
        let text = created.text();
        let id = match text.trim().split_once(' ') {
            Some((session, pane)) if session == self.name && is_pane_id(pane) => pane.to_string(),
            _ => {
                self.host.tmux.kill_session(&self.name).await.ok();
                return Err(SessionError::Tmux(TmuxError::Command {
                    command: "new-session".into(),
                    message: format!("tmux answered {text:?} for the new session `{}`", self.name),
                }));
            }
        };
        self.row.update(|r| {
            r.pane = Some(id.clone());
            r.nonce = nonce;
            r.status = SessionStatus::Running;
            r.exit_code = None;
            r.launch = launch.to_json();
        });
        self.host.store.session_relaunched(&self.row())?;
        self.exit.send_replace(None);
        let pos = self.log.meta().last_raw_end;
        self.run_supervisor(Pane { control, id }, RawReader::new(self.dir.join("raw"), pos))
            .await;
        Ok(())
    }

    /// After a daemon restart: re-attach to the agent's pane if its tmux
    /// session still runs (verifying the stored pane belongs to it); else
    /// take what the sink recorded while the daemon was down and report the
    /// exit.
    pub async fn restore(self: &Arc<Self>, alive: bool) -> Result<(), SessionError> {
        let row = self.row();
        let raw_pos = self.log.meta().last_raw_end;
        if row.status == SessionStatus::Exited {
            return Ok(());
        }
        if alive {
            match self.attach(row.pane.as_deref()).await {
                Ok(pane) => {
                    if row.pane.as_deref() != Some(pane.id.as_str()) {
                        self.host.store.session_set_pane(&self.name, &pane.id)?;
                        self.row.update(|r| r.pane = Some(pane.id.clone()));
                    }
                    tracing::info!(session = %self.name, from = raw_pos, "re-attached session");
                    self.run_supervisor(pane, RawReader::new(self.dir.join("raw"), raw_pos))
                        .await;
                    return Ok(());
                }
                Err(e) => tracing::error!(session = %self.name, error = %e, "re-attach failed; marking exited"),
            }
        }
        let mut reader = RawReader::new(self.dir.join("raw"), raw_pos);
        let mut scanner = super::script::ExitScanner::new(&row.nonce);
        let code = self.ingest_rest(&mut reader, &mut scanner)?;
        self.finish(code);
        Ok(())
    }

    /// Attach a control client to the running tmux session and find the
    /// agent's pane: the stored pane id, verified to belong to this session.
    /// Makes sure its pipe sink runs.
    pub(super) async fn attach(&self, stored: Option<&str>) -> Result<Pane, SessionError> {
        let name = &self.name;
        let mut args = vec!["attach-session".to_string(), "-t".to_string(), format!("={name}")];
        let counts = self.host.config.stream.output_notifications;
        if !counts {
            args.extend(["-f".into(), "no-output".into()]);
        }
        let control = ControlClient::spawn(&self.host.tmux, &args, false, counts)?;
        control.startup_reply().await?;
        let id = match stored {
            Some(p) if is_pane_id(p) => p.to_string(),
            // A row from before pane ids were stored: the session's first pane.
            _ => control
                .command(&format!("list-panes -s -t ={name} -F '#{{pane_id}}'"))
                .await?
                .text()
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        if !is_pane_id(&id) {
            return Err(SessionError::Tmux(TmuxError::Invalid(format!(
                "session `{name}` has no pane"
            ))));
        }
        let info = control
            .command(&format!("display -p -t {id} '#{{session_name}} #{{pane_pipe}}'"))
            .await?
            .text();
        let mut parts = info.split_whitespace();
        if parts.next() != Some(name.as_str()) {
            return Err(SessionError::Tmux(TmuxError::Invalid(format!(
                "pane {id} belongs to tmux session {info:?}, not `{name}`"
            ))));
        }
        if parts.next() != Some("1") {
            std::fs::create_dir_all(self.dir.join("raw"))?;
            tracing::warn!(session = %name, "pipe sink was not running; restarting it");
            self.repipe(&control, &id).await?;
        }
        Ok(Pane { control, id })
    }

    /// Start a new pipe sink on pane `id` (the old pipe, if any, closes).
    pub(super) async fn repipe(&self, control: &ControlClient, id: &str) -> Result<(), TmuxError> {
        let sink = self.host.sink_command(&self.dir.join("raw"));
        control
            .command(&format!("pipe-pane -O -t {id} {}", crate::tmux::quote(&sink)))
            .await
            .map(drop)
    }

    /// The pid of the pane's wrapper (`launch.sh`), the agent's parent.
    async fn pane_pid(&self) -> Result<i32, SessionError> {
        let p = self.pane().map_err(|_| SessionError::Exited(self.name.clone()))?;
        p.control
            .command(&format!("display -p -t {} '#{{pane_pid}}'", p.id))
            .await?
            .text()
            .trim()
            .parse()
            .map_err(|_| SessionError::Internal("tmux did not report the pane's pid".into()))
    }

    /// Whether the agent waits at its prompt: it holds its terminal, no job
    /// of its own in the foreground, and reads it in raw mode (see
    /// [`super::procs::agent_at_prompt`]); None when the pane or its
    /// processes are gone.
    pub async fn agent_at_prompt(&self) -> Option<bool> {
        super::procs::agent_at_prompt(self.pane_pid().await.ok()?)
    }

    /// Relaunch the agent in its running pane (same log, same pipe): write
    /// the new `agent.sh`, kill the agent's process tree; the wrapper starts
    /// the agent again. (tmux's respawn-pane from a control client can
    /// crash tmux 3.3a.)
    pub async fn respawn(&self, launch: &ResolvedLaunch) -> Result<(), SessionError> {
        write_agent_script(&self.dir, &launch.command, &launch.env)?;
        std::fs::write(self.dir.join("restart"), b"")?;
        let pid = self.pane_pid().await?;
        super::procs::kill_descendants(pid, Duration::from_secs(2)).await;
        self.row.update(|r| {
            r.launch = launch.to_json();
            r.exit_code = None;
        });
        self.exit.send_replace(None);
        Ok(())
    }

    /// Stop supervising and kill the tmux session (the session is being
    /// deleted): stream clients are told the agent ended.
    pub async fn stop(&self) -> Result<(), SessionError> {
        self.stop_supervisor().await;
        self.host.tmux.kill_session(&self.name).await?;
        *self.pane.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.report_exit(None);
        Ok(())
    }
}
