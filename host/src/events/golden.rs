//! Every event variant against its golden JSON (`tests/fixtures/events`):
//! the typed core writes exactly the wire format the untyped one did.

use serde_json::json;

use super::*;
use crate::store::MessageStatus;

fn variants() -> Vec<Event> {
    vec![
        Event::Message {
            message: "Done: hello.py now says hello, world.".into(),
        },
        Event::Reasoning {
            message: "Look at the files first.".into(),
        },
        Event::Thinking {
            text: "The user wants a greeting.".into(),
        },
        Event::ToolCall {
            call_id: "call_1".into(),
            name: "Bash".into(),
            input: json!({"command": "ls -la"}),
        },
        Event::ToolResult {
            call_id: "call_1".into(),
            output: json!("hello.py\n"),
            is_error: false,
        },
        Event::FileEdit {
            file_path: "/work/hello.py".into(),
            description: "Edit hello.py".into(),
            diff: Some("@@ -1 +1 @@\n-print('hi')\n+print('hello, world')\n".into()),
        },
        Event::TerminalOutput {
            data: "hello\r\n".into(),
            call_id: None,
        },
        Event::TaskStarted,
        Event::TaskComplete {
            exit_code: Some(0),
            summary: None,
        },
        Event::TurnAborted,
        Event::PermissionRequest {
            permission_id: "perm_2_1".into(),
            tool_name: "Edit".into(),
            description: "Edit hello.py".into(),
            options: vec!["allow".into(), "always".into(), "deny".into()],
        },
        Event::PermissionResolved {
            permission_id: "perm_2_1".into(),
            decision: crate::events::Decision::Allow,
            tool_name: "Edit".into(),
        },
        Event::TokenCount {
            input: 1200,
            output: 60,
            cache_read: 1024,
            cache_creation: 0,
        },
        Event::Extension {
            kind: "plan".into(),
            data: json!({"steps": ["read", "edit"]}),
        },
        Event::State {
            value: AgentState::WaitingPermission,
            source: StateSource::Screen,
            tool: Some("Edit".into()),
        },
        Event::OutputLost {
            after_seq: 41,
            bytes: Some(65536),
            reason: "the pipe sink could not write: No space left on device".into(),
        },
        Event::Steer {
            text: "use tabs".into(),
        },
        Event::MessageQueued {
            id: "msg_1".into(),
            text: "list the files".into(),
            position: 1,
            source: "api".into(),
        },
        Event::MessageStarted { id: "msg_1".into() },
        Event::MessageDone {
            id: "msg_1".into(),
            response: "two files".into(),
        },
        Event::MessageFailed {
            id: "msg_1".into(),
            status: MessageStatus::Aborted,
            error: "aborted".into(),
        },
    ]
}

fn golden(kind: &str) -> String {
    let path = format!("{}/../tests/fixtures/events/{kind}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_variant_matches_its_golden_json() {
    let all = variants();
    let dir = format!("{}/../tests/fixtures/events", env!("CARGO_MANIFEST_DIR"));
    let files = std::fs::read_dir(&dir).unwrap().filter(|e| {
        e.as_ref()
            .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
    });
    assert_eq!(files.count(), all.len(), "one golden file per variant in {dir}");
    for event in all {
        let kind = event.kind();
        let env = Envelope::new("s1", 7, 1000, event.clone());
        assert_eq!(env.json(), golden(kind).trim_end(), "{kind}");
        let back = Envelope::parse(7, golden(kind));
        assert_eq!(back.event, event, "{kind} parses back");
        assert_eq!(back.ts, 1000);
        assert_eq!(env.stored().kind, kind);
    }
}

#[test]
fn long_strings_are_cut_in_the_text_and_the_event() {
    let long = "x".repeat(MAX_FIELD + 10);
    let env = Envelope::new("s1", 1, 1, Event::Message { message: long });
    let Event::Message { message } = &env.event else {
        panic!("{:?}", env.event)
    };
    assert!(
        message.ends_with("…[10 bytes cut]"),
        "{}",
        &message[message.len() - 40..]
    );
    assert!(env.json().len() < MAX_FIELD + 200);
}

#[test]
fn an_unknown_stored_type_keeps_its_text() {
    let body = r#"{"seq":3,"session":"s1","ts":5,"type":"from-the-future","x":1}"#.to_string();
    let env = Envelope::parse(3, body.clone());
    assert_eq!((&env.event, env.json(), env.ts), (&Event::Unknown, body.as_str(), 5));
}
