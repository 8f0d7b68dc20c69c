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

use screen::Dialog;
use transcript::{Transcript, Turn};
use wasmux_sdk::dialogs::is_always;
use wasmux_sdk::*;

struct ClaudeCode;

impl Provider for ClaudeCode {
    type Session = ClaudeSession;

    fn launch(req: LaunchRequest) -> Result<LaunchSpec, PluginError> {
        let program = config::get("command").unwrap_or_else(|| "claude".into());
        let mut command = vec![program, "--session-id".into(), "{uuid}".into()];
        command.extend(req.args);
        let mut spec = launch_spec(command);
        // CLAUDE_CONFIG_DIR moves `~/.claude`; the operator must allow it in
        // `sessions.transcript_roots`.
        let home = req
            .env
            .iter()
            .find(|(k, _)| k == "CLAUDE_CONFIG_DIR")
            .map(|(_, v)| v.trim_end_matches('/').to_string())
            .unwrap_or_else(|| "~/.claude".into());
        spec.transcript = Some(TranscriptSpec {
            pattern: format!("{home}/projects/{{cwd-slug}}/{{uuid}}.jsonl"),
        });
        spec.screen_poll_ms = config::get("screen_poll_ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(250);
        Ok(spec)
    }
}

/// The state the provider reports, without its source.
#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Idle,
    Working,
    Waiting,
}

/// Per-session state: the transcript parser, the dialog on screen, and the
/// last state reported.
struct ClaudeSession {
    transcript: Transcript,
    dialog: Option<Dialog>,
    /// The idle prompt has been on screen (the agent finished starting).
    ready: bool,
    shown: Option<(Phase, Option<String>)>,
    /// Options of the dialogs asked, newest last, to answer by id.
    asked: Vec<Dialog>,
    /// Salts permission ids: unique per session launch, so the same
    /// question in another turn or session is another request.
    nonce: String,
    /// Dialogs seen so far (the id's counter).
    seen: u64,
    /// The dialog the agent went on from while it was still on screen.
    answered: Option<String>,
}

/// How many answered-or-pending dialogs are remembered.
const ASKED_KEPT: usize = 32;

impl ClaudeSession {
    /// The state the signals add up to, if any is known yet.
    fn wanted(&self) -> Option<(Phase, Option<String>)> {
        if let Some(d) = &self.dialog {
            return Some((Phase::Waiting, d.tool.clone()));
        }
        match &self.transcript.turn {
            Turn::Open(tool) => Some((Phase::Working, tool.clone())),
            Turn::Closed => Some((Phase::Idle, None)),
            Turn::Unknown => self.ready.then_some((Phase::Idle, None)),
        }
    }

    /// Put the state into `u` if it changed, decided by `source`.
    fn report(&mut self, u: &mut Update, source: StateSource) {
        let Some(want) = self.wanted() else { return };
        if self.shown.as_ref() == Some(&want) {
            return;
        }
        let state = match want.0 {
            Phase::Idle => AgentState::Idle,
            Phase::Working => AgentState::Working,
            Phase::Waiting => AgentState::WaitingPermission,
        };
        u.state = Some(StateChange {
            state,
            source,
            tool: want.1.clone(),
        });
        self.shown = Some(want);
    }

    /// A dialog appeared: ask for permission (once per dialog).
    fn ask(&mut self, mut d: Dialog, u: &mut Update) {
        if self.answered.as_ref() == Some(&d.key) {
            // Still drawn after the agent went on: not asked again.
            return;
        }
        if let Some(cur) = self.dialog.as_mut().filter(|cur| cur.key == d.key) {
            // A redraw: the same request; a menu's cursor may have moved.
            cur.cursor = d.cursor;
            if let Some(a) = self.asked.iter_mut().find(|a| a.id == cur.id) {
                a.cursor = d.cursor;
            }
            return;
        }
        self.seen += 1;
        d.id = wasmux_sdk::dialogs::dialog_id(&d.key, &format!("{}-{}", self.nonce, self.seen));
        if let Some(tool) = self.transcript.pending_tool() {
            d.tool = Some(tool.to_string());
        }
        let tool = d.tool.clone().unwrap_or_else(|| "unknown".into());
        d.tool = Some(tool.clone());
        u.events.push(AgentEvent::PermissionRequest(PermissionRequest {
            permission_id: d.id.clone(),
            tool_name: tool,
            description: d.description.clone(),
            options: d.options.clone(),
        }));
        self.asked.retain(|a| a.id != d.id);
        self.asked.push(d.clone());
        if self.asked.len() > ASKED_KEPT {
            self.asked.remove(0);
        }
        self.dialog = Some(d);
    }
}

impl ProviderSession for ClaudeSession {
    fn new(req: LaunchRequest) -> Self {
        ClaudeSession {
            transcript: Transcript::new(),
            dialog: None,
            ready: false,
            shown: None,
            asked: Vec::new(),
            nonce: wasmux_sdk::dialogs::launch_nonce(&req.session_uuid),
            seen: 0,
            answered: None,
        }
    }

    fn feed_transcript(&mut self, line: &str) -> Update {
        let mut u = empty_update();
        self.transcript.feed(line, &mut u.events);
        // The agent went on (a tool ran, the turn ended): the dialog was
        // answered, even if no screen without it was captured yet.
        let moved_on = u.events.iter().any(|e| {
            matches!(
                e,
                AgentEvent::ToolResult(_) | AgentEvent::TaskComplete(_) | AgentEvent::TurnAborted
            )
        });
        if moved_on && let Some(d) = self.dialog.take() {
            self.answered = Some(d.key);
        }
        self.report(&mut u, StateSource::Transcript);
        u
    }

    fn feed_screen(&mut self, screen: Screen) -> Update {
        let mut u = empty_update();
        let view = screen::read(&screen.lines);
        match view.dialog {
            Some(d) => self.ask(d, &mut u),
            None => {
                self.dialog = None;
                self.answered = None;
            }
        }
        if view.idle {
            match self.transcript.turn {
                Turn::Unknown => self.ready = self.ready || view.settled,
                Turn::Open(_) => {
                    self.transcript.close_from_screen(&mut u.events);
                }
                Turn::Closed => {}
            }
        }
        self.report(&mut u, StateSource::Screen);
        u
    }

    fn encode_prompt(&mut self, text: &str) -> Result<Vec<InputAction>, PluginError> {
        if text.trim().is_empty() {
            return Err(error(ErrorKind::InvalidInput, "Claude Code needs a non-empty message"));
        }
        Ok(type_and_submit(text))
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
            .asked
            .iter()
            .find(|d| d.id == id)
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
            (Some(n), Some(at)) => Ok(wasmux_sdk::dialogs::menu_keys(at, n - 1)),
            (Some(n), None) => Ok(vec![InputAction::Text(n.to_string())]),
            (None, _) => Err(error(
                ErrorKind::Unsupported,
                format!("this dialog offers no such choice (options: {})", options.join(" / ")),
            )),
        }
    }
}

/// Type `text` into the input line and submit it. Multi-line text is pasted
/// so its newlines do not submit early; the pause lets the input settle
/// before Enter (fast Enter after typed text can be taken as part of a paste;
/// with 100 ms the real 2.1.332 on a loaded machine kept the text unsent).
fn type_and_submit(text: &str) -> Vec<InputAction> {
    // Always a bracketed paste: typed text arrives as a burst the CLI may
    // take for an unbracketed paste, and an Enter inside that burst is a
    // newline, not a submit (seen with the real CLI under load).
    vec![
        InputAction::Paste(text.to_string()),
        InputAction::WaitMs(300),
        InputAction::Keys(vec!["Enter".into()]),
    ]
}

wasmux_sdk::provider!(ClaudeCode);
