//! Codex's `apply_patch` envelopes to file edits.
//!
//! ```text
//! *** Begin Patch
//! *** Update File: hello.py
//! @@
//! -print("Hello")
//! +print("Hello, world!")
//! *** Add File: NOTES.md
//! +first line
//! *** Delete File: old.txt
//! *** End Patch
//! ```
//!
//! `*** Move to: <path>` after an `Update File` header renames the file.

use serde_json::Value;
use wasmux_sdk::FileEdit;

/// The patch text carried by a tool call's input, if any: Codex sends it as
/// `apply_patch`'s freeform input, as `{"input": …}`, or as an argument of a
/// shell call (`["apply_patch", "<patch>"]`, a heredoc in `cmd`).
pub fn find(input: &Value) -> Option<String> {
    match input {
        Value::String(s) => {
            let start = s.find("*** Begin Patch")?;
            let end = s[start..]
                .find("*** End Patch")
                .map_or(s.len(), |e| start + e + "*** End Patch".len());
            Some(s[start..end].to_string())
        }
        Value::Array(items) => items.iter().find_map(find),
        Value::Object(fields) => fields.values().find_map(find),
        _ => None,
    }
}

/// One file edit per file the patch touches.
pub fn file_edits(patch: &str) -> Vec<FileEdit> {
    let mut edits: Vec<Section> = Vec::new();
    for line in patch.lines() {
        if let Some(p) = line.strip_prefix("*** Add File: ") {
            edits.push(Section::new(Kind::Add, p));
        } else if let Some(p) = line.strip_prefix("*** Update File: ") {
            edits.push(Section::new(Kind::Update, p));
        } else if let Some(p) = line.strip_prefix("*** Delete File: ") {
            edits.push(Section::new(Kind::Delete, p));
        } else if let Some(to) = line.strip_prefix("*** Move to: ") {
            if let Some(s) = edits.last_mut() {
                s.moved_to = Some(to.trim().to_string());
            }
        } else if line.starts_with("*** ") {
            // Begin/End Patch, End of File.
        } else if let Some(s) = edits.last_mut() {
            s.body.push_str(line);
            s.body.push('\n');
        }
    }
    edits.into_iter().map(Section::into_edit).collect()
}

#[derive(Clone, Copy)]
enum Kind {
    Add,
    Update,
    Delete,
}

struct Section {
    kind: Kind,
    path: String,
    moved_to: Option<String>,
    body: String,
}

impl Section {
    fn new(kind: Kind, path: &str) -> Section {
        Section {
            kind,
            path: path.trim().to_string(),
            moved_to: None,
            body: String::new(),
        }
    }

    fn into_edit(self) -> FileEdit {
        let path = self.path;
        let (description, old, new) = match (self.kind, &self.moved_to) {
            (Kind::Add, _) => (format!("Added {path}"), "/dev/null".to_string(), path.clone()),
            (Kind::Delete, _) => (format!("Deleted {path}"), path.clone(), "/dev/null".to_string()),
            (Kind::Update, Some(to)) => (format!("Moved {path} to {to}"), path.clone(), to.clone()),
            (Kind::Update, None) => (format!("Updated {path}"), path.clone(), path.clone()),
        };
        let diff = (!self.body.is_empty()).then(|| format!("--- {old}\n+++ {new}\n{}", self.body));
        FileEdit {
            file_path: path,
            description,
            diff,
        }
    }
}
