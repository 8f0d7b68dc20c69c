//! `{{name}}`: a wasmux provider. It runs a tiny line-echo agent in the pane
//! (replace `launch` with your agent) and turns its output into events.
//!
//! The agent prints `ESC ] 133;A BEL` before each prompt, so a turn is the
//! output between the prompt the message was typed at and the next mark:
//! the first line is the echo of the typed text, the rest is the answer.

use wasmux_sdk::*;

const MARK: &[u8] = b"\x1b]133;A\x07";

struct Plugin;

impl Provider for Plugin {
    type Session = Session;

    fn launch(req: LaunchRequest) -> Result<LaunchSpec, PluginError> {
        let prefix = config::get("prefix").unwrap_or_else(|| "you said: ".into());
        let script = "while printf '\\033]133;A\\007> '; IFS= read -r line; do printf '%s%s\\n' \"$PREFIX\" \"$line\"; done";
        let mut spec = launch_spec(vec!["sh".into(), "-c".into(), script.into()]);
        spec.env = vec![("PREFIX".into(), prefix)];
        let _ = req;
        Ok(spec)
    }
}

/// Parser state for one session.
struct Session {
    buf: Vec<u8>,
    pending: bool,
    started: bool,
}

impl ProviderSession for Session {
    fn new(_req: LaunchRequest) -> Self {
        Session { buf: Vec::new(), pending: false, started: false }
    }

    fn feed_output(&mut self, data: &[u8]) -> Update {
        let mut u = empty_update();
        self.buf.extend_from_slice(data);
        if self.pending && !self.started && !self.buf.is_empty() {
            self.started = true;
            u.events.push(AgentEvent::TaskStarted);
            u.state = Some(state(AgentState::Working, StateSource::Protocol));
        }
        while let Some(at) = self.buf.windows(MARK.len()).position(|w| w == MARK) {
            let segment: Vec<u8> = self.buf.drain(..at + MARK.len()).take(at).collect();
            if self.pending {
                let text = String::from_utf8_lossy(&segment).replace('\r', "");
                let answer = text.split_once('\n').map(|(_, rest)| rest.trim()).unwrap_or("");
                debug("turn finished");
                u.events.push(AgentEvent::Message(answer.to_string()));
                u.events.push(AgentEvent::TaskComplete(TaskComplete { exit_code: Some(0), summary: None }));
                self.pending = false;
            }
            u.state = Some(state(AgentState::Idle, StateSource::Protocol));
        }
        u
    }

    fn encode_prompt(&mut self, text: &str) -> Result<Vec<InputAction>, PluginError> {
        let line = text.replace(['\r', '\n'], " ");
        if line.trim().is_empty() {
            return Err(error(ErrorKind::InvalidInput, "an empty message"));
        }
        self.pending = true;
        self.started = false;
        Ok(vec![InputAction::Text(line), InputAction::Keys(vec!["Enter".into()])])
    }
}

wasmux_sdk::provider!(Plugin);
