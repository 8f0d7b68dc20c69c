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
        if self.dialog.as_ref().is_some_and(|cur| cur.id == d.id) {
            return;
        }
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
    fn new(_req: LaunchRequest) -> Self {
        ClaudeSession {
            transcript: Transcript::new(),
            dialog: None,
            ready: false,
            shown: None,
            asked: Vec::new(),
        }
    }

    fn feed_transcript(&mut self, line: &str) -> Update {
        let mut u = empty_update();
        self.transcript.feed(line, &mut u.events);
        self.report(&mut u, StateSource::Transcript);
        u
    }

    fn feed_screen(&mut self, screen: Screen) -> Update {
        let mut u = empty_update();
        let view = screen::read(&screen.lines);
        match view.dialog {
            Some(d) => self.ask(d, &mut u),
            None => self.dialog = None,
        }
        if view.idle {
            match self.transcript.turn {
                Turn::Unknown => self.ready = true,
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
        let options = self
            .asked
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.options.clone())
            .ok_or_else(|| error(ErrorKind::NotFound, format!("no dialog {id} was seen on screen")))?;
        let pick = |f: &dyn Fn(&str) -> bool| options.iter().position(|o| f(o)).map(|i| i + 1);
        let number = match decision {
            PermissionDecision::Allow => Some(1),
            PermissionDecision::Always => pick(&|o| o.starts_with("Yes") && always(o)),
            PermissionDecision::Deny => pick(&|o| o.starts_with("No")),
            PermissionDecision::Other(o) => {
                return Err(error(ErrorKind::InvalidInput, format!("unknown decision {o}")));
            }
        };
        match number {
            Some(n) => Ok(vec![InputAction::Text(n.to_string())]),
            None => Err(error(
                ErrorKind::Unsupported,
                format!("this dialog offers no such choice (options: {})", options.join(" / ")),
            )),
        }
    }
}

/// Whether an option label is the "don't ask again" kind of yes.
fn always(label: &str) -> bool {
    let l = label.to_lowercase();
    [
        "don't ask again",
        "allow all",
        "during this session",
        "for this session",
        "always",
    ]
    .iter()
    .any(|k| l.contains(k))
}

/// Type `text` into the input line and submit it. Multi-line text is pasted
/// so its newlines do not submit early; the pause lets the input settle
/// before Enter (fast Enter after typed text can be taken as part of a paste).
fn type_and_submit(text: &str) -> Vec<InputAction> {
    let body = if text.contains('\n') {
        InputAction::Paste(text.to_string())
    } else {
        InputAction::Text(text.to_string())
    };
    vec![body, InputAction::WaitMs(100), InputAction::Keys(vec!["Enter".into()])]
}

wasmux_sdk::provider!(ClaudeCode);
