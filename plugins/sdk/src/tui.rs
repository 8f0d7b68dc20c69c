//! What a terminal provider (`claude-code`, `codex`) keeps between screens:
//! the dialog on screen, the dialogs asked (to answer by id), and the state
//! last reported. The provider reads its agent's record (transcript or
//! rollout) into a [`Turn`] and its screen into an optional [`Dialog`]; a
//! [`Tui`] turns those two signals into `permission-request`s and state
//! changes, each once.

use crate::*;

/// A prompt for a TUI's input line: first clear what the line holds (text
/// left unsubmitted — a daemon killed between a prompt and its Enter, or a
/// person who typed and walked away — is never merged into this prompt;
/// seen with the real Claude Code and Codex), then `text` as one bracketed
/// paste (typed text arrives as a burst the TUI may take for an unbracketed
/// paste, turning the Enter into a newline), a pause of `pause_ms`, Enter.
pub fn submit(text: &str, pause_ms: u32) -> Vec<InputAction> {
    vec![
        InputAction::Keys(vec!["C-u".into()]),
        InputAction::Paste(text.to_string()),
        InputAction::WaitMs(pause_ms),
        InputAction::Keys(vec!["Enter".into()]),
    ]
}

/// A permission dialog (or a popup for a person) read from the screen.
#[derive(Clone, Debug)]
pub struct Dialog {
    /// What is asked (header, details, question): equal for redraws of one
    /// dialog.
    pub key: String,
    /// The permission id, given by [`Tui`] when the dialog first shows.
    pub id: String,
    /// The tool the dialog names, when its header or question says.
    pub tool: Option<String>,
    /// One line saying what is asked.
    pub description: String,
    /// Option labels; option `n` is `options[n - 1]`.
    pub options: Vec<String>,
    /// For a cursor menu (options without digits): the option the cursor is
    /// on. `None`: a digit or shortcut answers.
    pub cursor: Option<usize>,
}

/// How far the agent's own record says the current turn is.
#[derive(Clone, Debug, PartialEq)]
pub enum Turn {
    /// Nothing seen yet.
    Unknown,
    /// A turn runs; the tool in flight, if any.
    Open(Option<String>),
    /// The last turn ended (or was interrupted).
    Closed,
}

/// How many answered-or-pending dialogs are remembered.
const ASKED_KEPT: usize = 32;

/// Dialogs and reported state of one session of a TUI agent.
pub struct Tui {
    dialog: Option<Dialog>,
    /// The idle input has been on screen (the agent finished starting).
    pub ready: bool,
    shown: Option<(AgentState, Option<String>)>,
    /// Dialogs asked, newest last, to answer by id.
    asked: Vec<Dialog>,
    /// Salts permission ids: unique per session launch, so the same
    /// question in another turn or session is another request.
    nonce: String,
    /// Dialogs seen so far (the id's counter).
    seen: u64,
    /// The dialog the agent went on from while it was still on screen.
    answered: Option<String>,
    /// A menu answer under way: the dialog's options and the option its
    /// cursor was sent to; Enter goes once the screen shows the cursor there.
    confirm: Option<(Vec<String>, usize)>,
    /// The Enter sent to answer a dialog, watched until the dialog goes.
    retry: Option<Retry>,
}

/// An Enter that answered a dialog. A dialog still up, cursor unmoved,
/// after [`RETRY_AFTER`] screens did not take it (the real Claude Code
/// drops one that lands while it mounts the dialog's input on a loaded
/// machine): it is pressed again, at most [`RETRIES`] times in all.
struct Retry {
    /// The dialog's key.
    key: String,
    /// The option the cursor was on.
    target: usize,
    /// Screens that still showed the dialog there since the last Enter.
    screens: u32,
    /// Enters pressed so far.
    sent: u32,
}

impl Retry {
    fn new(key: &str, target: usize) -> Retry {
        Retry {
            key: key.to_string(),
            target,
            screens: 0,
            sent: 1,
        }
    }
}

/// Screens (the host feeds one per poll while a dialog waits) showing an
/// answered dialog unchanged before its Enter is pressed again.
const RETRY_AFTER: u32 = 8;
/// Enters pressed at most for one answer.
const RETRIES: u32 = 3;

impl Tui {
    /// Nothing seen yet, for the session launched with `session_uuid`.
    pub fn new(session_uuid: &str) -> Self {
        Tui {
            dialog: None,
            ready: false,
            shown: None,
            asked: Vec::new(),
            nonce: crate::dialogs::launch_nonce(session_uuid),
            seen: 0,
            answered: None,
            confirm: None,
            retry: None,
        }
    }

    /// The dialog asked as `id`, if it is still remembered.
    pub fn asked(&self, id: &str) -> Option<&Dialog> {
        self.asked.iter().find(|d| d.id == id)
    }

    /// The state the signals add up to, if any is known yet.
    fn wanted(&self, turn: &Turn) -> Option<(AgentState, Option<String>)> {
        if let Some(d) = &self.dialog {
            return Some((AgentState::WaitingPermission, d.tool.clone()));
        }
        match turn {
            Turn::Open(tool) => Some((AgentState::Working, tool.clone())),
            Turn::Closed => Some((AgentState::Idle, None)),
            Turn::Unknown => self.ready.then_some((AgentState::Idle, None)),
        }
    }

    /// Put the state into `u` if it changed, decided by `source`.
    pub fn report(&mut self, turn: &Turn, u: &mut Update, source: StateSource) {
        let Some(want) = self.wanted(turn) else { return };
        // AgentState (generated) has no PartialEq: compare its variant.
        let same = |a: &(AgentState, Option<String>)| {
            std::mem::discriminant(&a.0) == std::mem::discriminant(&want.0) && a.1 == want.1
        };
        if self.shown.as_ref().is_some_and(same) {
            return;
        }
        set_state(u, want.0.clone(), source, want.1.clone());
        self.shown = Some(want);
    }

    /// The record's events were appended to `u`: when they show the agent
    /// went on (a tool ran, the turn ended), the dialog was answered, even
    /// if no screen without it was captured yet.
    pub fn after_record(&mut self, u: &Update) {
        let moved_on = u.events.iter().any(|e| {
            matches!(
                e,
                AgentEvent::ToolResult(_) | AgentEvent::TaskComplete(_) | AgentEvent::TurnAborted
            )
        });
        if moved_on && let Some(d) = self.dialog.take() {
            self.answered = Some(d.key);
        }
    }

    /// The screen shows `dialog` (or none). A new dialog is asked once, as a
    /// `permission-request` naming `pending_tool` (the record's call waiting
    /// for its result) when there is one; a redraw only moves the cursor.
    pub fn on_screen(&mut self, dialog: Option<Dialog>, pending_tool: Option<&str>, u: &mut Update) {
        let Some(mut d) = dialog else {
            self.dialog = None;
            self.answered = None;
            self.confirm = None;
            self.retry = None;
            return;
        };
        match self.retry.as_mut() {
            Some(r) if r.key == d.key && d.cursor == Some(r.target) => {
                r.screens += 1;
                if r.screens >= RETRY_AFTER && r.sent < RETRIES {
                    r.screens = 0;
                    r.sent += 1;
                    u.actions.push(InputAction::Keys(vec!["Enter".into()]));
                }
            }
            Some(_) => self.retry = None,
            None => {}
        }
        // The dialog answered is still up (by its options: a redraw caught
        // mid-render may read as another question) with the cursor there.
        if let Some((options, target)) = self.confirm.clone()
            && d.options == options
            && d.cursor == Some(target)
        {
            self.confirm = None;
            self.retry = Some(Retry::new(&d.key, target));
            u.actions.push(InputAction::Keys(vec!["Enter".into()]));
        }
        if self.answered.as_ref() == Some(&d.key) {
            // Still drawn after the agent went on: not asked again.
            return;
        }
        if let Some(cur) = self.dialog.as_mut().filter(|cur| cur.key == d.key) {
            cur.cursor = d.cursor;
            if let Some(a) = self.asked.iter_mut().find(|a| a.id == cur.id) {
                a.cursor = d.cursor;
            }
            return;
        }
        self.seen += 1;
        d.id = crate::dialogs::dialog_id(&d.key, &format!("{}-{}", self.nonce, self.seen));
        if let Some(tool) = pending_tool {
            d.tool = Some(tool.to_string());
        }
        let tool = d.tool.get_or_insert_with(|| "unknown".into()).clone();
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

impl Tui {
    /// The keys answering cursor-menu dialog `id` (cursor on option index
    /// `from`) with option index `to`: Enter at once if the cursor is there,
    /// else the arrows alone — Enter follows from [`Tui::on_screen`] once
    /// the screen shows the cursor on `to`. (Arrows and Enter in one burst
    /// lost the Enter with the real Claude Code on a loaded machine: the
    /// cursor moved and the dialog stayed open.)
    pub fn menu_answer(&mut self, id: &str, from: usize, to: usize) -> Vec<InputAction> {
        if from == to {
            self.confirm = None;
            self.retry = self.asked(id).map(|d| Retry::new(&d.key, to));
            return vec![InputAction::Keys(vec!["Enter".into()])];
        }
        let options = self.asked(id).map(|d| d.options.clone()).unwrap_or_default();
        self.confirm = Some((options, to));
        vec![InputAction::Keys(crate::dialogs::menu_arrows(from, to))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialog(key: &str, cursor: Option<usize>) -> Dialog {
        Dialog {
            key: key.into(),
            id: String::new(),
            tool: None,
            description: key.into(),
            options: vec!["Yes".into(), "No".into()],
            cursor,
        }
    }

    fn requests(u: &Update) -> Vec<String> {
        u.events
            .iter()
            .filter_map(|e| match e {
                AgentEvent::PermissionRequest(p) => Some(p.permission_id.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_redraw_is_one_request_and_moves_the_cursor() {
        let mut t = Tui::new("u");
        let mut u = empty_update();
        t.on_screen(Some(dialog("edit a.py", Some(0))), Some("Edit"), &mut u);
        t.on_screen(Some(dialog("edit a.py", Some(1))), Some("Edit"), &mut u);
        let ids = requests(&u);
        assert_eq!(ids.len(), 1);
        let asked = t.asked(&ids[0]).unwrap();
        assert_eq!((asked.cursor, asked.tool.as_deref()), (Some(1), Some("Edit")));
    }

    #[test]
    fn a_dialog_the_agent_went_on_from_is_not_asked_again_but_a_new_one_is() {
        let mut t = Tui::new("u");
        let mut u = empty_update();
        t.on_screen(Some(dialog("run ls", None)), None, &mut u);
        let mut record = empty_update();
        record.events.push(AgentEvent::TurnAborted);
        t.after_record(&record);
        t.on_screen(Some(dialog("run ls", None)), None, &mut u);
        assert_eq!(requests(&u).len(), 1);
        // Gone from the screen, then asked again: a new request, a new id.
        t.on_screen(None, None, &mut u);
        t.on_screen(Some(dialog("run ls", None)), None, &mut u);
        let ids = requests(&u);
        assert_eq!(ids.len(), 2);
        assert_ne!(ids[0], ids[1]);
    }

    #[test]
    fn an_enter_the_dialog_did_not_take_is_pressed_again_a_few_times() {
        let enters = |u: &Update| {
            u.actions
                .iter()
                .filter(|a| matches!(a, InputAction::Keys(k) if k == &["Enter"]))
                .count()
        };
        let mut t = Tui::new("u");
        let mut u = empty_update();
        t.on_screen(Some(dialog("run ls", Some(0))), None, &mut u);
        let id = requests(&u)[0].clone();
        assert_eq!(t.menu_answer(&id, 0, 0).len(), 1);
        let mut u = empty_update();
        for _ in 0..RETRY_AFTER - 1 {
            t.on_screen(Some(dialog("run ls", Some(0))), None, &mut u);
        }
        assert_eq!(enters(&u), 0, "not before {RETRY_AFTER} unchanged screens");
        for _ in 0..RETRY_AFTER * 10 {
            t.on_screen(Some(dialog("run ls", Some(0))), None, &mut u);
        }
        assert_eq!(enters(&u) as u32, RETRIES - 1, "at most {RETRIES} Enters in all");
        // Once the dialog is gone nothing more is pressed, even if the
        // same question comes back.
        t.on_screen(None, None, &mut u);
        let mut u = empty_update();
        for _ in 0..RETRY_AFTER * 2 {
            t.on_screen(Some(dialog("run ls", Some(0))), None, &mut u);
        }
        assert_eq!(enters(&u), 0);
    }

    #[test]
    fn state_is_reported_once_per_change() {
        let mut t = Tui::new("u");
        let mut u = empty_update();
        t.report(&Turn::Unknown, &mut u, StateSource::Screen);
        assert!(u.state.is_none(), "nothing known before the prompt was seen");
        t.ready = true;
        t.report(&Turn::Unknown, &mut u, StateSource::Screen);
        assert!(matches!(u.state.take().map(|s| s.state), Some(AgentState::Idle)));
        t.report(&Turn::Closed, &mut u, StateSource::Transcript);
        assert!(u.state.is_none(), "idle again is no change");
        t.report(&Turn::Open(Some("Bash".into())), &mut u, StateSource::Transcript);
        let s = u.state.take().unwrap();
        assert!(matches!(s.state, AgentState::Working));
        assert_eq!(s.tool.as_deref(), Some("Bash"));
        t.on_screen(Some(dialog("run ls", None)), None, &mut u);
        t.report(&Turn::Open(Some("Bash".into())), &mut u, StateSource::Screen);
        assert!(matches!(
            u.state.take().map(|s| s.state),
            Some(AgentState::WaitingPermission)
        ));
    }
}
