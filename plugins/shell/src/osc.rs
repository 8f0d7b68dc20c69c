//! A byte-level scanner for terminal output: finds OSC 133 shell-integration
//! marks and extracts the printable text around them, dropping other escape
//! sequences. Input may split anywhere (mid-UTF-8, mid-escape); state carries
//! over between calls. Pure Rust with no dependencies, so the host's
//! benchmark compiles the same file natively.

/// An OSC 133 mark (FinalTerm / VS Code shell integration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// `133;A`: the prompt starts.
    PromptStart,
    /// `133;B`: the prompt ends, command input starts.
    InputStart,
    /// `133;C`: the command was submitted and runs.
    Executed,
    /// `133;D[;status]`: the command finished.
    Finished(Option<i32>),
}

/// Something found in the output, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Printable text (UTF-8, lossy) between marks.
    Text(String),
    /// A shell-integration mark.
    Mark(Mark),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    Escape,
    Csi,
    Osc,
    OscEscape,
    /// Other two-byte escape (charset selection etc.): skip one byte.
    EscapeArg,
}

/// Longest OSC payload kept; longer ones (e.g. clipboard) are skipped.
const MAX_OSC: usize = 256;

/// Scanner state carried between chunks.
#[derive(Debug)]
pub struct Scanner {
    state: State,
    osc: Vec<u8>,
    osc_overflow: bool,
    text: Vec<u8>,
}

impl Default for Scanner {
    fn default() -> Self {
        Self::new()
    }
}

impl Scanner {
    /// A scanner in the ground state.
    pub fn new() -> Self {
        Scanner {
            state: State::Ground,
            osc: Vec::new(),
            osc_overflow: false,
            text: Vec::new(),
        }
    }

    /// Scan `data`, appending what it finds to `out`. Text still pending at
    /// the end of `data` is emitted too (up to any incomplete UTF-8 tail).
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<Piece>) {
        for &b in data {
            match self.state {
                State::Ground => match b {
                    0x1b => self.state = State::Escape,
                    b'\n' | b'\t' => self.text.push(b),
                    0x00..=0x1f | 0x7f => {}
                    _ => self.text.push(b),
                },
                State::Escape => {
                    self.state = match b {
                        b'[' => State::Csi,
                        b']' => {
                            self.osc.clear();
                            self.osc_overflow = false;
                            State::Osc
                        }
                        b'(' | b')' | b'*' | b'+' | b'#' | b'%' => State::EscapeArg,
                        _ => State::Ground,
                    }
                }
                State::EscapeArg => self.state = State::Ground,
                State::Csi => {
                    if (0x40..=0x7e).contains(&b) {
                        self.state = State::Ground;
                    }
                }
                State::Osc => match b {
                    0x07 => self.end_osc(out),
                    0x1b => self.state = State::OscEscape,
                    _ => {
                        if self.osc.len() < MAX_OSC {
                            self.osc.push(b);
                        } else {
                            self.osc_overflow = true;
                        }
                    }
                },
                State::OscEscape => {
                    // ESC \ terminates; anything else aborts the OSC.
                    if b == b'\\' {
                        self.end_osc(out);
                    } else {
                        self.state = State::Ground;
                    }
                }
            }
        }
        self.flush_text(out, false);
    }

    fn end_osc(&mut self, out: &mut Vec<Piece>) {
        self.state = State::Ground;
        if self.osc_overflow {
            return;
        }
        if let Some(mark) = parse_mark(&self.osc) {
            self.flush_text(out, true);
            out.push(Piece::Mark(mark));
        }
    }

    fn flush_text(&mut self, out: &mut Vec<Piece>, force: bool) {
        if self.text.is_empty() {
            return;
        }
        // Keep an incomplete UTF-8 sequence for the next chunk.
        let keep = if force { 0 } else { incomplete_utf8_tail(&self.text) };
        let take = self.text.len() - keep;
        if take == 0 {
            return;
        }
        let s = String::from_utf8_lossy(&self.text[..take]).into_owned();
        self.text.drain(..take);
        match out.last_mut() {
            Some(Piece::Text(prev)) => prev.push_str(&s),
            _ => out.push(Piece::Text(s)),
        }
    }
}

fn parse_mark(osc: &[u8]) -> Option<Mark> {
    let rest = osc.strip_prefix(b"133;")?;
    let (kind, params) = match rest.iter().position(|&b| b == b';') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    match kind {
        b"A" => Some(Mark::PromptStart),
        b"B" => Some(Mark::InputStart),
        b"C" => Some(Mark::Executed),
        b"D" => {
            let code = std::str::from_utf8(params)
                .ok()
                .and_then(|p| p.split(';').next())
                .and_then(|p| p.trim().parse().ok());
            Some(Mark::Finished(code))
        }
        _ => None,
    }
}

/// Number of bytes at the end of `buf` that start an unfinished UTF-8 char.
fn incomplete_utf8_tail(buf: &[u8]) -> usize {
    let n = buf.len();
    for back in 1..=3.min(n) {
        let b = buf[n - back];
        if b & 0xC0 == 0x80 {
            continue; // continuation byte, look further back
        }
        let need = if b >= 0xF0 {
            4
        } else if b >= 0xE0 {
            3
        } else if b >= 0xC0 {
            2
        } else {
            1
        };
        return if need > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(chunks: &[&[u8]]) -> Vec<Piece> {
        let mut s = Scanner::new();
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, &mut out);
        }
        out
    }

    #[test]
    fn marks_and_text_split_anywhere() {
        let whole: &[u8] = b"\x1b]133;C\x07hello \xc3\xa9\x1b[1mworld\x1b[0m\n\x1b]133;D;3\x1b\\";
        let expect = vec![
            Piece::Mark(Mark::Executed),
            Piece::Text("hello \u{e9}world\n".into()),
            Piece::Mark(Mark::Finished(Some(3))),
        ];
        for split in 0..whole.len() {
            let (a, b) = whole.split_at(split);
            let mut got = scan_all(&[a, b]);
            // merge adjacent text pieces produced across the split
            let mut merged: Vec<Piece> = Vec::new();
            for p in got.drain(..) {
                match (merged.last_mut(), p) {
                    (Some(Piece::Text(x)), Piece::Text(y)) => x.push_str(&y),
                    (_, p) => merged.push(p),
                }
            }
            assert_eq!(merged, expect, "split at {split}");
        }
    }

    #[test]
    fn finished_without_status() {
        assert_eq!(scan_all(&[b"\x1b]133;D\x07"]), vec![Piece::Mark(Mark::Finished(None))]);
    }
}
