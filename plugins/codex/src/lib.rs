//! The `codex` provider: the Codex CLI's interactive TUI in the pane, read
//! through its session rollout file and its screen.
//!
//! **Why the TUI and not `codex exec --json`.** `exec --json` would give a
//! clean event stream on stdout, but it runs one prompt per process and
//! takes no input: the person attached to the tmux session could only watch
//! JSON scroll by, and every message would start a new process. The TUI is
//! what that person would run themselves — they can read it, type into it,
//! approve commands in it — and Codex records the same conversation in its
//! rollout file (`~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`), which
//! wasmux tails for structured events ([`rollout`]).
//!
//! Approval prompts are not persisted in the rollout, so they are read from
//! the screen ([`screen`]) and answered with the option's shortcut key; the
//! idle composer on screen says the agent is ready. State: `idle` at
//! start-up from the screen; `working` (with the tool in flight) and the end
//! of a turn from the rollout; `waiting-permission` while an approval prompt
//! is up. CLIs too old to persist `task_complete` end a turn whose last item
//! was an answer when the screen shows the idle composer.
//!
//! The rollout's name carries an id Codex picks itself, so the host tails
//! the newest rollout written since the session started; two Codex sessions
//! started at the same moment under one `HOME` could be confused (the
//! provider warns when the rollout's `cwd` is not the session's).

mod patch;
mod rollout;
mod screen;
#[cfg(test)]
mod tests;

use rollout::Rollout;
use wasmux_sdk::dialogs::is_always;
use wasmux_sdk::tui::{Tui, Turn};
use wasmux_sdk::*;

struct Codex;

impl Provider for Codex {
    type Session = CodexSession;

    fn launch(req: LaunchRequest) -> Result<LaunchSpec, PluginError> {
        let program = config::get("command").unwrap_or_else(|| "codex".into());
        let mut command = vec![program];
        // Codex 0.17x would otherwise attach to (or start) one background
        // `codex app-server` per CODEX_HOME: it outlives the session and
        // the daemon, and runs every session's tools with the environment
        // of the pane that started it.
        let shared = config::get("shared_daemon").is_some_and(|v| v == "true");
        if !shared && !req.args.iter().any(|a| a == "--no-daemon") {
            command.push("--no-daemon".into());
        }
        command.extend(req.args.iter().cloned());
        let mut spec = launch_spec(command);
        // CODEX_HOME moves `~/.codex`; the operator must allow it in
        // `sessions.transcript_roots`.
        let home = env_dir(&req, "CODEX_HOME", "~/.codex");
        spec.transcript = Some(TranscriptSpec {
            pattern: format!("{home}/sessions/*/*/*/rollout-*.jsonl"),
        });
        spec.screen_poll_ms = screen_poll_ms(250);
        Ok(spec)
    }
}

/// Per-session state: the rollout parser and what the screen showed.
struct CodexSession {
    rollout: Rollout,
    tui: Tui,
}

impl ProviderSession for CodexSession {
    fn new(req: LaunchRequest) -> Self {
        CodexSession {
            rollout: Rollout::new(&req.cwd),
            tui: Tui::new(&req.session_uuid),
        }
    }

    fn feed_transcript(&mut self, line: &str) -> Update {
        let mut u = empty_update();
        self.rollout.feed(line, &mut u.events);
        self.tui.after_record(&u);
        self.tui.report(&self.rollout.turn, &mut u, StateSource::Transcript);
        u
    }

    fn feed_screen(&mut self, screen: Screen) -> Update {
        let mut u = empty_update();
        let view = screen::read(&screen.lines);
        // Before the composer was ever seen, any numbered choice is a
        // popup for a person: the queue must not type into it.
        let starting = !self.tui.ready && self.rollout.turn == Turn::Unknown;
        let dialog = view
            .dialog
            .or_else(|| starting.then(|| screen::find_choice(&screen.lines)).flatten());
        self.tui.on_screen(dialog, self.rollout.pending_tool(), &mut u);
        if view.idle {
            match self.rollout.turn {
                Turn::Unknown => self.tui.ready = true,
                Turn::Open(_) => {
                    self.rollout.close_from_screen(&mut u.events);
                }
                Turn::Closed => {}
            }
        }
        self.tui.report(&self.rollout.turn, &mut u, StateSource::Screen);
        u
    }

    /// Typed into the composer; the pause before Enter keeps the TUI's
    /// paste detection from taking the Enter as a newline.
    fn encode_prompt(&mut self, text: &str) -> Result<Vec<InputAction>, PluginError> {
        if text.trim().is_empty() {
            return Err(error(ErrorKind::InvalidInput, "Codex needs a non-empty message"));
        }
        Ok(wasmux_sdk::tui::submit(text, 250))
    }

    /// Typed into the composer while a turn runs: Codex 0.17x's Enter then
    /// steers the running turn (its next model call carries the text).
    fn encode_steer(&mut self, text: &str) -> Result<Vec<InputAction>, PluginError> {
        self.encode_prompt(text)
    }

    /// Esc interrupts the running turn (Ctrl-C would also quit an idle TUI).
    fn encode_interrupt(&mut self) -> Vec<InputAction> {
        vec![InputAction::Keys(vec!["Escape".into()])]
    }

    fn encode_permission(&mut self, id: &str, decision: PermissionDecision) -> Result<Vec<InputAction>, PluginError> {
        let options = self.tui.asked(id).map(|d| d.options.clone()).ok_or_else(|| {
            error(
                ErrorKind::NotFound,
                format!("no approval prompt {id} was seen on screen"),
            )
        })?;
        let pick = |f: &dyn Fn(&str) -> bool| options.iter().position(|o| f(o));
        let chosen = match decision {
            PermissionDecision::Allow => Some(0),
            PermissionDecision::Always => pick(&|o| o.starts_with("Yes") && is_always(o)),
            PermissionDecision::Deny => pick(&|o| o.starts_with("No")).or_else(|| {
                // A popup without a "No" (tool `dialog`): its last choice.
                let popup = self.tui.asked(id).is_some_and(|d| d.tool.as_deref() == Some("dialog"));
                popup.then(|| options.len() - 1)
            }),
            PermissionDecision::Other(o) => {
                return Err(error(ErrorKind::InvalidInput, format!("unknown decision {o}")));
            }
        };
        let Some(i) = chosen else {
            return Err(error(
                ErrorKind::Unsupported,
                format!("this prompt offers no such choice (options: {})", options.join(" / ")),
            ));
        };
        Ok(vec![match screen::shortcut(&options[i]) {
            Some("esc") => InputAction::Keys(vec!["Escape".into()]),
            Some(key) => InputAction::Text(key.to_string()),
            None => InputAction::Text((i + 1).to_string()),
        }])
    }
}

wasmux_sdk::provider!(Codex);
