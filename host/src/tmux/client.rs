//! A control-mode client (`tmux -C`) for one session: a reader task that
//! parses everything tmux sends as fast as it arrives (it never waits on
//! anything else, so tmux never holds the program back for long; no
//! `pause-after`, which would drop output), and a command channel whose
//! replies are matched in send order.

use std::collections::VecDeque;
use std::io::Read;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin};
use tokio::sync::{Notify, oneshot, watch};

use super::control::{Event, Parser};
use super::{Tmux, TmuxError};

/// A command's reply.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The reply lines.
    pub lines: Vec<Vec<u8>>,
    /// `%output` bytes of the session's pane received before this reply's
    /// `%begin`: the pane position the command observed.
    pub output_before: u64,
}

impl Reply {
    /// The reply as text (lossy), lines joined by `\n`.
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// What the reader shares with the session's ingester.
#[derive(Debug, Default)]
pub struct Live {
    /// `%output` bytes received for the pane since this client attached.
    pub output_bytes: u64,
    /// The last bytes of `%output` (for aligning with the raw files).
    pub recent: VecDeque<u8>,
    /// Whether this client's `%output` count started at raw offset 0 (it
    /// created the session and its pipe in one command list).
    pub aligned_at_start: bool,
    /// Whether tmux sends this client `%output` at all (`no-output` not set).
    pub counts_output: bool,
    /// `output_bytes` at each client command's `%begin`, oldest first: the
    /// ingester ends a chunk exactly there so a snapshot maps to a seq.
    pub split_points: VecDeque<u64>,
}

/// How many recent `%output` bytes to remember.
const RECENT: usize = 256;

/// One command awaiting its reply.
struct Pending {
    /// Where the reply goes.
    tx: oneshot::Sender<Result<Reply, TmuxError>>,
    /// How many commands follow this one on the same command line: tmux
    /// runs none of them, and sends no reply for them, once this one fails.
    rest_of_line: usize,
}

/// How long a command may go unanswered before its caller gets
/// [`TmuxError::Timeout`] (the reply, if it ever comes, is discarded).
pub const REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A running control client.
pub struct ControlClient {
    stdin: tokio::sync::Mutex<ChildStdin>,
    pending: Arc<Mutex<VecDeque<Pending>>>,
    /// Output counters shared with the ingester.
    pub live: Arc<Mutex<Live>>,
    /// Notified on every `%output` for the pane.
    pub output_notify: Arc<Notify>,
    /// Becomes `Some(reason)` when the client has exited.
    pub exited: watch::Receiver<Option<String>>,
    child: Mutex<Option<Child>>,
    /// The reply to the first command of the client's own command line
    /// (e.g. `new-session -P -F …`), taken once by [`Self::startup_reply`].
    startup: Mutex<Option<oneshot::Receiver<Result<Reply, TmuxError>>>>,
}

impl ControlClient {
    /// Start `tmux -C <args>` (e.g. `new-session …` or `attach-session -t =x`).
    /// `aligned_at_start` and `counts_output` are recorded in [`Live`].
    pub fn spawn(
        tmux: &Tmux,
        args: &[String],
        aligned_at_start: bool,
        counts_output: bool,
    ) -> Result<Arc<ControlClient>, TmuxError> {
        let mut cmd = tmux.command();
        cmd.arg("-C")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(TmuxError::Spawn)?;
        let stdin = child.stdin.take().expect("piped");
        // Read on a dedicated thread: tmux stops reading the pane while this
        // client is behind, so the reader must never wait for the runtime.
        let mut stdout = std::fs::File::from(child.stdout.take().expect("piped").into_owned_fd()?);
        let pending: Arc<Mutex<VecDeque<Pending>>> = Arc::default();
        let live = Arc::new(Mutex::new(Live {
            aligned_at_start,
            counts_output,
            ..Live::default()
        }));
        let notify = Arc::new(Notify::new());
        let (exit_tx, exit_rx) = watch::channel(None);
        let (startup_tx, startup_rx) = oneshot::channel();
        let mut startup_tx = Some(startup_tx);
        let client = Arc::new(ControlClient {
            stdin: tokio::sync::Mutex::new(stdin),
            pending: pending.clone(),
            live: live.clone(),
            output_notify: notify.clone(),
            exited: exit_rx,
            child: Mutex::new(Some(child)),
            startup: Mutex::new(Some(startup_rx)),
        });
        std::thread::Builder::new().name("tmux-control".into()).spawn(move || {
            let mut parser = Parser::new();
            let mut buf = vec![0u8; 256 * 1024];
            let mut events = Vec::new();
            let mut begin_positions: VecDeque<u64> = VecDeque::new();
            let mut reason = None;
            'read: loop {
                let n = match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        tracing::debug!("control client stdout closed");
                        break;
                    }
                    Ok(n) => n,
                };
                parser.feed(&buf[..n], &mut events);
                for event in events.drain(..) {
                    match event {
                        Event::Output { data, .. } => {
                            let mut l = live.lock().unwrap_or_else(|p| p.into_inner());
                            l.output_bytes += data.len() as u64;
                            l.recent.extend(&data[data.len().saturating_sub(RECENT)..]);
                            let excess = l.recent.len().saturating_sub(RECENT);
                            l.recent.drain(..excess);
                            drop(l);
                            notify.notify_one();
                        }
                        Event::Begin { from_client: true } => {
                            // Where each client command's reply begins, in order.
                            let mut l = live.lock().unwrap_or_else(|p| p.into_inner());
                            let at = l.output_bytes;
                            if l.split_points.back() != Some(&at) && l.split_points.len() < 4096 {
                                l.split_points.push_back(at);
                            }
                            drop(l);
                            begin_positions.push_back(at);
                        }
                        Event::Begin { .. } => {}
                        Event::Reply {
                            from_client: true,
                            error,
                            lines,
                        } => {
                            let output_before = begin_positions
                                .pop_front()
                                .unwrap_or_else(|| live.lock().unwrap_or_else(|p| p.into_inner()).output_bytes);
                            let mut queue = pending.lock().unwrap_or_else(|p| p.into_inner());
                            if let Some(w) = queue.pop_front() {
                                let reply = Reply { lines, output_before };
                                if error {
                                    let message = reply.text();
                                    // The rest of the line never runs.
                                    let n = w.rest_of_line.min(queue.len());
                                    for skipped in queue.drain(..n) {
                                        let _ = skipped.tx.send(Err(TmuxError::Command {
                                            command: "control".into(),
                                            message: format!("not run: an earlier command on its line failed ({message})"),
                                        }));
                                    }
                                    let _ = w.tx.send(Err(TmuxError::Command {
                                        command: "control".into(),
                                        message,
                                    }));
                                } else {
                                    let _ = w.tx.send(Ok(reply));
                                }
                            }
                        }
                        Event::Reply { error, lines, .. } => {
                            // The client's command line: only its first
                            // command's reply is kept (new-session -P).
                            if let Some(tx) = startup_tx.take() {
                                let reply = Reply { lines, output_before: 0 };
                                let _ = tx.send(if error {
                                    Err(TmuxError::Command {
                                        command: "startup".into(),
                                        message: reply.text(),
                                    })
                                } else {
                                    Ok(reply)
                                });
                            }
                        }
                        Event::Exit { reason: r } => {
                            tracing::debug!(reason = ?r, pending = pending.lock().unwrap_or_else(|p| p.into_inner()).len(), "control client got %exit");
                            reason = Some(r.unwrap_or_else(|| "exited".into()));
                            break 'read;
                        }
                        Event::Notification { .. } => {}
                    }
                }
            }
            for w in pending.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
                let _ = w.tx.send(Err(TmuxError::Gone));
            }
            notify.notify_one();
            let _ = exit_tx.send(Some(reason.unwrap_or_else(|| "control client closed".into())));
        })?;
        Ok(client)
    }

    /// The reply to the first command of the command line the client was
    /// started with (`Gone` if the client exited before answering, or when
    /// called twice).
    pub async fn startup_reply(&self) -> Result<Reply, TmuxError> {
        let rx = self.startup.lock().unwrap_or_else(|p| p.into_inner()).take();
        match rx {
            Some(rx) => rx.await.map_err(|_| TmuxError::Gone)?,
            None => Err(TmuxError::Gone),
        }
    }

    /// Send one command line and await its reply.
    pub async fn command(&self, line: &str) -> Result<Reply, TmuxError> {
        let mut replies = self.atomic(&[line]).await?;
        Ok(replies.pop().expect("one reply"))
    }

    /// Send `lines` as one command list (`a ; b`): tmux runs them back to
    /// back with no pane output in between. One reply per command.
    pub async fn atomic(&self, lines: &[&str]) -> Result<Vec<Reply>, TmuxError> {
        if lines.is_empty() || lines.iter().any(|l| l.contains('\n') || l.trim().is_empty()) {
            return Err(TmuxError::Invalid(
                "empty command or a newline in a command line".into(),
            ));
        }
        if self.exited.borrow().is_some() {
            return Err(TmuxError::Gone);
        }
        let mut receivers = Vec::with_capacity(lines.len());
        {
            let mut stdin = self.stdin.lock().await;
            {
                let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                for i in 0..lines.len() {
                    let (tx, rx) = oneshot::channel();
                    pending.push_back(Pending {
                        tx,
                        rest_of_line: lines.len() - 1 - i,
                    });
                    receivers.push(rx);
                }
            }
            let mut bytes = lines.join(" ; ").into_bytes();
            bytes.push(b'\n');
            if stdin.write_all(&bytes).await.is_err() {
                return Err(TmuxError::Gone);
            }
        }
        let mut replies = Vec::with_capacity(receivers.len());
        let mut first_err = None;
        let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
        for rx in receivers {
            let reply = match tokio::time::timeout_at(deadline, rx).await {
                Ok(r) => r.map_err(|_| TmuxError::Gone).and_then(|r| r),
                Err(_) => Err(TmuxError::Timeout(REPLY_TIMEOUT)),
            };
            match reply {
                Ok(r) => replies.push(r),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(replies),
        }
    }

    /// Send several command lines, failing on the first error.
    pub async fn commands(&self, lines: &[String]) -> Result<(), TmuxError> {
        for l in lines {
            self.command(l).await?;
        }
        Ok(())
    }

    /// Whether the client is still running.
    pub fn is_alive(&self) -> bool {
        self.exited.borrow().is_none()
    }

    /// Detach this client (the session keeps running).
    pub async fn detach(&self) {
        let _ = self.command("detach-client").await;
        if let Some(mut c) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = c.start_kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command that fails ends its line: tmux runs, and answers, none of
    /// the commands after it. Their callers get an error, and the replies
    /// of later lines still reach their own callers.
    #[tokio::test]
    async fn a_failed_command_ends_its_line_and_later_replies_stay_matched() {
        let dir = tempfile::tempdir().unwrap();
        let tmux = Tmux::new(dir.path()).unwrap();
        let args: Vec<String> = ["new-session", "-s", "t", "-x", "80", "-y", "24", "sleep 600"]
            .map(String::from)
            .into();
        let client = ControlClient::spawn(&tmux, &args, false, false).unwrap();
        client.startup_reply().await.unwrap();
        let failed = client
            .atomic(&["display -p one", "send-keys -t =nosuch x", "display -p skipped"])
            .await
            .unwrap_err();
        assert!(failed.to_string().contains("can't find"), "{failed}");
        let next = client.command("display -p next").await.unwrap();
        assert_eq!(next.text(), "next");
        let both = client.atomic(&["display -p a", "display -p b"]).await.unwrap();
        assert_eq!(both.iter().map(Reply::text).collect::<Vec<_>>(), ["a", "b"]);
        let _ = tmux.run(&["kill-server"]).await;
    }
}
