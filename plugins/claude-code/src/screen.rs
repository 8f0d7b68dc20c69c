//! Reading Claude Code's screen: its permission dialogs and its idle prompt.
//!
//! A permission dialog is a box (or, in newer versions, a block under a
//! rule) with a header such as `Bash command`, `Edit file` or `Create file`,
//! details (the command, the path, a diff), a question (`Do you want to
//! proceed?`, `Do you want to make this edit to hello.py?`, `Do you trust
//! the files in this folder?`) and numbered options whose first one is a
//! "Yes": `❯ 1. Yes`, `2. Yes, and don't ask again …`, `3. No, and tell
//! Claude what to do differently (esc)` (newer versions: `❯ 1. Yes`,
//! `2. Yes, and always allow access to … from this project`, …, `4. No`,
//! under a rule instead of in a box, with a rotating `Tip:` line and the
//! `esc to interrupt` status still drawn above). Pressing the digit answers
//! it; the id ignores the cursor, the tip and everything outside the dialog
//! so redraws of one dialog keep one id.
//!
//! The idle prompt is the input line (`> ` inside a box, or under a rule)
//! near the bottom of the screen while no `esc to interrupt` status is shown.

pub use wasmux_sdk::tui::Dialog;

/// What the screen shows.
pub struct View {
    /// A permission dialog, if one is up.
    pub dialog: Option<Dialog>,
    /// The input prompt is waiting and nothing runs.
    pub idle: bool,
    /// The footer under the input shows its hints (`? for shortcuts`):
    /// Claude Code finished starting. The prompt is drawn (and takes typed
    /// text) before that, but an Enter pressed then may be lost.
    pub settled: bool,
}

/// How many bottom lines may hold the input prompt.
const PROMPT_ZONE: usize = 10;
/// How far above the options a dialog may start.
const DIALOG_HEIGHT: usize = 24;

/// Read a captured screen (plain text lines).
pub fn read(lines: &[String]) -> View {
    let plain: Vec<String> = lines.iter().map(|l| strip_box(l)).collect();
    let dialog = find_dialog(lines, &plain).or_else(|| find_menu_dialog(lines, &plain));
    let busy = lines.iter().any(|l| l.to_lowercase().contains("esc to interrupt"));
    let used = plain.iter().rposition(|l| !l.is_empty()).map_or(0, |i| i + 1);
    let prompt = plain[used.saturating_sub(PROMPT_ZONE)..used]
        .iter()
        .any(|l| is_prompt(l));
    let settled = plain[used.saturating_sub(PROMPT_ZONE)..used]
        .iter()
        .any(|l| l.contains("for shortcuts"));
    View {
        idle: dialog.is_none() && !busy && prompt,
        settled,
        dialog,
    }
}

/// `line` without box-drawing borders and surrounding blanks (nested boxes
/// too); a line of only box characters becomes empty.
pub fn strip_box(line: &str) -> String {
    let mut s = line.trim();
    loop {
        let t = s.strip_prefix('│').or_else(|| s.strip_suffix('│')).map(str::trim);
        match t {
            Some(t) => s = t,
            None => break,
        }
    }
    if s.chars().all(|c| "╭╮╰╯─│┌┐└┘ ".contains(c)) {
        return String::new();
    }
    s.to_string()
}

pub use wasmux_sdk::dialogs::option;

fn is_prompt(line: &str) -> bool {
    (line == ">" || line == "❯" || line.starts_with("> ") || line.starts_with("❯ ")) && option(line).is_none()
}

fn is_rule(raw: &str) -> bool {
    let t = raw.trim();
    t.chars().count() >= 8 && t.chars().all(|c| c == '─' || c == '━')
}

/// The bottom-most dialog: options 1, 2, … starting with a "Yes", under a
/// question.
fn find_dialog(raw: &[String], plain: &[String]) -> Option<Dialog> {
    let (first, options) = wasmux_sdk::dialogs::numbered_options(plain, |label| label.starts_with("Yes"))?;
    let top = dialog_top(raw, first);
    // Tips rotate while a dialog is up; they are not part of what is asked.
    let body: Vec<&str> = plain[top..first]
        .iter()
        .map(String::as_str)
        .filter(|l| !l.is_empty() && !l.starts_with("Tip:"))
        .collect();
    let q = body.iter().rposition(|l| l.ends_with('?'))?;
    let question = body[q];
    let header = if q > 0 { body[0] } else { "" };
    let details: Vec<&str> = body
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != q && (i > 0 || q == 0))
        .map(|(_, l)| *l)
        .collect();
    let mut summary: Vec<&str> = Vec::new();
    if !header.is_empty() {
        summary.push(header);
    }
    if let Some(d) = details.first() {
        summary.push(d);
    }
    let description = if summary.is_empty() {
        question.to_string()
    } else {
        format!("{} — {question}", summary.join(": "))
    };
    let key = format!("{header}\n{}\n{question}", details.join("\n"));
    Some(Dialog {
        key,
        id: String::new(),
        tool: tool_named(header, question).map(str::to_string),
        description,
        // 2.1.3xx draws a cursor on its numbered options too (`❯ 1. Yes`):
        // a digit then may only move it, so the answer goes by the cursor.
        cursor: plain[first..first + options.len()]
            .iter()
            .position(|l| l.trim_start().starts_with(['❯', '›'])),
        options,
    })
}

/// A dialog drawn as a cursor menu (`❯ No, exit` / `Yes, I trust this
/// folder`, `Enter to confirm`): Claude Code's folder-trust dialog ("Quick
/// safety check: Is this a project you created or one you trust?") and any
/// other choice it asks for before its input prompt. Its text (up to the
/// rule above it) is the description.
fn find_menu_dialog(raw: &[String], plain: &[String]) -> Option<Dialog> {
    let menu = wasmux_sdk::dialogs::find_menu(raw)?;
    let top = dialog_top(raw, menu.first_line);
    let body: Vec<&str> = plain[top..menu.first_line]
        .iter()
        .map(String::as_str)
        .filter(|l| !l.is_empty() && !l.starts_with("Tip:"))
        .collect();
    let text = body.join(" ");
    let trust = text.contains("trust");
    let question = body
        .iter()
        .find(|l| l.contains('?'))
        .map(|l| l.to_string())
        .unwrap_or_else(|| text.clone());
    let description = if trust { text.clone() } else { question };
    Some(Dialog {
        key: format!("{text}\n{}", menu.options.join("\n")),
        id: String::new(),
        tool: Some(if trust { "trust" } else { "dialog" }.to_string()),
        description,
        options: menu.options,
        cursor: Some(menu.cursor),
    })
}

/// First line of the dialog holding the option on line `first`: below the
/// box's top border when the dialog is boxed, else below a rule, a tool
/// line (`⏺ Bash(…)`) or a blank band.
fn dialog_top(raw: &[String], first: usize) -> usize {
    let boxed = raw[first].trim_start().starts_with('│');
    let lowest = first.saturating_sub(DIALOG_HEIGHT);
    let mut i = first;
    while i > lowest {
        let above = raw[i - 1].trim_start();
        let edge = if boxed {
            !above.starts_with('│')
        } else {
            is_rule(above) || above.starts_with('⏺') || above.starts_with('●')
        };
        if edge {
            break;
        }
        i -= 1;
    }
    i
}

/// The tool a dialog's header or question names.
fn tool_named(header: &str, question: &str) -> Option<&'static str> {
    let by_header = match header {
        "Bash command" => Some("Bash"),
        "Edit file" => Some("Edit"),
        "Create file" => Some("Write"),
        "Edit notebook" => Some("NotebookEdit"),
        "Fetch" => Some("WebFetch"),
        "Read file" => Some("Read"),
        _ => None,
    };
    by_header.or(if question.starts_with("Do you want to make this edit") {
        Some("Edit")
    } else if question.starts_with("Do you want to create") {
        Some("Write")
    } else if question.starts_with("Do you trust the files") || question.contains("one you trust?") {
        Some("trust")
    } else {
        None
    })
}
