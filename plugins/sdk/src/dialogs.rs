//! Reading agent TUIs' dialogs from a captured screen, shared by the
//! terminal providers (`claude-code`, `codex`): numbered option lines,
//! cursor menus, the "always" kind of yes, and dialog ids.

use crate::*;

/// 64-bit FNV-1a: a stable, dependency-free hash for dialog ids.
pub fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A permission id for a dialog asking `key` (what is asked, nothing that
/// redraws), salted with `salt` (e.g. the turn it appeared in) so the same
/// question asked again later is a new request.
pub fn dialog_id(key: &str, salt: &str) -> String {
    format!("perm-{:012x}", fnv1a(&format!("{salt}\n{key}")) & 0xffff_ffff_ffff)
}

/// A value unique to one session launch (the session's uuid and a random
/// seed): salts permission ids so a question asked again in another turn,
/// launch or session is another request.
pub fn launch_nonce(session_uuid: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(session_uuid.as_bytes());
    format!("{session_uuid}-{:016x}", h.finish())
}

/// `(number, label)` of a numbered option line such as `❯ 1. Yes` or
/// `› 2. Yes, and don't ask again (p)`.
pub fn option(line: &str) -> Option<(usize, String)> {
    let s = line.trim_start_matches(['❯', '>', '›', ' ']);
    let (num, rest) = s.split_once(". ")?;
    let n: usize = num.parse().ok()?;
    ((1..=9).contains(&n) && !rest.trim().is_empty()).then(|| (n, rest.trim().to_string()))
}

/// The bottom-most numbered option list whose `1.` label passes `first`:
/// the index of that line and the labels `1.`, `2.`, … that follow it in
/// order, if there are at least two.
pub fn numbered_options<S: AsRef<str>>(plain: &[S], first: impl Fn(&str) -> bool) -> Option<(usize, Vec<String>)> {
    let start = (0..plain.len())
        .rev()
        .find(|&i| option(plain[i].as_ref()).is_some_and(|(n, label)| n == 1 && first(&label)))?;
    let mut options = Vec::new();
    for line in &plain[start..] {
        match option(line.as_ref()) {
            Some((n, label)) if n == options.len() + 1 => options.push(label),
            _ => break,
        }
    }
    (options.len() >= 2).then_some((start, options))
}

/// The keywords of an "allow and don't ask again" option, lower case with
/// straight apostrophes (see [`is_always`]).
pub const ALWAYS_KEYWORDS: &[&str] = &[
    "don't ask again",
    "do not ask again",
    "allow all",
    "during this session",
    "for this session",
    "always",
];

/// Whether an option label is the "don't ask again" kind of yes. Curly
/// apostrophes (`don’t`, as Claude Code draws them) count as straight ones.
pub fn is_always(label: &str) -> bool {
    let l = label.to_lowercase().replace(['\u{2019}', '\u{2018}'], "'");
    ALWAYS_KEYWORDS.iter().any(|k| l.contains(k))
}

/// A cursor menu: options drawn one per line, the selected one marked with
/// a cursor (`❯`, `›` or `>`), chosen with the arrow keys and Enter.
#[derive(Clone, Debug, PartialEq)]
pub struct Menu {
    /// Index of the first option line on screen.
    pub first_line: usize,
    /// Option labels, top to bottom.
    pub options: Vec<String>,
    /// Which option the cursor is on.
    pub cursor: usize,
}

const CURSORS: [char; 3] = ['❯', '›', '>'];

/// The bottom-most cursor menu on screen (not numbered options, not an
/// input line): a cursor line `❯ label` with at least one neighbouring line
/// indented like its label.
pub fn find_menu(lines: &[String]) -> Option<Menu> {
    let indent = |l: &str| l.chars().take_while(|c| *c == ' ').count();
    for at in (0..lines.len()).rev() {
        let line = lines[at].trim_end();
        let lead = indent(line);
        let rest = &line[lead..];
        let Some(c) = rest.chars().next().filter(|c| CURSORS.contains(c)) else {
            continue;
        };
        let label = rest[c.len_utf8()..].trim();
        if label.is_empty() || option(rest).is_some() {
            continue;
        }
        let label_col = lead + 2;
        let sibling = |l: &str| {
            let l = l.trim_end();
            indent(l) == label_col && !l.trim().is_empty() && l.trim().chars().all(|c| c != '─')
        };
        let mut top = at;
        while top > 0 && sibling(&lines[top - 1]) {
            top -= 1;
        }
        let mut bottom = at;
        while bottom + 1 < lines.len() && sibling(&lines[bottom + 1]) {
            bottom += 1;
        }
        if top == bottom {
            continue;
        }
        let options = (top..=bottom)
            .map(|i| {
                if i == at {
                    label.to_string()
                } else {
                    lines[i].trim().to_string()
                }
            })
            .collect();
        return Some(Menu {
            first_line: top,
            options,
            cursor: at - top,
        });
    }
    None
}

/// The arrow keys that move a menu's cursor from `from` to option `to`.
pub fn menu_arrows(from: usize, to: usize) -> Vec<String> {
    let key = if to < from { "Up" } else { "Down" };
    std::iter::repeat_n(key.to_string(), from.abs_diff(to)).collect()
}

/// The keys that move a menu's cursor from `from` to option `to` and pick
/// it, in one burst (see `Tui::menu_answer` for TUIs that may lose the
/// Enter of a burst).
pub fn menu_keys(from: usize, to: usize) -> Vec<InputAction> {
    let mut keys = menu_arrows(from, to);
    keys.push("Enter".into());
    vec![InputAction::Keys(keys)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(str::to_string).collect()
    }

    #[test]
    fn a_curly_apostrophe_is_still_dont_ask_again() {
        assert!(is_always("Yes, and don’t ask again for touch commands"));
        assert!(is_always("Yes, and don't ask again"));
        assert!(!is_always("Yes"));
        assert!(!is_always("No, and tell Claude what to do differently"));
    }

    #[test]
    fn a_cursor_menu_is_read_with_its_cursor() {
        let screen = lines(
            " Quick safety check: Is this a project you trust?\n\n ❯ No, exit\n   Yes, I trust this folder\n\n Enter to confirm",
        );
        let m = find_menu(&screen).expect("a menu");
        assert_eq!(m.options, ["No, exit", "Yes, I trust this folder"]);
        assert_eq!(m.cursor, 0);
        assert_eq!(m.first_line, 2);
        let keys = menu_keys(0, 1);
        assert!(matches!(&keys[0], InputAction::Keys(k) if k == &["Down", "Enter"]));
    }

    #[test]
    fn an_input_line_or_numbered_options_are_no_cursor_menu() {
        assert_eq!(find_menu(&lines("────────\n❯ \n────────")), None);
        assert_eq!(find_menu(&lines("────────\n❯ hello there\n────────")), None);
        assert_eq!(find_menu(&lines(" ❯ 1. Yes\n   2. No")), None);
    }

    #[test]
    fn ids_differ_by_salt_and_question() {
        assert_ne!(dialog_id("q", "turn-1"), dialog_id("q", "turn-2"));
        assert_eq!(dialog_id("q", "turn-1"), dialog_id("q", "turn-1"));
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
    }
}
