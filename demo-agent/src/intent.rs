//! Keyword rules that turn a user message into the demo agent's next action.
//!
//! Matching is done on the ASCII-lower-cased message (so byte offsets line up
//! with the original), while file names, commands and text are taken from the
//! original message. When several rules match, the first of this order wins:
//! run, write, sleep, read, list — the more explicit forms first, so that
//! `read the file list.txt` reads rather than lists.

use std::path::Path;

/// Longest sleep the `sleep` tool accepts, in seconds.
pub const MAX_SLEEP_SECS: u64 = 600;

/// What the agent does for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// `list … file(s)/dir`: list the working directory.
    ListFiles,
    /// `read <file>`: show the head of a file. `found` is the last token that
    /// names an existing file in the working directory; `requested` is the
    /// last token after `read ` (used in the error when none exists).
    ReadFile {
        /// The existing file chosen, if any.
        found: Option<String>,
        /// The last candidate token.
        requested: String,
    },
    /// `run <cmd>` or ``run `cmd` ``: run a shell command.
    RunCommand {
        /// The command line for `sh -c`.
        command: String,
    },
    /// `write <file> with <text>`: write `content` (the text plus a newline).
    WriteFile {
        /// Path as given, relative to the working directory.
        path: String,
        /// The file's new content.
        content: String,
    },
    /// `sleep N`: wait N seconds (at most [`MAX_SLEEP_SECS`]).
    Sleep {
        /// Seconds to sleep.
        seconds: u64,
    },
    /// Anything else: just reply.
    Chat,
}

/// Decide what to do for `message`; `cwd` is consulted to find the file a
/// `read` message names.
pub fn parse(message: &str, cwd: &Path) -> Intent {
    let lower = message.to_ascii_lowercase();
    if let Some(command) = parse_run(message, &lower) {
        return Intent::RunCommand { command };
    }
    if let Some((path, content)) = parse_write(message, &lower) {
        return Intent::WriteFile { path, content };
    }
    if let Some(seconds) = parse_sleep(&lower) {
        return Intent::Sleep { seconds };
    }
    if let Some(intent) = parse_read(message, &lower, cwd) {
        return intent;
    }
    if lower.contains("list") && (lower.contains("file") || lower.contains("dir")) {
        return Intent::ListFiles;
    }
    Intent::Chat
}

/// Byte offsets of `needle` in `hay` where it starts a word (at the start or
/// after a non-alphanumeric character).
fn word_starts<'a>(hay: &'a str, needle: &'a str) -> impl Iterator<Item = usize> + 'a {
    hay.match_indices(needle)
        .map(|(i, _)| i)
        .filter(move |&i| i == 0 || !hay.as_bytes()[i - 1].is_ascii_alphanumeric())
}

fn parse_run(message: &str, lower: &str) -> Option<String> {
    for i in word_starts(lower, "run `") {
        let rest = &message[i + 5..];
        if let Some(end) = rest.find('`') {
            let command = rest[..end].trim();
            if !command.is_empty() {
                return Some(command.to_string());
            }
        }
    }
    let trimmed = message.trim_start();
    if trimmed.to_ascii_lowercase().starts_with("run ") {
        let command = trimmed[4..].trim();
        if !command.is_empty() {
            return Some(command.to_string());
        }
    }
    None
}

fn parse_write(message: &str, lower: &str) -> Option<(String, String)> {
    for i in word_starts(lower, "write ") {
        let after = i + "write ".len();
        let Some(with) = lower[after..].find(" with ") else {
            continue;
        };
        let target = &message[after..after + with];
        let Some(path) = target.split_whitespace().last().map(clean_token) else {
            continue;
        };
        if path.is_empty() {
            continue;
        }
        let text = message[after + with + " with ".len()..].trim();
        return Some((path.to_string(), format!("{text}\n")));
    }
    None
}

fn parse_sleep(lower: &str) -> Option<u64> {
    word_starts(lower, "sleep ").find_map(|i| {
        let digits: String = lower[i + "sleep ".len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse::<u64>().ok().map(|n| n.min(MAX_SLEEP_SECS))
    })
}

fn parse_read(message: &str, lower: &str, cwd: &Path) -> Option<Intent> {
    let i = word_starts(lower, "read ").next()?;
    let tokens: Vec<&str> = message[i + "read ".len()..].split_whitespace().collect();
    let requested = clean_token(tokens.last()?).to_string();
    let found = tokens.iter().rev().find_map(|raw| {
        [*raw, clean_token(raw)]
            .into_iter()
            .find(|t| !t.is_empty() && super::tools::is_inside(t) && cwd.join(t).is_file())
            .map(str::to_string)
    });
    Some(Intent::ReadFile { found, requested })
}

/// Strip quotes, backticks and trailing sentence punctuation from a token.
fn clean_token(token: &str) -> &str {
    token
        .trim_matches(['"', '\'', '`', '(', ')'])
        .trim_end_matches(['.', ',', ';', ':', '!', '?'])
        .trim_matches(['"', '\'', '`'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cwd_with(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            std::fs::write(dir.path().join(f), "x\n").unwrap();
        }
        dir
    }

    #[test]
    fn list_rules() {
        let d = cwd_with(&[]);
        assert_eq!(parse("list files", d.path()), Intent::ListFiles);
        assert_eq!(parse("Please LIST the directory", d.path()), Intent::ListFiles);
        assert_eq!(parse("what files are here?", d.path()), Intent::Chat);
        assert_eq!(parse("make a list", d.path()), Intent::Chat);
    }

    #[test]
    fn read_picks_last_existing_file() {
        let d = cwd_with(&["Cargo.toml", "notes.txt"]);
        let read = |m| parse(m, d.path());
        assert_eq!(
            read("read Cargo.toml"),
            Intent::ReadFile {
                found: Some("Cargo.toml".into()),
                requested: "Cargo.toml".into()
            }
        );
        assert_eq!(
            read("read the file notes.txt please"),
            Intent::ReadFile {
                found: Some("notes.txt".into()),
                requested: "please".into()
            }
        );
        assert_eq!(
            read("Read `notes.txt`."),
            Intent::ReadFile {
                found: Some("notes.txt".into()),
                requested: "notes.txt".into()
            }
        );
        assert_eq!(
            read("read the file list.txt"),
            Intent::ReadFile {
                found: None,
                requested: "list.txt".into()
            }
        );
        // Only inside the working directory.
        assert_eq!(
            read("read ../notes.txt /etc/passwd"),
            Intent::ReadFile {
                found: None,
                requested: "/etc/passwd".into()
            }
        );
        // "thread " is not "read ".
        assert_eq!(read("a thread about files"), Intent::Chat);
    }

    #[test]
    fn run_rules() {
        let d = cwd_with(&[]);
        let cmd = |c: &str| Intent::RunCommand { command: c.into() };
        assert_eq!(parse("run ls -la", d.path()), cmd("ls -la"));
        assert_eq!(parse("  Run echo Hi  ", d.path()), cmd("echo Hi"));
        assert_eq!(
            parse("please run `cargo --version` now", d.path()),
            cmd("cargo --version")
        );
        assert_eq!(parse("run `ls` to list files", d.path()), cmd("ls"));
        assert_eq!(parse("I like to run", d.path()), Intent::Chat);
        assert_eq!(parse("rerun `x`", d.path()), Intent::Chat);
    }

    #[test]
    fn write_rules() {
        let d = cwd_with(&[]);
        assert_eq!(
            parse("write hello.txt with hi there", d.path()),
            Intent::WriteFile {
                path: "hello.txt".into(),
                content: "hi there\n".into()
            }
        );
        assert_eq!(
            parse("Write the file Notes.md With Some List of files", d.path()),
            Intent::WriteFile {
                path: "Notes.md".into(),
                content: "Some List of files\n".into()
            }
        );
        assert_eq!(parse("write hello.txt", d.path()), Intent::Chat);
        assert_eq!(parse("rewrite hello.txt with x", d.path()), Intent::Chat);
    }

    #[test]
    fn sleep_rules() {
        let d = cwd_with(&[]);
        assert_eq!(parse("sleep 3", d.path()), Intent::Sleep { seconds: 3 });
        assert_eq!(
            parse("please sleep 9999 seconds", d.path()),
            Intent::Sleep {
                seconds: MAX_SLEEP_SECS
            }
        );
        assert_eq!(parse("sleep well", d.path()), Intent::Chat);
    }
}
