//! A WebSocket client of `GET /sessions/{name}/stream` (docs/protocol.md §1) and
//! the replay measurement.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::measure::Terminal;

/// A connected stream client.
pub struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    frame: Bytes,
    /// The `session-meta` message.
    pub meta: Value,
    /// Seq of the last binary frame received.
    pub last_seq: Option<u64>,
    /// Binary frames received.
    pub chunks: u64,
    /// Output bytes received (without the 8-byte seq headers).
    pub bytes: u64,
    /// `gap` messages received, as (from, to).
    pub gaps: Vec<(u64, u64)>,
}

impl WsClient {
    /// Connect to `ws://addr/sessions/name/stream` with the bearer token and
    /// read `session-meta` and `state`; no `resume` is sent yet.
    pub async fn connect(addr: &str, token: &str, name: &str) -> Result<WsClient> {
        let mut req = format!("ws://{addr}/sessions/{name}/stream").into_client_request()?;
        req.headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse()?);
        let config = WebSocketConfig::default()
            .max_message_size(Some(1 << 30))
            .max_frame_size(Some(1 << 30));
        let (ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), true)
            .await
            .context("connecting the stream WebSocket")?;
        let mut c = WsClient {
            ws,
            frame: Bytes::new(),
            meta: Value::Null,
            last_seq: None,
            chunks: 0,
            bytes: 0,
            gaps: Vec::new(),
        };
        c.meta = c.text("session-meta").await?;
        c.text("state").await?;
        Ok(c)
    }

    async fn text(&mut self, want: &str) -> Result<Value> {
        let msg = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
            .await
            .with_context(|| format!("no `{want}` message within 10s"))?
            .with_context(|| format!("stream closed before `{want}`"))??;
        let Message::Text(t) = msg else {
            bail!("expected `{want}`, got {msg:?}")
        };
        let v: Value = serde_json::from_str(&t)?;
        if v["type"] != want {
            bail!("expected `{want}`, got {t}");
        }
        Ok(v)
    }

    /// Send `{"type":"resume","lastSeq":last}`.
    pub async fn resume(&mut self, last: Option<u64>) -> Result<()> {
        self.send_json(json!({"type": "resume", "lastSeq": last})).await
    }

    async fn send_json(&mut self, v: Value) -> Result<()> {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .context("sending on the stream")
    }

    /// Close politely.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}

impl Terminal for WsClient {
    async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let data = String::from_utf8_lossy(bytes).into_owned();
        self.send_json(json!({"type": "input", "data": data})).await
    }

    async fn next_output(&mut self) -> Result<&[u8]> {
        loop {
            let Some(msg) = self.ws.next().await else {
                bail!("stream closed by the server")
            };
            match msg.context("reading the stream")? {
                Message::Binary(b) => {
                    if b.len() < 8 {
                        bail!("binary frame of {} bytes has no seq", b.len());
                    }
                    let seq = u64::from_be_bytes(b[..8].try_into().expect("8 bytes"));
                    if let Some(prev) = self.last_seq
                        && seq != prev + 1
                    {
                        bail!("seq {seq} after {prev}: the stream is not gapless");
                    }
                    self.last_seq = Some(seq);
                    self.chunks += 1;
                    self.bytes += (b.len() - 8) as u64;
                    self.frame = b;
                    return Ok(&self.frame[8..]);
                }
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                    match v["type"].as_str() {
                        Some("gap") => {
                            let (from, to) = (v["from"].as_u64().unwrap_or(0), v["to"].as_u64().unwrap_or(0));
                            self.gaps.push((from, to));
                            // The next frame legitimately jumps past the gap.
                            self.last_seq = Some(to);
                        }
                        Some("exit") => bail!("the session exited: {t}"),
                        Some("error") => bail!("stream error: {t}"),
                        _ => {}
                    }
                }
                Message::Close(f) => bail!("stream closed by the server: {f:?}"),
                _ => {}
            }
        }
    }
}

/// A replay from the start of the log.
pub struct Replay {
    /// From sending `resume` to receiving the frame with the target seq.
    pub elapsed: Duration,
    /// From sending `resume` to the first binary frame.
    pub first_frame: Duration,
    /// Output bytes received.
    pub bytes: u64,
    /// Binary frames received.
    pub chunks: u64,
    /// `firstSeq` in `session-meta`.
    pub first_seq: u64,
    /// Gaps announced.
    pub gaps: Vec<(u64, u64)>,
}

/// Connect a new client, resume from `null` and time receiving every chunk
/// up to `last_seq`.
pub async fn replay(addr: &str, token: &str, name: &str, last_seq: u64, limit: Duration) -> Result<Replay> {
    let mut c = WsClient::connect(addr, token, name).await?;
    let first_seq = c.meta["firstSeq"].as_u64().unwrap_or(0);
    let t0 = Instant::now();
    c.resume(None).await?;
    let deadline = tokio::time::Instant::now() + limit;
    let mut first_frame = None;
    while c.last_seq.is_none_or(|s| s < last_seq) {
        match tokio::time::timeout_at(deadline, c.next_output()).await {
            Ok(r) => {
                r?;
            }
            Err(_) => bail!(
                "replay: reached seq {:?} of {last_seq} within {}s",
                c.last_seq,
                limit.as_secs()
            ),
        }
        first_frame.get_or_insert_with(|| t0.elapsed());
    }
    let elapsed = t0.elapsed();
    let r = Replay {
        elapsed,
        first_frame: first_frame.unwrap_or_default(),
        bytes: c.bytes,
        chunks: c.chunks,
        first_seq,
        gaps: c.gaps.clone(),
    };
    c.close().await;
    Ok(r)
}
