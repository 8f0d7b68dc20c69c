//! The WebSocket handler: meta and state first, then — after the client's
//! `resume` — every retained chunk after its cursor, then live chunks, with
//! no gap and no duplicate at the hand-over. Live chunks come from a bounded
//! broadcast; a client that falls behind (or lags the broadcast) is caught
//! up from the log instead of buffering in memory.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::{FutureExt, SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

use super::protocol::{ClientMessage, ServerMessage, SessionMeta, rfc3339};
use crate::session::Session;

/// Most bytes of chunks read from the log per catch-up batch.
const REPLAY_BATCH: usize = 1 << 20;
/// Largest client message accepted (text or binary): beyond it the client
/// gets a `message_too_big` error and close code 1009.
pub const MAX_CLIENT_MESSAGE: usize = 256 * 1024;
/// Largest message read at all: anything up to it is read whole and then
/// refused cleanly (close 1009 after the error); beyond it the WebSocket
/// layer stops reading at the frame header and the close is best-effort.
pub const READ_LIMIT: usize = 16 << 20;
/// Largest `input` a client may type in one message.
pub const MAX_INPUT: usize = 64 * 1024;
/// Close code for a message over the limit (RFC 6455 "message too big").
pub const CLOSE_TOO_BIG: u16 = 1009;
/// How long a refused client gets to answer the close before we hang up.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Keep-alive ping interval.
const PING_EVERY: Duration = Duration::from_secs(20);

/// Answers `permission-answer` messages. The API implements it, so an
/// answer over the stream fails with the same codes as the HTTP route.
pub trait Answerer: Send + Sync + 'static {
    /// Resolve permission `id` of `session` with `decision`; `Err((code, message))`.
    fn answer<'a>(
        &'a self,
        session: &'a str,
        id: &'a str,
        decision: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<(), (String, String)>>;
}

/// Serve one upgraded connection until the client leaves or the session ends.
pub async fn serve(session: Arc<Session>, socket: WebSocket, answerer: Arc<dyn Answerer>) {
    let _guard = session.terminal.stream_guard();
    if let Err(e) = run(answerer, session, socket).await {
        tracing::debug!(error = %e, "stream closed");
    }
}

fn frame(seq: u64, data: &[u8]) -> Message {
    let mut buf = Vec::with_capacity(8 + data.len());
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(data);
    Message::Binary(buf.into())
}

fn text(m: ServerMessage) -> Message {
    Message::Text(m.to_json().into())
}

fn state_message(session: &Session) -> Message {
    text(ServerMessage::State(
        session.agent.state().or_exited(session.terminal.exited().is_some()),
    ))
}

type WsResult = Result<(), axum::Error>;

async fn run(answerer: Arc<dyn Answerer>, session: Arc<Session>, socket: WebSocket) -> WsResult {
    let (mut tx, mut rx) = socket.split();
    let mut live = session.terminal.subscribe();
    let mut state_rx = session.agent.state_watch();
    state_rx.borrow_and_update();
    let mut exit_rx = session.terminal.exit_watch();
    let meta = session.terminal.log.meta();
    let row = session.row();
    let hello = SessionMeta {
        name: session.name.clone(),
        provider: row.provider.clone(),
        created_at: rfc3339(row.created_at),
        cols: row.cols,
        rows: row.rows,
        epoch: meta.epoch.clone(),
        first_seq: meta.first_seq,
        last_seq: meta.last_seq,
    };
    tx.send(text(ServerMessage::SessionMeta(hello))).await?;
    tx.send(state_message(&session)).await?;

    let mut next: Option<u64> = None;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        if let Some(n) = next {
            let meta = session.terminal.log.meta();
            if n <= meta.last_seq {
                let chunks = match session.terminal.log.read_from(n, REPLAY_BATCH) {
                    Ok(c) => c,
                    Err(e) => {
                        tx.send(text(ServerMessage::error("log_unavailable", e.to_string())))
                            .await?;
                        return close(&mut tx, session.terminal.exited().and_then(|e| e.code)).await;
                    }
                };
                if let Some(first) = chunks.first()
                    && first.seq > n
                {
                    // Retention dropped chunks while we were behind.
                    tx.send(text(ServerMessage::Gap {
                        from: n,
                        to: first.seq - 1,
                    }))
                    .await?;
                }
                for c in chunks {
                    tx.send(frame(c.seq, &c.data)).await?;
                    next = Some(c.seq + 1);
                }
                // Answer the client between batches.
                if let Some(msg) = rx.next().now_or_never() {
                    match msg {
                        Some(Ok(m)) if too_big(&m).is_some() => return refuse_too_big(tx, rx, too_big(&m)).await,
                        Some(Ok(m)) => handle(&*answerer, &session, &mut tx, &mut next, m).await?,
                        Some(Err(e)) if is_capacity(&e) => return refuse_too_big(tx, rx, None).await,
                        _ => return Ok(()),
                    }
                }
                continue;
            }
            if session.terminal.exited().is_some() {
                return close(&mut tx, session.terminal.exited().and_then(|e| e.code)).await;
            }
        }
        tokio::select! {
            msg = rx.next() => match msg {
                Some(Ok(m)) if too_big(&m).is_some() => return refuse_too_big(tx, rx, too_big(&m)).await,
                Some(Err(e)) if is_capacity(&e) => return refuse_too_big(tx, rx, None).await,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(()),
                Some(Ok(m)) => handle(&*answerer, &session, &mut tx, &mut next, m).await?,
            },
            r = live.recv(), if next.is_some() => match r {
                Ok(chunk) => {
                    if Some(chunk.seq) == next {
                        tracing::trace!(session = %session.name, seq = chunk.seq, "ws live frame");
                        tx.send(frame(chunk.seq, &chunk.data)).await?;
                        next = Some(chunk.seq + 1);
                    }
                    // Older: already sent. Newer: missed; the log catches us up.
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => {}
            },
            changed = state_rx.changed() => {
                if changed.is_ok() {
                    tx.send(state_message(&session)).await?;
                }
            }
            _ = exit_rx.changed() => {}
            _ = ping.tick() => tx.send(Message::Ping(Vec::new().into())).await?,
        }
    }
}

/// The size of a text or binary message over [`MAX_CLIENT_MESSAGE`].
fn too_big(m: &Message) -> Option<usize> {
    let len = match m {
        Message::Text(t) => t.len(),
        Message::Binary(b) => b.len(),
        _ => 0,
    };
    (len > MAX_CLIENT_MESSAGE).then_some(len)
}

/// Whether a read failed because a frame or message was over [`READ_LIMIT`].
fn is_capacity(e: &axum::Error) -> bool {
    let text = e.to_string();
    text.contains("Space limit exceeded") || text.contains("too long") || text.contains("too big")
}

/// Refuse an oversized message: a `message_too_big` error, close 1009,
/// then wait (briefly) for the client's close so it reads both before the
/// connection ends.
async fn refuse_too_big(
    mut tx: futures::stream::SplitSink<WebSocket, Message>,
    mut rx: futures::stream::SplitStream<WebSocket>,
    size: Option<usize>,
) -> WsResult {
    let what = match size {
        Some(n) => format!("a {n}-byte message"),
        None => format!("a message over {READ_LIMIT} bytes"),
    };
    tracing::debug!(what, "refusing an oversized WebSocket message");
    let msg = format!("{what} is over the limit of {MAX_CLIENT_MESSAGE} bytes; closing with 1009");
    tx.send(text(ServerMessage::error("message_too_big", msg))).await?;
    tx.send(Message::Close(Some(CloseFrame {
        code: CLOSE_TOO_BIG,
        reason: "message too big".into(),
    })))
    .await?;
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(m)) = rx.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
    Ok(())
}

async fn close(tx: &mut futures::stream::SplitSink<WebSocket, Message>, code: Option<i32>) -> WsResult {
    tx.send(text(ServerMessage::Exit { code })).await?;
    tx.send(Message::Close(Some(CloseFrame {
        code: 1000,
        reason: "session ended".into(),
    })))
    .await?;
    Ok(())
}

async fn handle(
    answerer: &dyn Answerer,
    session: &Arc<Session>,
    tx: &mut futures::stream::SplitSink<WebSocket, Message>,
    next: &mut Option<u64>,
    msg: Message,
) -> WsResult {
    let body = match msg {
        Message::Text(t) => t.to_string(),
        Message::Binary(_) => {
            return tx
                .send(text(ServerMessage::error(
                    "bad_message",
                    "binary messages are not accepted; send JSON text",
                )))
                .await;
        }
        _ => return Ok(()),
    };
    let parsed: ClientMessage = match serde_json::from_str(&body) {
        Ok(m) => m,
        Err(e) => {
            return tx
                .send(text(ServerMessage::error(
                    "bad_message",
                    format!("invalid message: {e}"),
                )))
                .await;
        }
    };
    let reply = |r: Result<(), String>, code: &str| r.err().map(|m| ServerMessage::error(code, m));
    let out: Option<ServerMessage> = match parsed {
        ClientMessage::Resume { last_seq, epoch } => {
            if next.is_some() {
                Some(ServerMessage::error(
                    "bad_message",
                    "already resumed; reconnect to start over",
                ))
            } else {
                let meta = session.terminal.log.meta();
                let last_seq = if epoch.as_ref().is_some_and(|e| *e != meta.epoch) {
                    None
                } else {
                    last_seq
                };
                match last_seq {
                    None => {
                        *next = Some(meta.first_seq);
                        None
                    }
                    Some(n) if n > meta.last_seq => {
                        *next = Some(meta.first_seq);
                        Some(ServerMessage::error(
                            "bad_cursor",
                            format!(
                                "lastSeq {n} is ahead of the log (last seq {}); replaying from {}",
                                meta.last_seq, meta.first_seq
                            ),
                        ))
                    }
                    Some(n) if n + 1 < meta.first_seq => {
                        *next = Some(meta.first_seq);
                        Some(ServerMessage::Gap {
                            from: n + 1,
                            to: meta.first_seq - 1,
                        })
                    }
                    Some(n) => {
                        *next = Some(n + 1);
                        None
                    }
                }
            }
        }
        ClientMessage::SnapshotRequest {} => Some(match session.terminal.snapshot().await {
            Ok(s) => ServerMessage::Snapshot(s),
            Err(e) => ServerMessage::error("snapshot_failed", e.to_string()),
        }),
        ClientMessage::Input { data } => {
            if data.len() > MAX_INPUT {
                Some(ServerMessage::error(
                    "bad_message",
                    format!("input is {} bytes; the limit is {MAX_INPUT}", data.len()),
                ))
            } else {
                reply(
                    session
                        .terminal
                        .send_text(data.as_bytes())
                        .await
                        .map_err(|e| e.to_string()),
                    "input_failed",
                )
            }
        }
        ClientMessage::Keys { keys } => {
            if keys.is_empty() || keys.len() > 64 {
                Some(ServerMessage::error("bad_message", "keys must hold 1 to 64 key names"))
            } else {
                reply(
                    session.terminal.send_keys(&keys).await.map_err(|e| e.to_string()),
                    "keys_failed",
                )
            }
        }
        ClientMessage::Resize { cols, rows } => match session.terminal.resize(cols, rows).await {
            Ok(()) => None,
            Err(e) => Some(ServerMessage::error("resize_failed", e.to_string())),
        },
        ClientMessage::PermissionAnswer {
            permission_id,
            decision,
        } => match answerer.answer(&session.name, &permission_id, &decision).await {
            Ok(()) => None,
            Err((code, message)) => Some(ServerMessage::Error { code, message }),
        },
    };
    match out {
        Some(m) => tx.send(text(m)).await,
        None => Ok(()),
    }
}
