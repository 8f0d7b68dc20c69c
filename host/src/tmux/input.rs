//! Turning input into control-mode command lines that tmux's command parser
//! cannot misread: literal bytes always travel as `send-keys -H` hex, key
//! names are checked against a strict pattern.

use super::TmuxError;

/// Most input bytes per `send-keys -H` line.
const HEX_CHUNK: usize = 1024;

/// Command lines that type `bytes` literally into `pane` (e.g. `%3`).
pub fn literal(pane: &str, bytes: &[u8]) -> Vec<String> {
    bytes
        .chunks(HEX_CHUNK)
        .map(|chunk| {
            let mut line = String::with_capacity(24 + chunk.len() * 3);
            line.push_str("send-keys -t ");
            line.push_str(pane);
            line.push_str(" -H");
            for b in chunk {
                line.push_str(&format!(" {b:02x}"));
            }
            line
        })
        .collect()
}

/// Command lines that press `keys` (tmux key names such as `Enter`, `C-c`,
/// `M-x`, `F5`; a single printable character is sent literally).
pub fn keys(pane: &str, keys: &[String]) -> Result<Vec<String>, TmuxError> {
    let mut lines = Vec::new();
    let mut named: Vec<&str> = Vec::new();
    let flush = |named: &mut Vec<&str>, lines: &mut Vec<String>| {
        if !named.is_empty() {
            lines.push(format!("send-keys -t {pane} {}", named.join(" ")));
            named.clear();
        }
    };
    for key in keys {
        if is_key_name(key) {
            named.push(key);
        } else if key.len() == 1 && key.as_bytes()[0].is_ascii_graphic() {
            flush(&mut named, &mut lines);
            lines.extend(literal(pane, key.as_bytes()));
        } else {
            return Err(TmuxError::Invalid(format!(
                "unknown key {key:?}: use tmux key names like Enter, Escape, C-c, M-x, Up, F5, or one printable character"
            )));
        }
    }
    flush(&mut named, &mut lines);
    Ok(lines)
}

/// `(C-|M-|S-)*` then 1–16 letters/digits: safe to put on a command line.
fn is_key_name(key: &str) -> bool {
    let mut rest = key;
    for _ in 0..3 {
        match rest.get(..2) {
            Some("C-" | "M-" | "S-") if rest.len() > 2 => rest = &rest[2..],
            _ => break,
        }
    }
    !rest.is_empty() && rest.len() <= 16 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_is_hex() {
        assert_eq!(literal("%1", b"a;'\n"), vec!["send-keys -t %1 -H 61 3b 27 0a"]);
        assert_eq!(literal("%1", &vec![b'x'; 2500]).len(), 3);
    }

    #[test]
    fn key_names() {
        let k = |v: &[&str]| keys("%2", &v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(k(&["C-c", "Enter"]).unwrap(), vec!["send-keys -t %2 C-c Enter"]);
        assert_eq!(k(&["y", "Enter"]).unwrap(), vec!["send-keys -t %2 y Enter"]);
        assert_eq!(k(&[";"]).unwrap(), vec!["send-keys -t %2 -H 3b"]);
        assert!(k(&["Enter; kill-server"]).is_err());
        assert!(k(&["C-"]).is_err());
        assert!(k(&[""]).is_err());
    }
}
