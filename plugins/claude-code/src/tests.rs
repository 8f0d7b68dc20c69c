//! Unit tests of the transcript reader, the screen reader and the answers,
//! on shapes the e2e fixture does not cover (older and newer Claude Code
//! versions). Run natively: `cd plugins && cargo test -p wasmux-claude-code`.

use serde_json::json;
use wasmux_sdk::*;

use crate::ClaudeSession;
use crate::screen;
use crate::transcript::{Transcript, Turn};

fn kinds(events: &[AgentEvent]) -> Vec<&'static str> {
    events.iter().map(event_type).collect()
}

fn feed(t: &mut Transcript, records: &[serde_json::Value]) -> Vec<AgentEvent> {
    let mut out = Vec::new();
    for r in records {
        t.feed(&r.to_string(), &mut out);
    }
    out
}

fn assistant(id: &str, content: serde_json::Value, stop: Option<&str>, output: u64) -> serde_json::Value {
    json!({"type": "assistant", "message": {"id": id, "role": "assistant", "content": [content],
        "stop_reason": stop, "usage": {"input_tokens": 3, "output_tokens": output}}})
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_string).collect()
}

#[test]
fn old_transcripts_without_turn_marks_end_when_the_screen_is_idle() {
    // Claude Code 1.0.x: stop_reason stays null, no turn_duration.
    let mut t = Transcript::new();
    let out = feed(
        &mut t,
        &[
            json!({"type": "user", "message": {"role": "user", "content": "hi"}}),
            assistant("m1", json!({"type": "text", "text": "Hello!"}), None, 1),
        ],
    );
    assert_eq!(kinds(&out), ["task-started", "message"]);
    assert!(t.maybe_done);
    let mut out = Vec::new();
    assert!(t.close_from_screen(&mut out));
    assert_eq!(kinds(&out), ["token-count", "task-complete"]);
    assert_eq!(t.turn, Turn::Closed);
}

#[test]
fn end_turn_and_turn_duration_end_one_turn_once() {
    let mut t = Transcript::new();
    let out = feed(
        &mut t,
        &[
            json!({"type": "user", "message": {"role": "user", "content": "hi"}}),
            assistant("m1", json!({"type": "text", "text": "Hi."}), Some("end_turn"), 4),
            json!({"type": "system", "subtype": "stop_hook_summary"}),
            json!({"type": "system", "subtype": "turn_duration", "durationMs": 900}),
        ],
    );
    assert_eq!(kinds(&out), ["task-started", "message", "token-count", "task-complete"]);
}

#[test]
fn usage_is_reported_once_per_message_with_its_last_counts() {
    let mut t = Transcript::new();
    let out = feed(
        &mut t,
        &[
            json!({"type": "user", "message": {"role": "user", "content": "go"}}),
            assistant("m1", json!({"type": "text", "text": "Listing."}), None, 2),
            assistant(
                "m1",
                json!({"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}}),
                None,
                40,
            ),
            json!({"type": "user", "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "a"}]}}),
        ],
    );
    assert_eq!(
        kinds(&out),
        ["task-started", "message", "tool-call", "token-count", "tool-result"]
    );
    let AgentEvent::TokenCount(c) = &out[3] else { panic!() };
    assert_eq!(c.output, 40);
    assert_eq!(t.turn, Turn::Open(None));
}

#[test]
fn a_refused_edit_is_no_edit_and_the_interruption_aborts_the_turn() {
    let mut t = Transcript::new();
    let edit = json!({"type": "tool_use", "id": "t1", "name": "Edit",
        "input": {"file_path": "/p/a.py", "old_string": "a", "new_string": "b"}});
    let out = feed(
        &mut t,
        &[
            json!({"type": "user", "message": {"role": "user", "content": "edit"}}),
            assistant("m1", edit, None, 5),
            json!({"type": "user", "message": {"role": "user", "content": [{"type": "tool_result",
                "tool_use_id": "t1", "is_error": true, "content": "The user doesn't want to proceed with this tool use."}]}}),
            json!({"type": "user", "message": {"role": "user", "content": [{"type": "text",
                "text": "[Request interrupted by user for tool use]"}]}}),
        ],
    );
    assert_eq!(
        kinds(&out),
        [
            "task-started",
            "tool-call",
            "token-count",
            "tool-result",
            "turn-aborted"
        ]
    );
    assert_eq!(t.turn, Turn::Closed);
}

#[test]
fn edits_without_a_structured_patch_diff_their_input() {
    let mut t = Transcript::new();
    let write = json!({"type": "tool_use", "id": "t1", "name": "Write",
        "input": {"file_path": "/p/new.txt", "content": "one\ntwo\n"}});
    let out = feed(
        &mut t,
        &[
            json!({"type": "user", "message": {"role": "user", "content": "write"}}),
            assistant("m1", write, None, 5),
            json!({"type": "user", "toolUseResult": {"type": "create", "filePath": "/p/new.txt"},
                "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}}),
        ],
    );
    let AgentEvent::FileEdit(e) = out.last().unwrap() else {
        panic!("{:?}", kinds(&out))
    };
    assert_eq!(e.description, "Created /p/new.txt");
    assert_eq!(
        e.diff.as_deref(),
        Some("--- /dev/null\n+++ /p/new.txt\n@@ -0,0 +1,2 @@\n+one\n+two\n")
    );
}

#[test]
fn meta_sidechain_and_local_command_records_start_no_turn() {
    let mut t = Transcript::new();
    let out = feed(
        &mut t,
        &[
            json!({"type": "user", "isMeta": true, "message": {"role": "user", "content": "Caveat: …"}}),
            json!({"type": "user", "message": {"role": "user", "content": "<command-name>/clear</command-name>"}}),
            json!({"type": "user", "isSidechain": true, "message": {"role": "user", "content": "sub-agent task"}}),
            json!({"type": "summary", "summary": "Greeting tweaks", "leafUuid": "x"}),
        ],
    );
    assert!(out.is_empty(), "{:?}", kinds(&out));
    assert_eq!(t.turn, Turn::Unknown);
}

/// A permission dialog as Claude Code 2.1.283 draws it (from sanitised
/// public captures): under a rule, with a rotating tip, four options.
fn bash_dialog(tip: &str, cursor: usize, status: &str) -> Vec<String> {
    let options = [
        "1. Yes",
        "2. Yes, and always allow access to /srv/repo from this project",
        "3. Yes, and switch to auto mode · auto mode handles these prompts for you",
        "4. No",
    ];
    let mut s = format!(
        "❯ run touch screen-a\n\n{status}\n  ⎿  $ touch screen-a\n\n{}\n Bash command\n {tip}\n\n   touch screen-a\n   Create empty file screen-a\n\n Do you want to proceed?\n",
        "─".repeat(80)
    );
    for (i, o) in options.iter().enumerate() {
        s.push_str(if i + 1 == cursor { " ❯ " } else { "   " });
        s.push_str(o);
        s.push('\n');
    }
    s.push_str("\n Esc to cancel · Tab to amend\n");
    lines(&s)
}

#[test]
fn newer_dialogs_are_read_and_keep_their_id_across_redraws() {
    let first = screen::read(&bash_dialog(
        "Tip: auto mode handles these prompts",
        1,
        "✻ Crafting… (3s · esc to interrupt)",
    ));
    let d = first.dialog.expect("dialog");
    assert!(!first.idle);
    assert_eq!(d.tool.as_deref(), Some("Bash"));
    assert_eq!(d.description, "Bash command: touch screen-a — Do you want to proceed?");
    assert_eq!(d.options.len(), 4);
    let again = screen::read(&bash_dialog(
        "Tip: press Tab to amend",
        3,
        "✶ Crafting… (1m 9s · esc to interrupt)",
    ));
    assert_eq!(again.dialog.unwrap().key, d.key);
}

#[test]
fn boxed_and_trust_dialogs_are_read() {
    let edit = lines(
        "⏺ Update(hello.py)\n\n╭────────────────────╮\n│ Edit file          │\n│ hello.py           │\n│ ╭────────────────╮ │\n│ │ 1 - print(\"a\")  │ │\n│ ╰────────────────╯ │\n│ Do you want to make this edit to hello.py? │\n│ ❯ 1. Yes           │\n│   2. Yes, and don't ask again this session (shift+tab) │\n│   3. No, and tell Claude what to do differently (esc) │\n╰────────────────────╯",
    );
    let d = screen::read(&edit).dialog.expect("edit dialog");
    assert_eq!(d.tool.as_deref(), Some("Edit"));
    assert_eq!(
        d.description,
        "Edit file: hello.py — Do you want to make this edit to hello.py?"
    );
    let trust = lines(
        "╭──────────────────╮\n│ Do you trust the files in this folder? │\n│                  │\n│ /home/dev/greeter │\n│                  │\n│ ❯ 1. Yes, proceed │\n│   2. No, exit     │\n╰──────────────────╯\n   Enter to confirm · Esc to exit",
    );
    let d = screen::read(&trust).dialog.expect("trust dialog");
    assert_eq!(d.tool.as_deref(), Some("trust"));
    assert_eq!(
        d.description,
        "/home/dev/greeter — Do you trust the files in this folder?"
    );
}

#[test]
fn idle_is_the_input_line_without_a_running_status() {
    let rule = "─".repeat(60);
    let idle = lines(&format!("⏺ Done.\n\n{rule}\n❯ \n{rule}\n  ? for shortcuts"));
    assert!(screen::read(&idle).idle);
    let busy = lines(&format!(
        "✻ Thinking… (esc to interrupt)\n\n{rule}\n❯ \n{rule}\n  ? for shortcuts"
    ));
    assert!(!screen::read(&busy).idle);
    let list = lines("⏺ Two changes:\n  1. Yes, the label\n  2. The fixture\n\n│ > │\n  ? for shortcuts");
    let view = screen::read(&list);
    assert!(view.dialog.is_none(), "an answer's numbered list is no dialog");
    assert!(view.idle);
}

#[test]
fn answers_pick_the_option_of_the_matching_kind() {
    let mut s = ClaudeSession::new(test_request("s", "/p"));
    let u = s.feed_screen(test_screen(bash_dialog("Tip: x", 1, "✻ Crafting…"), 1));
    let Some(AgentEvent::PermissionRequest(p)) = u.events.first() else {
        panic!("no request")
    };
    assert!(matches!(
        u.state.as_ref().map(|s| &s.state),
        Some(AgentState::WaitingPermission)
    ));
    let key = |s: &mut ClaudeSession, d| match s.encode_permission(&p.permission_id, d) {
        Ok(a) => format!("{a:?}"),
        Err(e) => e.message,
    };
    // The cursor is on `❯ 1. Yes`: answers go by the cursor (a digit may
    // only move it), Enter once the screen shows it on the choice.
    assert_eq!(
        key(&mut s, PermissionDecision::Allow),
        r#"[InputAction::Keys(["Enter"])]"#
    );
    assert_eq!(
        key(&mut s, PermissionDecision::Always),
        r#"[InputAction::Keys(["Down"])]"#
    );
    assert_eq!(
        key(&mut s, PermissionDecision::Deny),
        r#"[InputAction::Keys(["Down", "Down", "Down"])]"#
    );
    assert!(s.encode_permission("perm-unknown", PermissionDecision::Allow).is_err());
}

/// Claude Code 2.1.332's records of one reply `[thinking, text]`: one
/// record per block, both with the message's `stop_reason` and usage.
fn per_block_reply(id: &str, output: u64) -> Vec<serde_json::Value> {
    vec![
        assistant(
            id,
            json!({"type": "thinking", "thinking": "Let me think."}),
            Some("end_turn"),
            output,
        ),
        assistant(
            id,
            json!({"type": "text", "text": "The real answer."}),
            Some("end_turn"),
            output,
        ),
    ]
}

#[test]
fn a_reply_opening_with_thinking_ends_after_its_last_record() {
    let mut t = Transcript::new();
    let mut records = vec![json!({"type": "user", "message": {"role": "user", "content": "hi"}})];
    records.extend(per_block_reply("m1", 60));
    let out = feed(&mut t, &records);
    // Still open: the message may have more records.
    assert_eq!(kinds(&out), ["task-started", "thinking", "message"]);
    assert!(matches!(t.turn, Turn::Open(_)));
    let out = feed(&mut t, &[json!({"type": "system", "subtype": "turn_duration"})]);
    assert_eq!(kinds(&out), ["token-count", "task-complete"]);
    let AgentEvent::TokenCount(c) = &out[0] else { panic!() };
    assert_eq!(c.output, 60, "counted once, not once per record");
    assert_eq!(t.turn, Turn::Closed);
}

#[test]
fn the_next_prompt_ends_a_turn_whose_end_was_not_marked() {
    let mut t = Transcript::new();
    let mut records = vec![json!({"type": "user", "message": {"role": "user", "content": "hi"}})];
    records.extend(per_block_reply("m1", 7));
    records.push(json!({"type": "user", "message": {"role": "user", "content": "again"}}));
    let out = feed(&mut t, &records);
    assert_eq!(
        kinds(&out),
        [
            "task-started",
            "thinking",
            "message",
            "token-count",
            "task-complete",
            "task-started"
        ]
    );
}

#[test]
fn synthetic_records_of_an_interrupt_are_no_message_and_no_usage() {
    let mut t = Transcript::new();
    let out = feed(
        &mut t,
        &[
            json!({"type": "user", "message": {"role": "user", "content": "go"}}),
            json!({"type": "user", "message": {"role": "user", "content": [{"type": "text",
                "text": "[Request interrupted by user]"}]}}),
            json!({"type": "assistant", "message": {"id": "s1", "model": "<synthetic>", "role": "assistant",
                "content": [{"type": "text", "text": "No response requested."}], "stop_reason": "stop_sequence",
                "usage": {"input_tokens": 0, "output_tokens": 0}}}),
        ],
    );
    assert_eq!(kinds(&out), ["task-started", "turn-aborted"]);
    assert_eq!(t.turn, Turn::Closed);
}

/// Claude Code 2.1.332's folder-trust dialog, as captured from the real CLI.
fn trust_menu(cursor: usize) -> Vec<String> {
    let rule = "─".repeat(100);
    let opts = ["No, exit", "Yes, I trust this folder"];
    let mut s = format!(
        "\n{rule}\n Accessing workspace:\n\n /tmp/p\n\n Quick safety check: Is this a project you created or one you trust? (Like your own code, a well-known open source\n project, or work from your team). If not, take a moment to review what's in this folder first.\n\n Claude Code'll be able to read, edit, and execute files here.\n\n Security guide\n\n"
    );
    for (i, o) in opts.iter().enumerate() {
        s.push_str(if i == cursor { " ❯ " } else { "   " });
        s.push_str(o);
        s.push('\n');
    }
    s.push_str("\n Enter to confirm · Esc to cancel\n");
    lines(&s)
}

#[test]
fn the_quick_safety_check_trust_dialog_is_a_request_answered_with_the_cursor() {
    let view = screen::read(&trust_menu(0));
    assert!(!view.idle, "a dialog is no input prompt");
    let d = view.dialog.expect("the trust dialog");
    assert_eq!(d.tool.as_deref(), Some("trust"));
    assert!(d.description.contains("Quick safety check"), "{}", d.description);
    assert_eq!(d.options, ["No, exit", "Yes, I trust this folder"]);
    let mut s = ClaudeSession::new(test_request("s", "/tmp/p"));
    let u = s.feed_screen(test_screen(trust_menu(0), 1));
    let Some(AgentEvent::PermissionRequest(p)) = u.events.first() else {
        panic!("no request")
    };
    let id = p.permission_id.clone();
    let keys = |s: &mut ClaudeSession, d| format!("{:?}", s.encode_permission(&id, d).unwrap());
    assert_eq!(
        keys(&mut s, PermissionDecision::Deny),
        r#"[InputAction::Keys(["Enter"])]"#
    );
    // Allow: the arrow alone; Enter only once the screen shows the cursor
    // on "Yes" (arrows and Enter in one burst lost the Enter under load).
    assert_eq!(
        keys(&mut s, PermissionDecision::Allow),
        r#"[InputAction::Keys(["Down"])]"#
    );
    let u = s.feed_screen(test_screen(trust_menu(0), 2));
    assert!(u.actions.is_empty(), "the cursor is not there yet");
    // The cursor moved (a redraw of the same dialog): still one request,
    // and now the Enter.
    let u = s.feed_screen(test_screen(trust_menu(1), 3));
    assert!(u.events.is_empty());
    assert_eq!(format!("{:?}", u.actions), r#"[InputAction::Keys(["Enter"])]"#);
    let u = s.feed_screen(test_screen(trust_menu(1), 4));
    assert!(u.actions.is_empty(), "Enter goes once");
    assert_eq!(
        keys(&mut s, PermissionDecision::Allow),
        r#"[InputAction::Keys(["Enter"])]"#
    );
}

#[test]
fn the_same_dialog_in_a_later_turn_is_a_new_request() {
    let mut s = ClaudeSession::new(test_request("s", "/p"));
    let id = |u: &Update| match u.events.first() {
        Some(AgentEvent::PermissionRequest(p)) => p.permission_id.clone(),
        _ => panic!("no request"),
    };
    let first = id(&s.feed_screen(test_screen(bash_dialog("Tip: x", 1, "✻ Crafting…"), 1)));
    let rule = "─".repeat(60);
    s.feed_screen(test_screen(lines(&format!("{rule}\n❯ \n{rule}")), 2));
    let second = id(&s.feed_screen(test_screen(bash_dialog("Tip: x", 1, "✻ Crafting…"), 3)));
    assert_ne!(first, second);
    let other = ClaudeSession::new(test_request("s2", "/p")).feed_screen(test_screen(bash_dialog("Tip: x", 1, "✻"), 1));
    assert_ne!(id(&other), first, "another session's request has another id");
}

#[test]
fn always_matches_a_curly_apostrophe() {
    let mut s = ClaudeSession::new(test_request("s", "/p"));
    let rule = "─".repeat(80);
    let screen = lines(&format!(
        "{rule}\n Bash command\n\n   touch a\n\n Do you want to proceed?\n ❯ 1. Yes\n   2. Yes, and don’t ask again for touch commands in /p\n   3. No\n"
    ));
    let u = s.feed_screen(test_screen(screen, 1));
    let Some(AgentEvent::PermissionRequest(p)) = u.events.first() else {
        panic!("no request")
    };
    let a = s
        .encode_permission(&p.permission_id, PermissionDecision::Always)
        .unwrap();
    assert_eq!(format!("{a:?}"), r#"[InputAction::Keys(["Down"])]"#);
}
