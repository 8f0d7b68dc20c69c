//! Typing into the pane. A run of text, pastes and keys goes to tmux as ONE
//! command list ([`Terminal::type_atomically`]): tmux parses the whole line
//! before it runs any of it, so a daemon killed while typing leaves either
//! all of it (the prompt and its Enter) or none of it, never a prompt
//! without its Enter for the next one to be appended to.

use super::Terminal;
use crate::tmux::{TmuxError, input};

/// Text longer than this is pasted (one `paste-buffer`) instead of typed.
const TYPE_LIMIT: usize = 4096;

/// One step of typed input.
#[derive(Debug, Clone)]
pub enum TypeAction {
    /// Literal bytes (pasted, not bracketed, beyond 4 KiB).
    Text(Vec<u8>),
    /// tmux key names.
    Keys(Vec<String>),
    /// A block pasted at once; bracketed if the app asked for it.
    Paste(Vec<u8>),
}

impl Terminal {
    /// Type `text` literally into the pane.
    pub async fn send_text(&self, text: &[u8]) -> Result<(), TmuxError> {
        self.type_atomically(&[TypeAction::Text(text.to_vec())]).await
    }

    /// Paste `text` as one block (bracketed if `bracketed` and the app
    /// asked for it).
    pub async fn paste(&self, text: &[u8], bracketed: bool) -> Result<(), TmuxError> {
        if bracketed {
            self.type_atomically(&[TypeAction::Paste(text.to_vec())]).await
        } else {
            self.type_atomically(&[TypeAction::Text(text.to_vec())]).await
        }
    }

    /// Press tmux keys.
    pub async fn send_keys(&self, keys: &[String]) -> Result<(), TmuxError> {
        self.type_atomically(&[TypeAction::Keys(keys.to_vec())]).await
    }

    /// Type a sequence of text, pastes and keys as one tmux command list.
    pub async fn type_atomically(&self, actions: &[TypeAction]) -> Result<(), TmuxError> {
        let p = self.pane()?;
        let mut lines = Vec::new();
        let mut files = Vec::new();
        let result = async {
            for a in actions {
                match a {
                    TypeAction::Text(t) if t.len() <= TYPE_LIMIT => lines.extend(input::literal(&p.id, t)),
                    TypeAction::Text(t) => lines.extend(self.paste_lines(&p.id, t, false, &mut files)?),
                    TypeAction::Paste(t) => lines.extend(self.paste_lines(&p.id, t, true, &mut files)?),
                    TypeAction::Keys(k) => lines.extend(input::keys(&p.id, k)?),
                }
            }
            if lines.is_empty() {
                return Ok(());
            }
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            p.control.atomic(&refs).await.map(drop)
        }
        .await;
        for f in files {
            let _ = std::fs::remove_file(f);
        }
        result
    }

    /// `load-buffer` + `paste-buffer -d` lines for `text` (written to a
    /// private file recorded in `files`, removed by the caller).
    fn paste_lines(
        &self,
        pane: &str,
        text: &[u8],
        bracketed: bool,
        files: &mut Vec<std::path::PathBuf>,
    ) -> Result<Vec<String>, TmuxError> {
        let n = files.len();
        let buffer = format!("wasmux-{}-{n}", self.name);
        let file = self.dir.join(format!("paste-{n}.buf"));
        crate::util::write_private(&file, text)?;
        files.push(file.clone());
        let path = file.to_string_lossy().into_owned();
        if path.contains(['\'', '\n']) {
            return Err(TmuxError::Invalid("state dir path cannot be quoted for tmux".into()));
        }
        Ok(vec![
            format!("load-buffer -b {buffer} '{path}'"),
            format!(
                "paste-buffer -d -r {} -b {buffer} -t {pane}",
                if bracketed { "-p" } else { "" }
            ),
        ])
    }
}
