//! Unit tests of the rollout reader, patch parsing, the screen reader and
//! the answers, on shapes the e2e fixture does not cover (older CLIs, failed
//! commands, shell-applied patches). Run natively:
//! `cd plugins && cargo test -p wasmux-codex`.

use serde_json::json;
use wasmux_sdk::*;

use crate::CodexSession;
use crate::rollout::{Rollout, Turn};
use crate::{patch, screen};

fn kinds(events: &[AgentEvent]) -> Vec<&'static str> {
    events.iter().map(event_type).collect()
}

fn feed(r: &mut Rollout, records: &[serde_json::Value]) -> Vec<AgentEvent> {
    let mut out = Vec::new();
    for rec in records {
        r.feed(&rec.to_string(), &mut out);
    }
    out
}

fn ev(payload: serde_json::Value) -> serde_json::Value {
    json!({"timestamp": "2026-01-14T10:00:00.000Z", "type": "event_msg", "payload": payload})
}

fn item(payload: serde_json::Value) -> serde_json::Value {
    json!({"timestamp": "2026-01-14T10:00:00.000Z", "type": "response_item", "payload": payload})
}

fn answer(text: &str) -> serde_json::Value {
    item(json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}))
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_string).collect()
}

#[test]
fn older_clis_start_at_user_message_and_end_on_the_idle_screen() {
    let mut r = Rollout::new("/p");
    let out = feed(
        &mut r,
        &[
            ev(json!({"type": "user_message", "message": "hi", "images": []})),
            ev(json!({"type": "agent_message", "message": "Hello."})),
            answer("Hello."),
        ],
    );
    assert_eq!(kinds(&out), ["task-started", "message"]);
    let mut out = Vec::new();
    assert!(r.close_from_screen(&mut out));
    assert_eq!(kinds(&out), ["task-complete"]);
    assert_eq!(r.turn, Turn::Closed);
}

#[test]
fn marked_turns_are_not_ended_by_the_screen() {
    let mut r = Rollout::new("/p");
    feed(
        &mut r,
        &[
            ev(json!({"type": "task_started", "turn_id": "t"})),
            answer("Working on it."),
        ],
    );
    assert!(!r.close_from_screen(&mut Vec::new()));
    let out = feed(&mut r, &[ev(json!({"type": "turn_complete", "turn_id": "t"}))]);
    assert_eq!(kinds(&out), ["task-complete"]);
}

#[test]
fn failed_commands_and_repeated_usage() {
    let mut r = Rollout::new("/p");
    let usage = |total: u64| {
        ev(json!({"type": "token_count", "info": {
            "total_token_usage": {"input_tokens": total, "cached_input_tokens": 0, "output_tokens": 0, "total_tokens": total},
            "last_token_usage": {"input_tokens": 100, "cached_input_tokens": 60, "output_tokens": 7, "total_tokens": 107}}}))
    };
    let out = feed(
        &mut r,
        &[
            ev(json!({"type": "task_started"})),
            ev(json!({"type": "token_count", "info": null, "rate_limits": {}})),
            item(json!({"type": "function_call", "name": "shell", "call_id": "c1",
                "arguments": "{\"command\":[\"bash\",\"-lc\",\"false\"]}"})),
            item(json!({"type": "function_call_output", "call_id": "c1",
                "output": "{\"output\":\"\",\"metadata\":{\"exit_code\":1,\"duration_seconds\":0.0}}"})),
            item(
                json!({"type": "function_call", "name": "exec_command", "call_id": "c2", "arguments": "{\"cmd\":\"make\"}"}),
            ),
            item(json!({"type": "function_call_output", "call_id": "c2",
                "output": "Chunk ID: 1\nWall time: 0.1 seconds\nProcess exited with code 2\nOutput:\nerror"})),
            usage(107),
            usage(107),
        ],
    );
    assert_eq!(
        kinds(&out),
        [
            "task-started",
            "tool-call",
            "tool-result",
            "tool-call",
            "tool-result",
            "token-count"
        ]
    );
    let errors: Vec<bool> = out
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ToolResult(t) => Some(t.is_error),
            _ => None,
        })
        .collect();
    assert_eq!(errors, [true, true]);
    let AgentEvent::TokenCount(t) = out.last().unwrap() else {
        panic!()
    };
    assert_eq!(
        (t.input, t.cache_read, t.output),
        (40, 60, 7),
        "cached input is not new input"
    );
}

#[test]
fn patches_applied_through_the_shell_are_file_edits_once_they_succeed() {
    let mut r = Rollout::new("/p");
    let patch = "*** Begin Patch\n*** Add File: notes.md\n+hello\n*** Update File: a.py\n*** Move to: b.py\n@@\n-x\n+y\n*** Delete File: old.txt\n*** End Patch";
    let out = feed(
        &mut r,
        &[
            ev(json!({"type": "task_started"})),
            item(json!({"type": "function_call", "name": "shell", "call_id": "c1",
                "arguments": json!({"command": ["apply_patch", patch]}).to_string()})),
            item(json!({"type": "function_call_output", "call_id": "c1",
                "output": "{\"output\":\"Success. Updated the following files:\\nA notes.md\\nM b.py\\nD old.txt\\n\",\"metadata\":{\"exit_code\":0}}"})),
        ],
    );
    let edits: Vec<(String, String, Option<String>)> = out
        .iter()
        .filter_map(|e| match e {
            AgentEvent::FileEdit(f) => Some((f.file_path.clone(), f.description.clone(), f.diff.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        edits,
        [
            (
                "notes.md".into(),
                "Added notes.md".into(),
                Some("--- /dev/null\n+++ notes.md\n+hello\n".into())
            ),
            (
                "a.py".into(),
                "Moved a.py to b.py".into(),
                Some("--- a.py\n+++ b.py\n@@\n-x\n+y\n".into())
            ),
            ("old.txt".into(), "Deleted old.txt".into(), None),
        ]
    );
    assert_eq!(patch::file_edits("no patch here").len(), 0);
}

#[test]
fn aborted_turns_and_rejected_patches() {
    let mut r = Rollout::new("/p");
    let out = feed(
        &mut r,
        &[
            ev(json!({"type": "task_started"})),
            item(
                json!({"type": "custom_tool_call", "name": "apply_patch", "call_id": "c1",
                "input": "*** Begin Patch\n*** Update File: a.py\n@@\n-a\n+b\n*** End Patch"}),
            ),
            item(
                json!({"type": "custom_tool_call_output", "call_id": "c1", "output": "Exit code: 1\nOutput:\npatch rejected"}),
            ),
            ev(json!({"type": "turn_aborted", "reason": "interrupted"})),
        ],
    );
    assert_eq!(
        kinds(&out),
        ["task-started", "tool-call", "tool-result", "turn-aborted"]
    );
}

/// An approval prompt as Codex 0.146.0 draws it (from sanitised public
/// captures).
fn approval(cursor: usize, status: &str, banner: bool) -> Vec<String> {
    let mut s = String::from("╭──────────────────╮\n│ >_ OpenAI Codex (v0.146.0) │\n╰──────────────────╯\n\n");
    if banner {
        s.push_str("• You have 1 usage limit reset available. Run /usage to use one.\n\n");
    }
    s.push_str(&format!(
        "› Use your shell tool to run: touch screen-a\n\n{status}\n\n  Would you like to run the following command?\n\n  Environment: local\n\n  $ touch screen-a\n\n"
    ));
    let options = [
        "1. Yes, proceed (y)",
        "2. Yes, and don't ask again for commands that start with `touch screen-a` (p)",
        "3. No, and tell Codex what to do differently (esc)",
    ];
    for (i, o) in options.iter().enumerate() {
        s.push_str(if i + 1 == cursor { "› " } else { "  " });
        s.push_str(o);
        s.push('\n');
    }
    s.push_str("\n  Press enter to confirm or esc to cancel\n");
    lines(&s)
}

#[test]
fn approvals_are_read_and_keep_their_id_across_redraws() {
    let view = screen::read(&approval(1, "• Working (3s • esc to interrupt)", true));
    let d = view.dialog.expect("approval");
    assert!(!view.idle);
    assert_eq!(d.tool.as_deref(), Some("shell"));
    assert_eq!(
        d.description,
        "Would you like to run the following command? — $ touch screen-a"
    );
    assert_eq!(screen::shortcut(&d.options[1]), Some("p"));
    let again = screen::read(&approval(3, "• Working (41s • esc to interrupt)", false));
    assert_eq!(again.dialog.unwrap().key, d.key);
}

#[test]
fn idle_is_the_composer_without_a_running_status() {
    let idle = lines("codex\nDone.\n\n› Ask Codex to do anything\n\n  ⏎ send   ⇧⏎ newline   ⌃T transcript   ⌃C quit");
    assert!(screen::read(&idle).idle);
    let busy = lines("• Working (8s • esc to interrupt)\n\n› Ask Codex to do anything\n\n  ⏎ send");
    assert!(!screen::read(&busy).idle);
}

#[test]
fn answers_use_the_option_shortcuts() {
    let mut s = CodexSession::new(test_request("s", "/p"));
    let u = s.feed_screen(test_screen(approval(1, "• Working", false), 1));
    let Some(AgentEvent::PermissionRequest(p)) = u.events.first() else {
        panic!("no request")
    };
    let key = |s: &mut CodexSession, d| format!("{:?}", s.encode_permission(&p.permission_id, d).unwrap());
    assert_eq!(key(&mut s, PermissionDecision::Allow), r#"[InputAction::Text("y")]"#);
    assert_eq!(key(&mut s, PermissionDecision::Always), r#"[InputAction::Text("p")]"#);
    assert_eq!(
        key(&mut s, PermissionDecision::Deny),
        r#"[InputAction::Keys(["Escape"])]"#
    );
}

#[test]
fn a_refused_patch_is_a_failed_result_and_no_edit() {
    // Codex 0.171.0, the approval answered "No": the output says so.
    let mut r = Rollout::new("/p");
    let out = feed(
        &mut r,
        &[
            ev(json!({"type": "task_started"})),
            item(
                json!({"type": "custom_tool_call", "name": "apply_patch", "call_id": "c1",
                "input": "*** Begin Patch\n*** Update File: a.py\n@@\n-a\n+b\n*** End Patch"}),
            ),
            item(json!({"type": "custom_tool_call_output", "call_id": "c1", "output": "aborted by user after 3.2s"})),
        ],
    );
    assert_eq!(kinds(&out), ["task-started", "tool-call", "tool-result"]);
    let AgentEvent::ToolResult(t) = &out[2] else { panic!() };
    assert!(t.is_error, "{t:?}");
}

#[test]
fn a_refused_command_is_a_failed_result() {
    // Codex 0.171.0, an escalated `exec_command` answered "No".
    let mut r = Rollout::new("/p");
    let out = feed(
        &mut r,
        &[
            ev(json!({"type": "task_started"})),
            item(json!({"type": "function_call", "name": "exec_command", "call_id": "c1",
                "arguments": "{\"cmd\":\"touch a\"}"})),
            item(
                json!({"type": "function_call_output", "call_id": "c1", "output": "Wall time: 0.4 seconds\naborted by user"}),
            ),
        ],
    );
    assert_eq!(kinds(&out), ["task-started", "tool-call", "tool-result"]);
    let AgentEvent::ToolResult(t) = &out[2] else { panic!() };
    assert!(t.is_error, "{t:?}");
}

#[test]
fn a_justification_ending_in_a_question_mark_is_not_the_question() {
    let screen = lines(
        "› fix it\n\n  Would you like to run the following command?\n\n  Reason: Shall I create the file?\n\n  $ touch a\n\n› 1. Yes, proceed (y)\n  2. No, and tell Codex what to do differently (esc)\n",
    );
    let d = screen::read(&screen).dialog.expect("approval");
    assert_eq!(
        d.description,
        "Would you like to run the following command? — $ touch a"
    );
    assert_eq!(d.tool.as_deref(), Some("shell"));
}

#[test]
fn the_same_prompt_in_a_later_turn_is_a_new_request() {
    let mut s = CodexSession::new(test_request("s", "/p"));
    let id = |u: &Update| match u.events.first() {
        Some(AgentEvent::PermissionRequest(p)) => p.permission_id.clone(),
        _ => panic!("no request"),
    };
    let first = id(&s.feed_screen(test_screen(approval(1, "• Working", false), 1)));
    s.feed_screen(test_screen(lines("› Ask Codex to do anything"), 2));
    let second = id(&s.feed_screen(test_screen(approval(1, "• Working", false), 3)));
    assert_ne!(first, second);
}

/// Codex 0.171.0's model-migration popup, as captured from the real CLI.
fn migration() -> Vec<String> {
    lines(
        "  Meet GPT-6 Sol\n  Our latest Sol is more intelligent and more efficient so your usage limits go further. This model is a great daily\n  driver for complex tasks, especially coding.\n\n› 1. Try new model\n  2. Use existing model\n\n  enter/esc confirm · ^c quit\n",
    )
}

#[test]
fn a_popup_before_the_composer_is_a_request_for_a_person_not_idle() {
    let mut s = CodexSession::new(test_request("s", "/p"));
    let u = s.feed_screen(test_screen(migration(), 1));
    let Some(AgentEvent::PermissionRequest(p)) = u.events.first() else {
        panic!("no request: {:?}", u.events.iter().map(event_type).collect::<Vec<_>>())
    };
    assert_eq!(p.tool_name, "dialog");
    assert!(p.description.starts_with("Meet GPT-6 Sol"), "{}", p.description);
    assert!(matches!(
        u.state.as_ref().map(|s| &s.state),
        Some(AgentState::WaitingPermission)
    ));
    let key = |s: &mut CodexSession, d| format!("{:?}", s.encode_permission(&p.permission_id, d).unwrap());
    assert_eq!(key(&mut s, PermissionDecision::Allow), r#"[InputAction::Text("1")]"#);
    assert_eq!(key(&mut s, PermissionDecision::Deny), r#"[InputAction::Text("2")]"#);
    // Once the composer shows, the session is idle.
    let u = s.feed_screen(test_screen(lines("› Ask Codex to do anything\n\n  ? for shortcuts"), 2));
    assert!(matches!(u.state.as_ref().map(|s| &s.state), Some(AgentState::Idle)));
}
