//! The `shell` provider: bash in a tmux pane. A prompt is typed as a command
//! line; bash's PS0/PROMPT_COMMAND emit OSC 133 marks that delimit each
//! command, so a turn starts at `133;C` and ends at `133;D;<status>` with the
//! exit status in `task-complete`.

mod osc;

use osc::{Mark, Piece, Scanner};
use wasmux_sdk::*;

/// Prompt shown to the person attached, wrapped in OSC 133 A/B marks.
const PS1: &str = r"\[\e]133;A\a\]\u@\h:\w\$ \[\e]133;B\a\]";
/// Printed by bash after a command line is read, before it runs.
const PS0: &str = r"\e]133;C\a";
/// Run before each prompt: reports the last command's status.
const PROMPT_COMMAND: &str = r#"printf '\033]133;D;%s\007' "$?""#;

struct Shell;

impl Provider for Shell {
    type Session = ShellSession;

    fn launch(req: LaunchRequest) -> Result<LaunchSpec, PluginError> {
        let shell = config::get("shell").unwrap_or_else(|| "bash".into());
        let mut command = vec![shell, "--noprofile".into(), "--norc".into(), "-i".into()];
        command.extend(req.args);
        let mut spec = launch_spec(command);
        spec.env = vec![
            ("PS1".into(), PS1.into()),
            ("PS0".into(), PS0.into()),
            ("PROMPT_COMMAND".into(), PROMPT_COMMAND.into()),
        ];
        Ok(spec)
    }
}

/// Per-session state: the scanner and whether a command is running.
struct ShellSession {
    scanner: Scanner,
    ready: bool,
    running: bool,
    pieces: Vec<Piece>,
}

impl ProviderSession for ShellSession {
    fn new(_req: LaunchRequest) -> Self {
        ShellSession {
            scanner: Scanner::new(),
            ready: false,
            running: false,
            pieces: Vec::new(),
        }
    }

    fn feed_output(&mut self, data: &[u8]) -> Update {
        let mut update = empty_update();
        self.pieces.clear();
        self.scanner.feed(data, &mut self.pieces);
        for piece in self.pieces.drain(..) {
            match piece {
                Piece::Text(text) if self.running => {
                    update.events.push(AgentEvent::TerminalOutput(TerminalOutput {
                        data: text,
                        call_id: None,
                    }));
                }
                Piece::Text(_) => {}
                Piece::Mark(Mark::PromptStart) if !self.ready => {
                    self.ready = true;
                    update.state = Some(state(AgentState::Idle, StateSource::Protocol));
                }
                Piece::Mark(Mark::Executed) => {
                    self.running = true;
                    update.events.push(AgentEvent::TaskStarted);
                    update.state = Some(state(AgentState::Working, StateSource::Protocol));
                }
                Piece::Mark(Mark::Finished(code)) if self.running => {
                    self.running = false;
                    update.events.push(AgentEvent::TaskComplete(TaskComplete {
                        exit_code: code,
                        summary: None,
                    }));
                    update.state = Some(state(AgentState::Idle, StateSource::Protocol));
                }
                Piece::Mark(_) => {}
            }
        }
        update
    }

    fn encode_prompt(&mut self, text: &str) -> Result<Vec<InputAction>, PluginError> {
        if text.trim().is_empty() {
            return Err(error(ErrorKind::InvalidInput, "an empty command line runs nothing"));
        }
        Ok(vec![
            InputAction::Text(text.to_string()),
            InputAction::Keys(vec!["Enter".into()]),
        ])
    }

    fn encode_steer(&mut self, text: &str) -> Result<Vec<InputAction>, PluginError> {
        // Typed into the running command's stdin.
        Ok(vec![
            InputAction::Text(text.to_string()),
            InputAction::Keys(vec!["Enter".into()]),
        ])
    }
}

wasmux_sdk::provider!(Shell);
