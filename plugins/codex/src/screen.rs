//! Reading the Codex TUI's screen: approval prompts and the idle composer.
//!
//! Approvals are never written to the rollout, so the screen is the only
//! place to see them:
//!
//! ```text
//!   Would you like to run the following command?
//!
//!   Reason: …
//!
//!   $ touch hello.txt
//!
//! › 1. Yes, proceed (y)
//!   2. Yes, and don't ask again for commands that start with `touch` (p)
//!   3. No, and tell Codex what to do differently (esc)
//!
//!   Press enter to confirm or esc to cancel
//! ```
//!
//! (`Would you like to make the following edits?` for patches.) Each option
//! names its shortcut key in parentheses. The composer (`› Ask Codex to do
//! anything`) near the bottom with no `esc to interrupt` status means idle.

pub use wasmux_sdk::tui::Dialog;

/// What the screen shows.
pub struct View {
    /// An approval prompt, if one is up.
    pub dialog: Option<Dialog>,
    /// The composer is waiting and nothing runs.
    pub idle: bool,
}

/// How many bottom lines may hold the composer.
const COMPOSER_ZONE: usize = 8;
/// How far above its options a prompt's question may be.
const DIALOG_HEIGHT: usize = 16;

/// Read a captured screen (plain text lines).
pub fn read(lines: &[String]) -> View {
    let plain: Vec<&str> = lines.iter().map(|l| l.trim()).collect();
    let dialog = find_dialog(&plain);
    let busy = plain.iter().any(|l| l.to_lowercase().contains("esc to interrupt"));
    let used = plain.iter().rposition(|l| !l.is_empty()).map_or(0, |i| i + 1);
    let composer = plain[used.saturating_sub(COMPOSER_ZONE)..used]
        .iter()
        .any(|l| l.starts_with('›') && option(l).is_none());
    View {
        idle: dialog.is_none() && !busy && composer,
        dialog,
    }
}

pub use wasmux_sdk::dialogs::option;

/// A numbered choice that is no approval prompt (`› 1. Try new model` /
/// `2. Use existing model` under "Meet GPT-6 Sol", an update offer, …):
/// Codex shows such popups over the composer at start-up. The provider
/// makes it a request for a person (tool `dialog`) instead of taking the
/// screen for the composer; its text is the description.
pub fn find_choice(lines: &[String]) -> Option<Dialog> {
    let plain: Vec<&str> = lines.iter().map(|l| l.trim()).collect();
    let (first, options) = wasmux_sdk::dialogs::numbered_options(&plain, |_| true)?;
    let top = first.saturating_sub(DIALOG_HEIGHT);
    let body: Vec<&str> = plain[top..first]
        .iter()
        .rev()
        .take_while(|l| !l.starts_with('›') && !l.starts_with('•'))
        .copied()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .filter(|l| !l.is_empty())
        .collect();
    let text = body.join(" ");
    Some(Dialog {
        key: format!("{text}\n{}", options.join("\n")),
        id: String::new(),
        tool: Some("dialog".into()),
        description: if text.is_empty() { options.join(" / ") } else { text },
        options,
        cursor: None,
    })
}

/// The key an option label names in its trailing parentheses: `y`, `a`,
/// `p`, `n` or `esc`.
pub fn shortcut(label: &str) -> Option<&str> {
    let open = label.rfind('(')?;
    let key = label[open + 1..].strip_suffix(')')?;
    (!key.is_empty() && key.len() <= 5 && !key.contains(' ')).then_some(key)
}

/// The bottom-most prompt: options 1, 2, … starting with a "Yes", under a
/// question.
fn find_dialog(plain: &[&str]) -> Option<Dialog> {
    let (first, options) = wasmux_sdk::dialogs::numbered_options(plain, |label| label.starts_with("Yes"))?;
    let top = first.saturating_sub(DIALOG_HEIGHT);
    // The question is Codex's own line, not the model's justification
    // (`Reason: …?`), which may end in a question mark too.
    let q = (top..first)
        .rev()
        .find(|&i| plain[i].ends_with('?') && !plain[i].starts_with("Reason:"))?;
    let question = plain[q];
    let details: Vec<&str> = plain[q + 1..first].iter().copied().filter(|l| !l.is_empty()).collect();
    let headline = details
        .iter()
        .find(|l| l.starts_with("$ "))
        .or(details
            .iter()
            .find(|l| !l.starts_with("Reason:") && !l.starts_with("Environment:")))
        .or(details.first());
    let description = match headline {
        Some(h) => format!("{question} — {h}"),
        None => question.to_string(),
    };
    let tool = if question.contains("run the following command") {
        Some("shell".to_string())
    } else if question.contains("make the following edits") {
        Some("apply_patch".to_string())
    } else {
        None
    };
    let key = format!("{question}\n{}", details.join("\n"));
    Some(Dialog {
        key,
        id: String::new(),
        tool,
        description,
        options,
        cursor: None,
    })
}
