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

use rollout::{Rollout, Turn};
use screen::Dialog;
use wasmux_sdk::dialogs::is_always;
use wasmux_sdk::*;

struct Codex;

impl Provider for Codex {
    type Session = CodexSession;

    fn launch(req: LaunchRequest) -> Result<LaunchSpec, PluginError> {
        let program = config::get("command").unwrap_or_else(|| "codex".into());
        let mut command = vec![program];
        command.extend(req.args);
        let mut spec = launch_spec(command);
        // CODEX_HOME moves `~/.codex`; the operator must allow it in
        // `sessions.transcript_roots`.
        let home = req
            .env
            .iter()
            .find(|(k, _)| k == "CODEX_HOME")
            .map(|(_, v)| v.trim_end_matches('/').to_string())
            .unwrap_or_else(|| "~/.codex".into());
        spec.transcript = Some(TranscriptSpec {
            pattern: format!("{home}/sessions/*/*/*/rollout-*.jsonl"),
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

/// Per-session state: the rollout parser, the approval prompt on screen,
/// and the last state reported.
struct CodexSession {
    rollout: Rollout,
    dialog: Option<Dialog>,
    /// The idle composer has been on screen (the TUI finished starting).
    ready: bool,
    shown: Option<(Phase, Option<String>)>,
    /// Prompts asked, newest last, to answer by id.
    asked: Vec<Dialog>,
    /// Salts permission ids (unique per session launch).
    nonce: String,
    /// Prompts seen so far (the id's counter).
    seen: u64,
    /// The prompt the agent went on from while it was still on screen.
    answered: Option<String>,
}

/// How many answered-or-pending prompts are remembered.
const ASKED_KEPT: usize = 32;

impl CodexSession {
    /// The state the signals add up to, if any is known yet.
    fn wanted(&self) -> Option<(Phase, Option<String>)> {
        if let Some(d) = &self.dialog {
            return Some((Phase::Waiting, d.tool.clone()));
        }
        match &self.rollout.turn {
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

    /// An approval prompt appeared: ask for permission (once per prompt).
    fn ask(&mut self, mut d: Dialog, u: &mut Update) {
        if self.answered.as_ref() == Some(&d.key) {
            // Still drawn after the agent went on: not asked again.
            return;
        }
        if self.dialog.as_ref().is_some_and(|cur| cur.key == d.key) {
            return;
        }
        // Content hashes repeat across turns and sessions: salt each new
        // prompt with this launch's nonce and a counter.
        self.seen += 1;
        d.id = wasmux_sdk::dialogs::dialog_id(&d.key, &format!("{}-{}", self.nonce, self.seen));
        if let Some(tool) = self.rollout.pending_tool() {
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

impl ProviderSession for CodexSession {
    fn new(req: LaunchRequest) -> Self {
        CodexSession {
            rollout: Rollout::new(&req.cwd),
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
        self.rollout.feed(line, &mut u.events);
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
        // Before the composer was ever seen, any numbered choice is a
        // popup for a person: the queue must not type into it.
        let starting = !self.ready && self.rollout.turn == Turn::Unknown;
        let dialog = view
            .dialog
            .or_else(|| starting.then(|| screen::find_choice(&screen.lines)).flatten());
        match dialog {
            Some(d) => self.ask(d, &mut u),
            None => {
                self.dialog = None;
                self.answered = None;
            }
        }
        if view.idle {
            match self.rollout.turn {
                Turn::Unknown => self.ready = true,
                Turn::Open(_) => {
                    self.rollout.close_from_screen(&mut u.events);
                }
                Turn::Closed => {}
            }
        }
        self.report(&mut u, StateSource::Screen);
        u
    }

    /// Typed into the composer; the pause before Enter keeps the TUI's
    /// paste detection from taking the Enter as a newline.
    fn encode_prompt(&mut self, text: &str) -> Result<Vec<InputAction>, PluginError> {
        if text.trim().is_empty() {
            return Err(error(ErrorKind::InvalidInput, "Codex needs a non-empty message"));
        }
        // Always a bracketed paste: typed text arrives as a burst Codex's
        // paste-burst detection may hold, turning the Enter into a newline
        // (seen with the real CLI under load).
        Ok(vec![
            InputAction::Paste(text.to_string()),
            InputAction::WaitMs(250),
            InputAction::Keys(vec!["Enter".into()]),
        ])
    }

    /// Esc interrupts the running turn (Ctrl-C would also quit an idle TUI).
    fn encode_interrupt(&mut self) -> Vec<InputAction> {
        vec![InputAction::Keys(vec!["Escape".into()])]
    }

    fn encode_permission(&mut self, id: &str, decision: PermissionDecision) -> Result<Vec<InputAction>, PluginError> {
        let options = self
            .asked
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.options.clone())
            .ok_or_else(|| {
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
                let popup = self
                    .asked
                    .iter()
                    .any(|d| d.id == id && d.tool.as_deref() == Some("dialog"));
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
