//! Baseline (a): a bare `tmux -C` control client on a private tmux server,
//! typing with `send-keys -H` and decoding `%output` lines.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::measure::Terminal;
use crate::workload::TempDir;

/// A control-mode client attached to a new session (bash, 120×40) on its own
/// server; the server is killed on drop.
pub struct ControlClient {
    child: Child,
    stdin: ChildStdin,
    out: BufReader<ChildStdout>,
    line: Vec<u8>,
    decoded: Vec<u8>,
    in_block: bool,
    block: Vec<u8>,
    socket: PathBuf,
    /// Holds the socket; removed after the server is killed.
    _dir: TempDir,
}

impl ControlClient {
    /// Start `tmux -S <tmp>/t.sock -f /dev/null -u -C new-session -x 120 -y 40
    /// bash --noprofile --norc` and wait for the first prompt.
    pub async fn start() -> Result<ControlClient> {
        let dir = TempDir::new("tmux")?;
        let socket = dir.path().join("t.sock");
        let mut child = Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(["-f", "/dev/null", "-u", "-C", "new-session", "-x", "120", "-y", "40"])
            .args(["bash", "--noprofile", "--norc"])
            .current_dir(dir.path())
            .env_remove("TMUX")
            .env("HISTFILE", dir.path().join("history"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting `tmux -C` (is tmux installed?)")?;
        let stdin = child.stdin.take().context("tmux stdin")?;
        let stdout = child.stdout.take().context("tmux stdout")?;
        let mut c = ControlClient {
            child,
            stdin,
            out: BufReader::with_capacity(1 << 20, stdout),
            line: Vec::with_capacity(1 << 16),
            decoded: Vec::with_capacity(1 << 16),
            in_block: false,
            block: Vec::new(),
            socket,
            _dir: dir,
        };
        match tokio::time::timeout(Duration::from_secs(10), c.next_output()).await {
            Ok(r) => {
                r.context("waiting for the first bash prompt under tmux -C")?;
            }
            Err(_) => bail!("no output from bash under `tmux -C` within 10s"),
        }
        Ok(c)
    }

    /// The tmux server's pid.
    pub async fn server_pid(&self) -> Result<i32> {
        server_pid(&self.socket).await
    }
}

impl Terminal for ControlClient {
    async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let mut cmd = String::with_capacity(16 + 3 * bytes.len());
        cmd.push_str("send-keys -H");
        for b in bytes {
            cmd.push_str(&format!(" {b:02x}"));
        }
        cmd.push('\n');
        self.stdin
            .write_all(cmd.as_bytes())
            .await
            .context("writing to tmux -C")?;
        Ok(())
    }

    async fn next_output(&mut self) -> Result<&[u8]> {
        loop {
            // Cancel-safe: a partial line stays in `self.line` for the next call.
            let n = self
                .out
                .read_until(b'\n', &mut self.line)
                .await
                .context("reading tmux -C")?;
            if n == 0 {
                let status = self.child.try_wait().ok().flatten();
                bail!("tmux -C closed its output (status {status:?})");
            }
            if !self.line.ends_with(b"\n") {
                continue;
            }
            let line = &self.line[..self.line.len() - 1];
            if self.in_block {
                if line.starts_with(b"%end ") {
                    self.in_block = false;
                } else if line.starts_with(b"%error ") {
                    bail!("tmux command failed: {}", String::from_utf8_lossy(&self.block));
                } else {
                    self.block.extend_from_slice(line);
                    self.block.push(b'\n');
                }
            } else if let Some(rest) = line.strip_prefix(b"%output %") {
                let data = rest
                    .iter()
                    .position(|&b| b == b' ')
                    .map_or(&rest[rest.len()..], |i| &rest[i + 1..]);
                decode(data, &mut self.decoded);
                self.line.clear();
                if !self.decoded.is_empty() {
                    return Ok(&self.decoded);
                }
                continue;
            } else if line.starts_with(b"%begin ") {
                self.in_block = true;
                self.block.clear();
            } else if line.starts_with(b"%exit") {
                bail!("tmux -C exited: {}", String::from_utf8_lossy(line));
            }
            self.line.clear();
        }
    }
}

impl Drop for ControlClient {
    fn drop(&mut self) {
        wasmux_testkit::kill_tmux_server(&self.socket);
    }
}

/// Undo control mode's escaping: `\ooo` octal for bytes below 0x20 and `\`.
fn decode(src: &[u8], dst: &mut Vec<u8>) {
    dst.clear();
    let mut i = 0;
    while i < src.len() {
        match src[i..].iter().position(|&b| b == b'\\') {
            None => {
                dst.extend_from_slice(&src[i..]);
                break;
            }
            Some(p) => {
                dst.extend_from_slice(&src[i..i + p]);
                i += p;
                let oct = src
                    .get(i + 1..i + 4)
                    .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
                match oct {
                    Some(d) => {
                        dst.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
                        i += 4;
                    }
                    None => {
                        dst.push(b'\\');
                        i += 1;
                    }
                }
            }
        }
    }
}

/// The pid of the tmux server on `socket`.
pub async fn server_pid(socket: &Path) -> Result<i32> {
    let out = Command::new("tmux")
        .arg("-S")
        .arg(socket)
        .args(["display-message", "-p", "#{pid}"])
        .env_remove("TMUX")
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .with_context(|| format!("tmux display-message -p '#{{pid}}' said {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn octal_escapes() {
        let mut out = Vec::new();
        decode(br"ab\015\012c\134d\0", &mut out);
        assert_eq!(out, b"ab\r\nc\\d\\0");
    }
}
