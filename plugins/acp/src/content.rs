//! ACP content: text of content blocks, tool call output, and diffs as
//! unified diffs.

use serde_json::Value;

/// The text of a `ContentBlock` (`{"type":"text","text":…}`); other block
/// kinds (image, audio, resource links) are named in brackets.
pub fn block_text(block: &Value) -> String {
    match block["type"].as_str() {
        Some("text") => block["text"].as_str().unwrap_or_default().to_string(),
        Some("resource_link") => format!("[{}]", block["uri"].as_str().unwrap_or("resource")),
        Some("resource") => block["resource"]["text"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("[{}]", block["resource"]["uri"].as_str().unwrap_or("resource"))),
        Some(other) => format!("[{other}]"),
        None => String::new(),
    }
}

/// A tool call's output as JSON text: `rawOutput` when the agent gives it,
/// else the text of its `content` items as a JSON string.
pub fn tool_output(update: &Value) -> String {
    if let Some(raw) = update.get("rawOutput").filter(|r| !r.is_null()) {
        return raw.to_string();
    }
    let text: Vec<String> = update["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"] == "content")
        .map(|c| block_text(&c["content"]))
        .collect();
    Value::String(text.join("\n")).to_string()
}

/// A file change: path, old text (none: a new file), new text.
pub type Diff = (String, Option<String>, String);

/// The `diff` items of a tool call's content: (path, oldText, newText).
pub fn diffs(update: &Value) -> Vec<Diff> {
    update["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"] == "diff")
        .map(|c| {
            (
                c["path"].as_str().unwrap_or_default().to_string(),
                c["oldText"].as_str().map(str::to_string),
                c["newText"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A unified diff replacing `old` (none: a new file) with `new` as one hunk.
pub fn unified(path: &str, old: Option<&str>, new: &str) -> String {
    let old_lines: Vec<&str> = old.map(|o| o.lines().collect()).unwrap_or_default();
    let new_lines: Vec<&str> = new.lines().collect();
    let from = if old.is_some() {
        format!("a{path}")
    } else {
        "/dev/null".into()
    };
    let mut out = format!("--- {from}\n+++ b{path}\n");
    out.push_str(&format!(
        "@@ -{},{} +{},{} @@\n",
        usize::from(!old_lines.is_empty()),
        old_lines.len(),
        usize::from(!new_lines.is_empty()),
        new_lines.len()
    ));
    for l in old_lines {
        out.push_str(&format!("-{l}\n"));
    }
    for l in new_lines {
        out.push_str(&format!("+{l}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outputs_and_diffs() {
        let update = json!({"content": [
            {"type": "content", "content": {"type": "text", "text": "one"}},
            {"type": "diff", "path": "/p/a.txt", "oldText": "x\n", "newText": "y\nz\n"},
            {"type": "content", "content": {"type": "text", "text": "two"}}
        ]});
        assert_eq!(tool_output(&update), r#""one\ntwo""#);
        assert_eq!(tool_output(&json!({"rawOutput": {"n": 1}})), r#"{"n":1}"#);
        let d = diffs(&update);
        assert_eq!(
            d,
            [("/p/a.txt".to_string(), Some("x\n".to_string()), "y\nz\n".to_string())]
        );
        assert_eq!(
            unified("/p/a.txt", Some("x\n"), "y\nz\n"),
            "--- a/p/a.txt\n+++ b/p/a.txt\n@@ -1,1 +1,2 @@\n-x\n+y\n+z\n"
        );
        assert!(unified("/p/new", None, "n\n").starts_with("--- /dev/null\n"));
    }
}
