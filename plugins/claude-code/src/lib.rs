//! The `claude-code` provider: Claude Code's own interactive UI in the pane,
//! so the person at the terminal sees and can type into exactly what they
//! would run themselves, while wasmux reads two signals:
//!
//! * **the session transcript** — `claude --session-id <uuid>` pins the
//!   session id, so the transcript path is known before the agent writes it:
//!   `~/.claude/projects/<cwd-slug>/<uuid>.jsonl`. Messages, thinking, tool
//!   calls and results, file edits, token usage, and the turn's start and end
//!   come from it ([`transcript`]);
//! * **the screen** — permission dialogs (never written to the transcript)
//!   become `permission-request`s answered with the option's digit, and the
//!   idle input prompt says the agent is ready ([`screen`]).
//!
//! State: `idle` at start-up from the screen; `working` (with the tool in
//! flight) and the end of a turn from the transcript; `waiting-permission`
//! while a dialog is on screen, and back to the transcript's view when the
//! screen shows it gone. Each state says which signal decided it. For old
//! Claude Code versions that mark neither `stop_reason` nor `turn_duration`,
//! a turn whose last record was an answer ends when the screen shows the
//! idle prompt.

mod edits;
mod screen;
#[cfg(test)]
mod tests;
mod transcript;

use transcript::Transcript;
use wasmux_sdk::dialogs::is_always;
use wasmux_sdk::tui::{Tui, Turn};
use wasmux_sdk::*;

struct ClaudeCode;

impl Provider for ClaudeCode {
    type Session = ClaudeSession;

    fn launch(req: LaunchRequest) -> Result<LaunchSpec, PluginError> {
        let program = config::get("command").unwrap_or_else(|| "claude".into());
        let mut command = vec![program, "--session-id".into(), "{uuid}".into()];
        command.extend(req.args.iter().cloned());
        let mut spec = launch_spec(command);
        // CLAUDE_CONFIG_DIR moves `~/.claude`; the operator must allow it in
        // `sessions.transcript_roots`.
        let home = env_dir(&req, "CLAUDE_CONFIG_DIR", "~/.claude");
        spec.transcript = Some(TranscriptSpec {
            pattern: format!("{home}/projects/{{cwd-slug}}/{{uuid}}.jsonl"),
        });
        spec.screen_poll_ms = screen_poll_ms(250);
        Ok(spec)
    }
}

/// Per-session state: the transcript parser and what the screen showed.
struct ClaudeSession {
    transcript: Transcript,
    tui: Tui,
}

impl ProviderSession for ClaudeSession {
    fn new(req: LaunchRequest) -> Self {
        ClaudeSession {
            transcript: Transcript::new(),
            tui: Tui::new(&req.session_uuid),
        }
    }

    fn feed_transcript(&mut self, line: &str) -> Update {
        let mut u = empty_update();
        self.transcript.feed(line, &mut u.events);
        self.tui.after_record(&u);
        self.tui.report(&self.transcript.turn, &mut u, StateSource::Transcript);
        u
    }

    fn feed_screen(&mut self, screen: Screen) -> Update {
        let mut u = empty_update();
        let view = screen::read(&screen.lines);
        self.tui.on_screen(view.dialog, self.transcript.pending_tool(), &mut u);
        if view.idle {
            match self.transcript.turn {
                Turn::Unknown => self.tui.ready = self.tui.ready || view.settled,
                Turn::Open(_) => {
                    self.transcript.close_from_screen(&mut u.events);
                }
                Turn::Closed => {}
            }
        }
        self.tui.report(&self.transcript.turn, &mut u, StateSource::Screen);
        u
    }

    fn encode_prompt(&mut self, text: &str) -> Result<Vec<InputAction>, PluginError> {
        if text.trim().is_empty() {
            return Err(error(ErrorKind::InvalidInput, "Claude Code needs a non-empty message"));
        }
        // The pause lets the input settle before Enter: with 100 ms the
        // real 2.1.332 on a loaded machine kept the text unsent.
        Ok(wasmux_sdk::tui::submit(text, 300))
    }

    /// Claude Code takes messages typed while it works and hands them to
    /// the running turn.
    fn encode_steer(&mut self, text: &str) -> Result<Vec<InputAction>, PluginError> {
        self.encode_prompt(text)
    }

    /// Esc interrupts Claude Code (Ctrl-C twice would quit it).
    fn encode_interrupt(&mut self) -> Vec<InputAction> {
        vec![InputAction::Keys(vec!["Escape".into()])]
    }

    fn encode_permission(&mut self, id: &str, decision: PermissionDecision) -> Result<Vec<InputAction>, PluginError> {
        let (options, cursor) = self
            .tui
            .asked(id)
            .map(|d| (d.options.clone(), d.cursor))
            .ok_or_else(|| error(ErrorKind::NotFound, format!("no dialog {id} was seen on screen")))?;
        let pick = |f: &dyn Fn(&str) -> bool| options.iter().position(|o| f(o)).map(|i| i + 1);
        let number = match decision {
            // A menu's first option may be the refusal ("No, exit").
            PermissionDecision::Allow if cursor.is_some() => pick(&|o| o.starts_with("Yes")).or(Some(1)),
            PermissionDecision::Allow => Some(1),
            PermissionDecision::Always => pick(&|o| o.starts_with("Yes") && is_always(o)),
            PermissionDecision::Deny => pick(&|o| o.starts_with("No")),
            PermissionDecision::Other(o) => {
                return Err(error(ErrorKind::InvalidInput, format!("unknown decision {o}")));
            }
        };
        match (number, cursor) {
            (Some(n), Some(at)) => Ok(self.tui.menu_answer(id, at, n - 1)),
            (Some(n), None) => Ok(vec![InputAction::Text(n.to_string())]),
            (None, _) => Err(error(
                ErrorKind::Unsupported,
                format!("this dialog offers no such choice (options: {})", options.join(" / ")),
            )),
        }
    }
}

wasmux_sdk::provider!(ClaudeCode);
