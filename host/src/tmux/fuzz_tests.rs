//! Property-based fuzzing of the control-mode parser (issue 13): arbitrary
//! bytes never panic it and parse the same however they are split, and
//! tmux's `%output` escaping and reply framing round-trip exactly.

use proptest::prelude::*;

use super::control::{Event, Parser, unescape};

use crate::fuzz_kit::fuzz;

/// Feeds `data` to a fresh parser in pieces cut at `cuts` (taken modulo
/// the length, in any order).
fn parse_split(data: &[u8], cuts: &[usize]) -> Vec<Event> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    cuts.sort_unstable();
    let mut parser = Parser::new();
    let mut out = Vec::new();
    let mut at = 0;
    for c in cuts {
        parser.feed(&data[at..c], &mut out);
        at = c;
    }
    parser.feed(&data[at..], &mut out);
    out
}

/// tmux's `%output` escaping (control.c): bytes below 0x20 and `\` as
/// `\ooo`, everything else as itself.
fn escape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for &b in data {
        if b < 0x20 || b == b'\\' {
            out.extend_from_slice(format!("\\{b:03o}").as_bytes());
        } else {
            out.push(b);
        }
    }
    out
}

/// Pieces of control-mode text that make interesting streams when glued
/// together at random: prefixes, reply keys, escapes, line ends, bad UTF-8.
fn token() -> impl Strategy<Value = Vec<u8>> {
    const PIECES: &[&[u8]] = &[
        b"%begin ",
        b"%end ",
        b"%error ",
        b"%output %",
        b"%output ",
        b"%exit",
        b"%exit ",
        b"%window-close @",
        b"%layout-change ",
        b"%",
        b"12 34 1",
        b"12 34 0",
        b"\\",
        b"\\0",
        b"\\01",
        b"\\033",
        b"\\134",
        b"\\377",
        b"\\777",
        b"\\8",
        b"\n",
        b"\r\n",
        b"\r",
        b" ",
        b"\xc3",
        b"\xa9",
        b"\xff",
    ];
    prop_oneof![
        4 => prop::sample::select(PIECES).prop_map(<[u8]>::to_vec),
        2 => prop::collection::vec(any::<u8>(), 0..8),
        1 => prop_oneof![Just(u64::MAX), Just(u64::from(u32::MAX) + 1), 0u64..5000].prop_map(|n| n.to_string().into_bytes()),
    ]
}

fn stream() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(token(), 0..96).prop_map(|t| t.concat())
}

#[test]
fn control_mode_parser_never_panics_and_ignores_how_bytes_are_split() {
    let input = (stream(), prop::collection::vec(any::<usize>(), 0..6));
    fuzz("control-mode arbitrary bytes", 20_000, 11, input, |(data, cuts)| {
        let whole = parse_split(&data, &[]);
        prop_assert_eq!(&parse_split(&data, &cuts), &whole);
        // Byte by byte too (the worst case for the line buffer).
        let mut parser = Parser::new();
        let mut bytewise = Vec::new();
        for b in &data {
            parser.feed(std::slice::from_ref(b), &mut bytewise);
        }
        prop_assert_eq!(&bytewise, &whole);
        // Framing: a `Begin` is followed by its own `Reply` or by nothing
        // (the stream ended inside the reply); a `Reply` never comes alone.
        let mut open = None;
        for ev in &whole {
            match (open, ev) {
                (None, Event::Begin { from_client }) => open = Some(*from_client),
                (Some(fc), Event::Reply { from_client, .. }) => {
                    prop_assert_eq!(fc, *from_client);
                    open = None;
                }
                (Some(_), other) => prop_assert!(false, "{other:?} inside a reply"),
                (None, Event::Reply { .. }) => prop_assert!(false, "a reply without %begin"),
                (None, _) => {}
            }
        }
        Ok(())
    });
}

/// Output bytes biased towards what the escaping treats specially.
fn pane_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => any::<u8>(),
        1 => prop::sample::select(b"\\\n\r\x1b\x00\x1f 0123478%".as_slice()),
    ];
    prop::collection::vec(byte, 0..80)
}

#[test]
fn control_mode_output_escaping_round_trips_through_the_parser() {
    let input = (
        prop::collection::vec((any::<u32>(), pane_bytes()), 1..12),
        prop::collection::vec(any::<usize>(), 0..8),
    );
    fuzz(
        "control-mode %output round trip",
        10_000,
        12,
        input,
        |(outputs, cuts)| {
            let mut wire = Vec::new();
            for (pane, data) in &outputs {
                prop_assert_eq!(&unescape(&escape(data)), data);
                wire.extend_from_slice(format!("%output %{pane} ").as_bytes());
                wire.extend_from_slice(&escape(data));
                wire.push(b'\n');
            }
            let expect: Vec<Event> = outputs
                .into_iter()
                .map(|(pane, data)| Event::Output { pane, data })
                .collect();
            prop_assert_eq!(parse_split(&wire, &cuts), expect);
            Ok(())
        },
    );
}

/// One thing tmux writes in control mode, as the test models it.
#[derive(Debug, Clone)]
enum Item {
    Output(u32, Vec<u8>),
    Reply {
        key: (u32, u32, bool),
        error: bool,
        lines: Vec<Vec<u8>>,
    },
    Notification(String, String),
    Exit(Option<String>),
}

fn text(chars: &'static str, len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    let chars: Vec<char> = chars.chars().collect();
    prop::collection::vec(prop::sample::select(chars), len).prop_map(String::from_iter)
}

/// A reply body line: anything without a newline, often something that
/// looks like a notification or a closing line of another reply.
fn body_line() -> impl Strategy<Value = Vec<u8>> {
    const LOOKALIKES: &[&[u8]] = &[
        b"%end 7 7 1",
        b"%error 7 7 0",
        b"%end 7 8 1",
        b"%begin 7 7 1",
        b"%output %1 x\\012",
        b"%exit",
        b"%window-close @1",
        b"%end",
        b"",
        b"\r",
    ];
    prop_oneof![
        prop::sample::select(LOOKALIKES).prop_map(<[u8]>::to_vec),
        prop::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..40),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    const NAMES: &[&str] = &[
        "window-close",
        "layout-change",
        "session-changed",
        "sessions-changed",
        "window-add",
        "window-renamed",
        "pane-mode-changed",
        "client-detached",
        "continue",
        "pause",
        "extended-output",
        "end",
        "error",
    ];
    prop_oneof![
        (any::<u32>(), pane_bytes()).prop_map(|(p, d)| Item::Output(p, d)),
        (
            (
                prop_oneof![Just(7u32), any::<u32>()],
                prop_oneof![Just(7u32), any::<u32>()],
                any::<bool>()
            ),
            any::<bool>(),
            prop::collection::vec(body_line(), 0..6),
        )
            .prop_map(|(key, error, lines)| Item::Reply { key, error, lines }),
        (prop::sample::select(NAMES), text("abc @%$:,.0123 -", 0..20))
            .prop_map(|(n, a)| Item::Notification(n.to_string(), a)),
        text("ab cdé-", 0..12).prop_map(|r| {
            let r = r.trim().to_string();
            Item::Exit((!r.is_empty()).then_some(r))
        }),
    ]
}

#[test]
fn control_mode_replies_keep_lookalike_lines_as_body() {
    let input = (
        prop::collection::vec(item(), 1..10),
        prop::collection::vec(any::<usize>(), 0..8),
    );
    fuzz("control-mode reply framing", 20_000, 13, input, |(items, cuts)| {
        let mut wire = Vec::new();
        let mut expect = Vec::new();
        for item in items {
            match item {
                Item::Output(pane, data) => {
                    wire.extend_from_slice(format!("%output %{pane} ").as_bytes());
                    wire.extend_from_slice(&escape(&data));
                    wire.push(b'\n');
                    expect.push(Event::Output { pane, data });
                }
                Item::Reply {
                    key: (time, number, from_client),
                    error,
                    lines,
                } => {
                    let key = format!("{time} {number} {}", u8::from(from_client));
                    let (end, err) = (format!("%end {key}"), format!("%error {key}"));
                    wire.extend_from_slice(format!("%begin {key}\n").as_bytes());
                    let mut body = Vec::new();
                    for line in lines {
                        // tmux never prints its own closing line as body.
                        let seen = line.strip_suffix(b"\r").unwrap_or(&line).to_vec();
                        if seen == end.as_bytes() || seen == err.as_bytes() {
                            continue;
                        }
                        wire.extend_from_slice(&line);
                        wire.push(b'\n');
                        body.push(seen);
                    }
                    wire.extend_from_slice(if error { err.as_bytes() } else { end.as_bytes() });
                    wire.push(b'\n');
                    expect.push(Event::Begin { from_client });
                    expect.push(Event::Reply {
                        from_client,
                        error,
                        lines: body,
                    });
                }
                Item::Notification(name, args) => {
                    let line = if args.is_empty() {
                        format!("%{name}\n")
                    } else {
                        format!("%{name} {args}\n")
                    };
                    wire.extend_from_slice(line.as_bytes());
                    expect.push(Event::Notification { name, args });
                }
                Item::Exit(reason) => {
                    let line = match &reason {
                        Some(r) => format!("%exit {r}\n"),
                        None => "%exit\n".to_string(),
                    };
                    wire.extend_from_slice(line.as_bytes());
                    expect.push(Event::Exit { reason });
                }
            }
        }
        prop_assert_eq!(parse_split(&wire, &cuts), expect);
        Ok(())
    });
}
