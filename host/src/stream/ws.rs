//! The WebSocket handler: meta and state first, then — after the client's
//! `resume` — every retained chunk after its cursor, then live chunks, with
//! no gap and no duplicate at the hand-over. Live chunks come from a bounded
//! broadcast; a client that falls behind (or lags the broadcast) is caught
//! up from the log instead of buffering in memory.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::{FutureExt, SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

use super::protocol::{ClientMessage, SessionMeta, error, rfc3339};
use crate::api::{ApiError, AppState};
use crate::console::guard;
use crate::session::Session;

/// Most bytes of chunks read from the log per catch-up batch.
const REPLAY_BATCH: usize = 1 << 20;
/// Largest client message accepted.
const MAX_CLIENT_MESSAGE: usize = 256 * 1024;
/// Keep-alive ping interval.
const PING_EVERY: Duration = Duration::from_secs(20);

/// Query of the stream URL.
#[derive(Debug, serde::Deserialize)]
pub struct StreamQuery {
    /// Single-use ticket from `POST /auth/ticket` (browsers).
    pub ticket: Option<String>,
}

/// `GET /sessions/{name}/stream`.
pub async fn handler(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
    // The console's cookie counts only from the daemon's own origin (the
    // guard refuses it from any other).
    let browser = bearer.is_none()
        && query.ticket.is_none()
        && guard::browser(
            &app.console.logins,
            app.console.cookie_name(),
            &axum::http::Method::GET,
            &headers,
        )?
        .is_some();
    let authed =
        browser || app.auth.check_header(bearer) || query.ticket.as_deref().is_some_and(|t| app.auth.redeem_ticket(t));
    if !authed {
        return Err(ApiError::unauthorized(
            "send `Authorization: Bearer <token>`, or `?ticket=` from POST /auth/ticket (the token itself is never accepted in a URL)",
        ));
    }
    if let Some(origin) = guard::origin(&headers)
        && guard::self_origin(&headers).as_deref() != Some(origin)
        && !app.console.origin_allowed(origin)
    {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "origin_not_allowed",
            format!("WebSocket upgrades from origin {origin} are refused; add it to stream.allowed_origins"),
        ));
    }
    let session = app.sessions.get(&name).map_err(ApiError::from)?;
    let ws =
        ws.map_err(|e| ApiError::bad_request("not_websocket", format!("this route speaks WebSocket only: {e}")))?;
    Ok(ws
        .max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| async move {
            let _guard = session.terminal.stream_guard();
            if let Err(e) = run(app, session, socket).await {
                tracing::debug!(error = %e, "stream closed");
            }
        })
        .into_response())
}

fn frame(seq: u64, data: &[u8]) -> Message {
    let mut buf = Vec::with_capacity(8 + data.len());
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(data);
    Message::Binary(buf.into())
}

fn state_message(session: &Session) -> Message {
    let s = session.agent.state();
    Message::Text(
        serde_json::json!({"type": "state", "value": s.value, "source": s.source, "tool": s.tool, "ts": s.ts})
            .to_string()
            .into(),
    )
}

type WsResult = Result<(), axum::Error>;

async fn run(app: AppState, session: Arc<Session>, socket: WebSocket) -> WsResult {
    let (mut tx, mut rx) = socket.split();
    let mut live = session.terminal.subscribe();
    let mut state_rx = session.agent.state_watch();
    state_rx.borrow_and_update();
    let mut exit_rx = session.terminal.exit_watch();
    let meta = session.terminal.log.meta();
    let row = session.row();
    let hello = SessionMeta {
        kind: "session-meta",
        name: session.name.clone(),
        provider: row.provider.clone(),
        created_at: rfc3339(row.created_at),
        cols: row.cols,
        rows: row.rows,
        epoch: meta.epoch.clone(),
        first_seq: meta.first_seq,
        last_seq: meta.last_seq,
    };
    tx.send(Message::Text(serde_json::to_string(&hello).unwrap_or_default().into()))
        .await?;
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
                        tx.send(Message::Text(error("log_unavailable", e.to_string()).into()))
                            .await?;
                        return close(&mut tx, session.terminal.exited().and_then(|e| e.code)).await;
                    }
                };
                if let Some(first) = chunks.first()
                    && first.seq > n
                {
                    // Retention dropped chunks while we were behind.
                    let gap = serde_json::json!({"type": "gap", "from": n, "to": first.seq - 1});
                    tx.send(Message::Text(gap.to_string().into())).await?;
                }
                for c in chunks {
                    tx.send(frame(c.seq, &c.data)).await?;
                    next = Some(c.seq + 1);
                }
                // Answer the client between batches.
                if let Some(msg) = rx.next().now_or_never() {
                    match msg {
                        Some(Ok(m)) => handle(&app, &session, &mut tx, &mut next, m).await?,
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
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(()),
                Some(Ok(m)) => handle(&app, &session, &mut tx, &mut next, m).await?,
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

async fn close(tx: &mut futures::stream::SplitSink<WebSocket, Message>, code: Option<i32>) -> WsResult {
    tx.send(Message::Text(
        serde_json::json!({"type": "exit", "code": code}).to_string().into(),
    ))
    .await?;
    tx.send(Message::Close(Some(CloseFrame {
        code: 1000,
        reason: "session ended".into(),
    })))
    .await?;
    Ok(())
}

async fn handle(
    app: &AppState,
    session: &Arc<Session>,
    tx: &mut futures::stream::SplitSink<WebSocket, Message>,
    next: &mut Option<u64>,
    msg: Message,
) -> WsResult {
    let text = match msg {
        Message::Text(t) => t.to_string(),
        Message::Binary(_) => {
            return tx
                .send(Message::Text(
                    error("bad_message", "binary messages are not accepted; send JSON text").into(),
                ))
                .await;
        }
        _ => return Ok(()),
    };
    let parsed: ClientMessage = match serde_json::from_str(&text) {
        Ok(m) => m,
        Err(e) => {
            return tx
                .send(Message::Text(
                    error("bad_message", format!("invalid message: {e}")).into(),
                ))
                .await;
        }
    };
    let reply = |r: Result<(), String>, code: &str| r.err().map(|m| error(code, m));
    let out: Option<String> = match parsed {
        ClientMessage::Resume { last_seq, epoch } => {
            if next.is_some() {
                Some(error("bad_message", "already resumed; reconnect to start over"))
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
                        Some(error(
                            "bad_cursor",
                            format!(
                                "lastSeq {n} is ahead of the log (last seq {}); replaying from {}",
                                meta.last_seq, meta.first_seq
                            ),
                        ))
                    }
                    Some(n) if n + 1 < meta.first_seq => {
                        *next = Some(meta.first_seq);
                        Some(serde_json::json!({"type": "gap", "from": n + 1, "to": meta.first_seq - 1}).to_string())
                    }
                    Some(n) => {
                        *next = Some(n + 1);
                        None
                    }
                }
            }
        }
        ClientMessage::SnapshotRequest {} => Some(match session.terminal.snapshot().await {
            Ok(s) => {
                let mut v = serde_json::to_value(&s).unwrap_or_default();
                v["type"] = "snapshot".into();
                v.to_string()
            }
            Err(e) => error("snapshot_failed", e.to_string()),
        }),
        ClientMessage::Input { data } => {
            if data.len() > 64 * 1024 {
                Some(error(
                    "bad_message",
                    format!("input is {} bytes; the limit is 65536", data.len()),
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
                Some(error("bad_message", "keys must hold 1 to 64 key names"))
            } else {
                reply(
                    session.terminal.send_keys(&keys).await.map_err(|e| e.to_string()),
                    "keys_failed",
                )
            }
        }
        ClientMessage::Resize { cols, rows } => match session.terminal.resize(cols, rows).await {
            Ok(()) => None,
            Err(e) => Some(error("resize_failed", e.to_string())),
        },
        ClientMessage::PermissionAnswer {
            permission_id,
            decision,
        } => match app.answer_permission(&session.name, &permission_id, &decision).await {
            Ok(_) => None,
            Err(e) => Some(error(e.code, e.message)),
        },
    };
    match out {
        Some(text) => tx.send(Message::Text(text.into())).await,
        None => Ok(()),
    }
}
