//! Property-based fuzzing of the terminal stream's client-message decoder
//! (issue 13): `serde_json::from_str::<ClientMessage>`, exactly as the
//! connection loop calls it on every text frame.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::protocol::ClientMessage;

use crate::fuzz_kit::fuzz;

fn decode(text: &str) -> Result<ClientMessage, serde_json::Error> {
    serde_json::from_str(text)
}

/// Fragments of (mostly broken) client messages.
fn json_ish() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "\"type\"",
        "\"input\"",
        "\"keys\"",
        "\"resize\"",
        "\"resume\"",
        "\"snapshot-request\"",
        "\"permission-answer\"",
        "\"data\"",
        "\"cols\"",
        "\"rows\"",
        "\"lastSeq\"",
        "\"epoch\"",
        "\"permissionId\"",
        "\"decision\"",
        "null",
        "true",
        "0",
        "-1",
        "65535",
        "65536",
        "18446744073709551615",
        "18446744073709551616",
        "1e400",
        "-0.0",
        "2.5",
        "\"\\ud800\"",
        "\"\\udc00\\ud800\"",
        "\"\\u00e9\"",
        "\"\\x\"",
        "\\",
        " ",
        "\n",
        "\u{0}",
        "é",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":",
    ];
    let piece = prop_oneof![
        6 => prop::sample::select(PIECES).prop_map(str::to_string),
        1 => any::<String>(),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|p| p.concat())
}

#[test]
fn client_message_decoder_never_panics_on_arbitrary_text() {
    fuzz("stream client message arbitrary text", 20_000, 31, json_ish(), |text| {
        if let Err(e) = decode(&text) {
            // The text of `invalid message: {e}` sent back to the client.
            prop_assert!(!e.to_string().is_empty());
        }
        Ok(())
    });
}

/// A client message as the test models it.
#[derive(Debug, Clone)]
enum Msg {
    /// `lastSeq` and `epoch`: outer `None` leaves the field out, inner
    /// `None` is `null`.
    Resume(Option<Option<u64>>, Option<Option<String>>),
    SnapshotRequest,
    Input(String),
    Keys(Vec<String>),
    Resize(u16, u16),
    PermissionAnswer(String, String),
}

fn unicode() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
        prop::sample::select(vec!["", "\"", "\\", "\u{0}", "\u{feff}", "😀", "C-c", "Enter", "allow"])
            .prop_map(str::to_string),
    ]
}

fn msg() -> impl Strategy<Value = Msg> {
    let edge_u64 = prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()];
    let edge_u16 = prop_oneof![Just(0u16), Just(u16::MAX), any::<u16>()];
    prop_oneof![
        (
            prop::option::of(prop::option::of(edge_u64)),
            prop::option::of(prop::option::of(unicode()))
        )
            .prop_map(|(s, e)| Msg::Resume(s, e)),
        Just(Msg::SnapshotRequest),
        unicode().prop_map(Msg::Input),
        prop::collection::vec(unicode(), 0..6).prop_map(Msg::Keys),
        (edge_u16.clone(), edge_u16).prop_map(|(c, r)| Msg::Resize(c, r)),
        (unicode(), unicode()).prop_map(|(p, d)| Msg::PermissionAnswer(p, d)),
    ]
}

impl Msg {
    /// The message's JSON fields, `type` first.
    fn fields(&self) -> Vec<(String, Value)> {
        let mut f = vec![("type", json!(self.type_name()))];
        match self {
            Msg::Resume(seq, epoch) => {
                if let Some(s) = seq {
                    f.push(("lastSeq", json!(s)));
                }
                if let Some(e) = epoch {
                    f.push(("epoch", json!(e)));
                }
            }
            Msg::SnapshotRequest => {}
            Msg::Input(data) => f.push(("data", json!(data))),
            Msg::Keys(keys) => f.push(("keys", json!(keys))),
            Msg::Resize(cols, rows) => f.extend([("cols", json!(cols)), ("rows", json!(rows))]),
            Msg::PermissionAnswer(id, decision) => {
                f.extend([("permissionId", json!(id)), ("decision", json!(decision))]);
            }
        }
        f.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    fn type_name(&self) -> &'static str {
        match self {
            Msg::Resume(..) => "resume",
            Msg::SnapshotRequest => "snapshot-request",
            Msg::Input(_) => "input",
            Msg::Keys(_) => "keys",
            Msg::Resize(..) => "resize",
            Msg::PermissionAnswer(..) => "permission-answer",
        }
    }

    /// Whether `decoded` carries exactly this message's values.
    fn matches(&self, decoded: &ClientMessage) -> bool {
        match (self, decoded) {
            (Msg::Resume(s, e), ClientMessage::Resume { last_seq, epoch }) => {
                s.flatten() == *last_seq && e.clone().flatten() == *epoch
            }
            (Msg::SnapshotRequest, ClientMessage::SnapshotRequest {}) => true,
            (Msg::Input(d), ClientMessage::Input { data }) => d == data,
            (Msg::Keys(k), ClientMessage::Keys { keys }) => k == keys,
            (Msg::Resize(c, r), ClientMessage::Resize { cols, rows }) => (c, r) == (cols, rows),
            (
                Msg::PermissionAnswer(p, d),
                ClientMessage::PermissionAnswer {
                    permission_id,
                    decision,
                },
            ) => (p, d) == (permission_id, decision),
            _ => false,
        }
    }
}

/// A JSON string literal of `s`; with `ascii`, every non-ASCII character
/// (and some ASCII ones) as `\u` escapes, astral ones as surrogate pairs.
fn json_string(s: &str, ascii: bool) -> String {
    if !ascii {
        return serde_json::to_string(s).unwrap();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' if c != 'a' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04X}"));
                }
            }
        }
    }
    out.push('"');
    out
}

/// JSON text of `v` with strings written by [`json_string`].
fn render(v: &Value, ascii: bool) -> String {
    match v {
        Value::String(s) => json_string(s, ascii),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(|i| render(i, ascii)).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// `{…}` of `fields` in the order of the sort keys `order`, with `ws`
/// (whitespace) around every token.
fn object(fields: &[(String, Value)], order: &[u8], ws: &str, ascii: bool) -> String {
    let mut f: Vec<(u8, &(String, Value))> = order.iter().copied().cycle().zip(fields).collect();
    f.sort_by_key(|(k, _)| *k);
    let body: Vec<String> = f
        .iter()
        .map(|(_, (k, v))| format!("{ws}{}{ws}:{ws}{}{ws}", json_string(k, ascii), render(v, ascii)))
        .collect();
    format!("{ws}{{{}}}{ws}", body.join(","))
}

fn whitespace() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", " ", "\n", "\t", "\r\n  "]).prop_map(str::to_string)
}

#[test]
fn client_messages_decode_to_exactly_the_values_sent() {
    let input = (
        msg(),
        prop::collection::vec(any::<u8>(), 1..6),
        whitespace(),
        any::<bool>(),
    );
    fuzz(
        "stream client message round trip",
        50_000,
        32,
        input,
        |(m, order, ws, ascii)| {
            let text = object(&m.fields(), &order, &ws, ascii);
            match decode(&text) {
                Ok(d) => prop_assert!(m.matches(&d), "{text} decoded to {d:?}"),
                Err(e) => prop_assert!(false, "{text} was refused: {e}"),
            }
            Ok(())
        },
    );
}

/// Ways to spoil a valid message.
#[derive(Debug, Clone)]
enum Spoil {
    /// An extra field (`deny_unknown_fields`).
    Extra(String, Value),
    /// An unknown or misspelt `type`.
    Type(Value),
    /// Drop a required field (not `lastSeq` or `epoch`, which may be
    /// left out).
    Drop(usize),
    /// Send a field twice, the second time with another value.
    Twice(usize, Value),
    /// A value of the wrong shape or out of range for a field.
    Bad(usize, Value),
}

fn spoil() -> impl Strategy<Value = Spoil> {
    let bad_value = prop::sample::select(vec![
        json!(null),
        json!(-1),
        json!(65536),
        json!(18446744073709551615u64),
        json!(2.5),
        json!("x"),
        json!([1]),
        json!({"a": 1}),
        json!(true),
    ]);
    prop_oneof![
        (
            prop::sample::select(vec![
                "extra",
                "Type",
                "TYPE",
                "last_seq",
                "lastseq",
                "permission_id",
                "col",
                ""
            ]),
            bad_value.clone()
        )
            .prop_map(|(k, v)| Spoil::Extra(k.to_string(), v)),
        prop::sample::select(vec![
            json!("Input"),
            json!("snapshot_request"),
            json!("snapshotRequest"),
            json!("resize "),
            json!(""),
            json!(null),
            json!(1),
            json!(["input"]),
        ])
        .prop_map(Spoil::Type),
        any::<usize>().prop_map(Spoil::Drop),
        (any::<usize>(), bad_value.clone()).prop_map(|(i, v)| Spoil::Twice(i, v)),
        (any::<usize>(), bad_value).prop_map(|(i, v)| Spoil::Bad(i, v)),
    ]
}

#[test]
fn client_message_decoder_refuses_unknown_fields_types_and_bad_values() {
    let input = (msg(), spoil(), prop::collection::vec(any::<u8>(), 1..6));
    fuzz(
        "stream client message refusals",
        50_000,
        33,
        input,
        |(m, spoil, order)| {
            let mut fields = m.fields();
            let required: Vec<usize> = (1..fields.len())
                .filter(|&i| !matches!(fields[i].0.as_str(), "lastSeq" | "epoch"))
                .collect();
            match spoil {
                Spoil::Extra(k, v) => fields.push((k, v)),
                Spoil::Type(t) => fields[0].1 = t,
                Spoil::Twice(i, v) => {
                    let i = i % fields.len();
                    fields.push((fields[i].0.clone(), v));
                }
                Spoil::Drop(i) if !required.is_empty() => {
                    fields.remove(required[i % required.len()]);
                }
                Spoil::Bad(i, v) if !required.is_empty() => {
                    let i = required[i % required.len()];
                    // Still valid for that field: not a spoiled message.
                    let fine = match (fields[i].0.as_str(), &v) {
                        ("cols" | "rows", Value::Number(n)) => n.as_u64().is_some_and(|n| n <= 65535),
                        ("keys", Value::Array(a)) => a.is_empty(),
                        ("data" | "permissionId" | "decision", Value::String(_)) => true,
                        _ => false,
                    };
                    if fine {
                        return Ok(());
                    }
                    fields[i].1 = v;
                }
                Spoil::Drop(_) | Spoil::Bad(..) => return Ok(()),
            }
            let text = object(&fields, &order, "", false);
            let decoded = decode(&text);
            prop_assert!(decoded.is_err(), "{text} was accepted as {decoded:?}");
            Ok(())
        },
    );
}
