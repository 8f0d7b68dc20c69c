//! A parser for tmux control mode (`tmux -C`) output. Works on bytes, never
//! `String`: `%output` payloads escape only bytes below 0x20 and `\` (as
//! `\ooo` octal) and may split UTF-8 sequences and escapes anywhere.
//!
//! Command replies arrive as `%begin <time> <number> <flags>` … `%end` (or
//! `%error`) with the *same* three fields; lines inside a reply that merely
//! look like notifications (pane text from `capture-pane`) are reply body.

/// One parsed control-mode event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Pane output, decoded to raw bytes.
    Output {
        /// Pane id without `%`.
        pane: u32,
        /// The bytes the pane wrote.
        data: Vec<u8>,
    },
    /// A command reply started (`%begin`); everything the pane printed
    /// before this point is reflected in what the command sees.
    Begin {
        /// Whether it answers a command this client sent.
        from_client: bool,
    },
    /// A command reply finished.
    Reply {
        /// Whether it came from a command this client sent (`flags` 1), as
        /// opposed to the command line the client was started with.
        from_client: bool,
        /// `%error` instead of `%end`.
        error: bool,
        /// The reply's lines (without newlines).
        lines: Vec<Vec<u8>>,
    },
    /// The client is exiting (`%exit [reason]`).
    Exit {
        /// Why, if tmux said.
        reason: Option<String>,
    },
    /// Any other notification (`%window-close @1`, `%layout-change …`,
    /// `%session-changed …`, …): its name without `%`, and the rest.
    Notification {
        /// e.g. `window-close`.
        name: String,
        /// The arguments as text (lossy UTF-8).
        args: String,
    },
}

/// Incremental parser: feed bytes as they arrive, take events out.
#[derive(Debug, Default)]
pub struct Parser {
    line: Vec<u8>,
    block: Option<Block>,
}

#[derive(Debug)]
struct Block {
    /// The `<time> <number> <flags>` triple that must close it.
    key: Vec<u8>,
    from_client: bool,
    lines: Vec<Vec<u8>>,
}

impl Parser {
    /// A parser at the start of a stream.
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Feed `data`; complete lines become events appended to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<Event>) {
        let mut rest = data;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(i);
            rest = &tail[1..];
            if self.line.is_empty() {
                self.handle_line(head, out);
            } else {
                self.line.extend_from_slice(head);
                let line = std::mem::take(&mut self.line);
                self.handle_line(&line, out);
            }
        }
        self.line.extend_from_slice(rest);
    }

    fn handle_line(&mut self, line: &[u8], out: &mut Vec<Event>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(block) = &mut self.block {
            let closing = line
                .strip_prefix(b"%end ")
                .map(|k| (k, false))
                .or_else(|| line.strip_prefix(b"%error ").map(|k| (k, true)));
            if let Some((key, error)) = closing
                && key == block.key.as_slice()
            {
                let block = self.block.take().expect("in block");
                out.push(Event::Reply {
                    from_client: block.from_client,
                    error,
                    lines: block.lines,
                });
                return;
            }
            block.lines.push(line.to_vec());
            return;
        }
        if let Some(rest) = line.strip_prefix(b"%output ") {
            if let Some((pane, data)) = parse_output(rest) {
                out.push(Event::Output { pane, data });
            }
            return;
        }
        if let Some(key) = line.strip_prefix(b"%begin ") {
            let from_client = key.rsplit(|&b| b == b' ').next() == Some(b"1");
            self.block = Some(Block {
                key: key.to_vec(),
                from_client,
                lines: Vec::new(),
            });
            out.push(Event::Begin { from_client });
            return;
        }
        // `%exit` alone or `%exit <reason>`; a longer word (`%exited`) is
        // some other notification.
        if let Some(rest) = line
            .strip_prefix(b"%exit")
            .filter(|r| r.is_empty() || r.starts_with(b" "))
        {
            let reason = String::from_utf8_lossy(rest).trim().to_string();
            out.push(Event::Exit {
                reason: (!reason.is_empty()).then_some(reason),
            });
            return;
        }
        if let Some(rest) = line.strip_prefix(b"%") {
            let text = String::from_utf8_lossy(rest);
            let (name, args) = text.split_once(' ').unwrap_or((&text, ""));
            out.push(Event::Notification {
                name: name.to_string(),
                args: args.to_string(),
            });
        }
        // Anything else outside a block is noise (tmux prints nothing else).
    }
}

/// Parse `%<pane> <escaped>` into the pane id and decoded bytes.
fn parse_output(rest: &[u8]) -> Option<(u32, Vec<u8>)> {
    let rest = rest.strip_prefix(b"%")?;
    let space = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    let pane = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
    let escaped = rest.get(space + 1..).unwrap_or(&[]);
    Some((pane, unescape(escaped)))
}

/// Decode tmux's `%output` escaping: `\ooo` (three octal digits) is a byte;
/// every other byte is itself.
pub fn unescape(escaped: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(escaped.len());
    let mut i = 0;
    while i < escaped.len() {
        let b = escaped[i];
        if b == b'\\' && i + 3 < escaped.len() && escaped[i + 1..i + 4].iter().all(|d| (b'0'..=b'7').contains(d)) {
            let v = (escaped[i + 1] - b'0') as u32 * 64
                + (escaped[i + 2] - b'0') as u32 * 8
                + (escaped[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<Event> {
        let mut p = Parser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out);
        }
        out
    }

    #[test]
    fn output_is_decoded_to_bytes() {
        let ev = parse(&[b"%output %3 a\\033[1m\\134b\xc3\xa9\\015\\012\n"]);
        assert_eq!(
            ev,
            vec![Event::Output {
                pane: 3,
                data: b"a\x1b[1m\\b\xc3\xa9\r\n".to_vec()
            }]
        );
    }

    #[test]
    fn lines_split_anywhere() {
        let whole: &[u8] = b"%output %0 x\\033y\n%begin 1 2 1\nhi\n%end 1 2 1\n%window-close @4\n";
        let expect = parse(&[whole]);
        assert_eq!(expect.len(), 4);
        for i in 0..whole.len() {
            assert_eq!(parse(&[&whole[..i], &whole[i..]]), expect, "split at {i}");
        }
    }

    #[test]
    fn replies_end_only_on_their_own_end_line() {
        let ev = parse(&[b"%begin 9 77 1\n%end 9 76 1\n%exit fake\n%output %1 x\n%end 9 77 1\n"]);
        assert_eq!(
            ev,
            vec![
                Event::Begin { from_client: true },
                Event::Reply {
                    from_client: true,
                    error: false,
                    lines: vec![
                        b"%end 9 76 1".to_vec(),
                        b"%exit fake".to_vec(),
                        b"%output %1 x".to_vec()
                    ],
                }
            ]
        );
    }

    #[test]
    fn initial_command_replies_and_errors() {
        let ev =
            parse(&[b"%begin 1 260 0\n%end 1 260 0\n%begin 1 268 1\ncan't find pane: =t1\n%error 1 268 1\n%exit\n"]);
        assert_eq!(
            ev,
            vec![
                Event::Begin { from_client: false },
                Event::Reply {
                    from_client: false,
                    error: false,
                    lines: vec![]
                },
                Event::Begin { from_client: true },
                Event::Reply {
                    from_client: true,
                    error: true,
                    lines: vec![b"can't find pane: =t1".to_vec()]
                },
                Event::Exit { reason: None },
            ]
        );
    }

    #[test]
    fn only_the_exact_exit_word_ends_the_client() {
        let ev = parse(&[b"%exited-pane %1\n%exit too many clients\n"]);
        assert_eq!(
            ev,
            vec![
                Event::Notification {
                    name: "exited-pane".into(),
                    args: "%1".into()
                },
                Event::Exit {
                    reason: Some("too many clients".into())
                },
            ]
        );
    }

    #[test]
    fn trailing_backslash_is_literal() {
        assert_eq!(unescape(b"a\\"), b"a\\");
        assert_eq!(unescape(b"\\01"), b"\\01");
        assert_eq!(unescape(b"\\134"), b"\\");
    }
}
