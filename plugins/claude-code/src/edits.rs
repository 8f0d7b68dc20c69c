//! File edits from Claude Code's editing tools: `Edit{file_path,
//! old_string, new_string}`, `MultiEdit{file_path, edits[]}`,
//! `Write{file_path, content}` and `NotebookEdit{notebook_path}`. A
//! `file-edit` is reported once the tool's result says it succeeded; the
//! diff comes from the result's `structuredPatch` (real line numbers) when
//! Claude Code recorded one, else from the tool input.

use serde_json::Value;
use wasmux_sdk::FileEdit;

/// The file edit a successful call of `tool` with `input` made, given the
/// record's `toolUseResult` (`outcome`); `None` for tools that edit nothing.
pub fn file_edit(tool: &str, input: &Value, outcome: &Value) -> Option<FileEdit> {
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let (path, description, diff) = match tool {
        "Edit" => {
            let path = text(input, "file_path");
            let pairs = vec![(text(input, "old_string"), text(input, "new_string"))];
            let diff = patch_diff(&path, outcome).unwrap_or_else(|| replace_diff(&path, &pairs));
            (path.clone(), format!("Edited {path}"), Some(diff))
        }
        "MultiEdit" => {
            let path = text(input, "file_path");
            let pairs: Vec<(String, String)> = input["edits"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| (text(e, "old_string"), text(e, "new_string")))
                .collect();
            let diff = patch_diff(&path, outcome).unwrap_or_else(|| replace_diff(&path, &pairs));
            let n = pairs.len();
            (
                path.clone(),
                format!("Applied {n} edit{} to {path}", plural(n)),
                Some(diff),
            )
        }
        "Write" => {
            let path = text(input, "file_path");
            let verb = if outcome["type"] == "create" {
                "Created"
            } else {
                "Wrote"
            };
            let diff = patch_diff(&path, outcome).unwrap_or_else(|| new_file_diff(&path, &text(input, "content")));
            (path.clone(), format!("{verb} {path}"), Some(diff))
        }
        "NotebookEdit" => {
            let path = text(input, "notebook_path");
            (path.clone(), format!("Edited notebook {path}"), None)
        }
        _ => return None,
    };
    (!path.is_empty()).then_some(FileEdit {
        file_path: path,
        description,
        diff,
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A unified diff from `toolUseResult.structuredPatch` hunks
/// (`{oldStart, oldLines, newStart, newLines, lines}`), if there are any.
fn patch_diff(path: &str, outcome: &Value) -> Option<String> {
    let hunks = outcome["structuredPatch"].as_array().filter(|h| !h.is_empty())?;
    let mut diff = format!("--- {path}\n+++ {path}\n");
    for h in hunks {
        let n = |k: &str| h[k].as_u64().unwrap_or(0);
        diff.push_str(&format!(
            "@@ -{},{} +{},{} @@\n",
            n("oldStart"),
            n("oldLines"),
            n("newStart"),
            n("newLines")
        ));
        for line in h["lines"].as_array().into_iter().flatten() {
            diff.push_str(line.as_str().unwrap_or_default());
            diff.push('\n');
        }
    }
    Some(diff)
}

/// A diff of string replacements (no line numbers: the input has none).
fn replace_diff(path: &str, pairs: &[(String, String)]) -> String {
    let mut diff = format!("--- {path}\n+++ {path}\n");
    for (old, new) in pairs {
        diff.push_str("@@\n");
        for line in old.lines() {
            diff.push_str(&format!("-{line}\n"));
        }
        for line in new.lines() {
            diff.push_str(&format!("+{line}\n"));
        }
    }
    diff
}

/// A diff creating `path` with `content`.
fn new_file_diff(path: &str, content: &str) -> String {
    let mut diff = format!("--- /dev/null\n+++ {path}\n@@ -0,0 +1,{} @@\n", content.lines().count());
    for line in content.lines() {
        diff.push_str(&format!("+{line}\n"));
    }
    diff
}
