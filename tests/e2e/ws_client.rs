//! A WebSocket client of the terminal stream for tests.

#![allow(dead_code)]

use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::TestDaemon;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What the server sent.
#[derive(Debug, Clone)]
pub enum Frame {
    /// A binary chunk.
    Chunk(u64, Vec<u8>),
    /// A JSON message.
    Json(Value),
    /// The server closed (with the code).
    Closed(Option<u16>),
}

/// A connected stream client.
pub struct StreamClient {
    ws: Ws,
    /// Chunks that arrived while a caller waited for JSON, delivered next.
    held: std::collections::VecDeque<Frame>,
    /// The session-meta message.
    pub meta: Value,
    /// The first state message.
    pub state: Value,
}

impl StreamClient {
    /// Connect with the daemon's token.
    pub async fn connect(d: &TestDaemon, session: &str) -> Result<StreamClient> {
        let mut req = format!("ws://{}/sessions/{session}/stream", d.addr).into_client_request()?;
        req.headers_mut()
            .insert("authorization", format!("Bearer {}", d.token).parse()?);
        Self::connect_request(req).await
    }

    /// Connect with an arbitrary request.
    pub async fn connect_request(
        req: tokio_tungstenite::tungstenite::handshake::client::Request,
    ) -> Result<StreamClient> {
        let (ws, _) = tokio::time::timeout(Duration::from_secs(30), tokio_tungstenite::connect_async(req))
            .await
            .context("timed out connecting the stream")??;
        let mut c = StreamClient {
            ws,
            held: Default::default(),
            meta: Value::Null,
            state: Value::Null,
        };
        c.meta = c.json().await.context("session-meta")?;
        assert_eq!(c.meta["type"], "session-meta", "{}", c.meta);
        c.state = c.json().await.context("state")?;
        assert_eq!(c.state["type"], "state", "{}", c.state);
        Ok(c)
    }

    /// Send a JSON message.
    pub async fn send(&mut self, v: Value) -> Result<()> {
        self.ws.send(Message::Text(v.to_string().into())).await?;
        Ok(())
    }

    /// Send raw text.
    pub async fn send_text(&mut self, t: &str) -> Result<()> {
        self.ws.send(Message::Text(t.to_string().into())).await?;
        Ok(())
    }

    /// Send a binary message.
    pub async fn send_binary(&mut self, b: Vec<u8>) -> Result<()> {
        self.ws.send(Message::Binary(b.into())).await?;
        Ok(())
    }

    /// `{"type":"resume","lastSeq":…}`.
    pub async fn resume(&mut self, last: Option<u64>) -> Result<()> {
        self.send(serde_json::json!({"type": "resume", "lastSeq": last})).await
    }

    /// The next frame, skipping pings; errors after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Result<Frame> {
        if let Some(f) = self.held.pop_front() {
            return Ok(f);
        }
        self.next_wire(timeout).await
    }

    async fn next_wire(&mut self, timeout: Duration) -> Result<Frame> {
        // One deadline for the whole wait: the server's pings must not
        // restart it, or a frame that never comes is waited for forever.
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .with_context(|| format!("timed out waiting {timeout:?} for a frame"))?;
            match msg {
                None => return Ok(Frame::Closed(None)),
                Some(Err(e)) => bail!("websocket error: {e}"),
                Some(Ok(Message::Binary(b))) => {
                    let seq = u64::from_be_bytes(b[..8].try_into()?);
                    return Ok(Frame::Chunk(seq, b[8..].to_vec()));
                }
                Some(Ok(Message::Text(t))) => return Ok(Frame::Json(serde_json::from_str(&t)?)),
                Some(Ok(Message::Close(f))) => return Ok(Frame::Closed(f.map(|f| f.code.into()))),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next JSON message; chunks before it are held for `next`.
    pub async fn json(&mut self) -> Result<Value> {
        if let Some(i) = self.held.iter().position(|f| matches!(f, Frame::Json(_)))
            && let Some(Frame::Json(v)) = self.held.remove(i)
        {
            return Ok(v);
        }
        loop {
            match self.next_wire(Duration::from_secs(20)).await? {
                Frame::Json(v) => return Ok(v),
                f @ Frame::Chunk(..) => self.held.push_back(f),
                Frame::Closed(c) => bail!("closed ({c:?}) while waiting for JSON"),
            }
        }
    }

    /// The next JSON message of type `kind`, skipping others.
    pub async fn json_of(&mut self, kind: &str) -> Result<Value> {
        loop {
            let v = self.json().await?;
            if v["type"] == kind {
                return Ok(v);
            }
        }
    }

    /// Close politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Collected output: checks seqs are consecutive as they arrive.
#[derive(Default)]
pub struct Collected {
    /// Last seq received.
    pub last: Option<u64>,
    /// Every chunk, in order.
    pub chunks: Vec<(u64, Vec<u8>)>,
    /// Concatenated bytes.
    pub bytes: Vec<u8>,
}

impl Collected {
    /// Add a chunk; panics on a gap or duplicate.
    pub fn push(&mut self, seq: u64, data: Vec<u8>) {
        if let Some(last) = self.last {
            assert_eq!(seq, last + 1, "chunk seq {seq} after {last}: gap or duplicate");
        }
        self.last = Some(seq);
        self.bytes.extend_from_slice(&data);
        self.chunks.push((seq, data));
    }

    /// Whether the bytes contain `needle`.
    pub fn contains(&self, needle: &[u8]) -> bool {
        memchr::memmem::find(&self.bytes, needle).is_some()
    }
}

impl Frame {
    /// The close code, if this is a close.
    pub fn closed_code(&self) -> Option<u16> {
        match self {
            Frame::Closed(c) => *c,
            _ => None,
        }
    }
}
