//! A scripted model API on loopback.
//!
//! One server speaks every wire protocol the agent CLIs use:
//!
//! * **Anthropic Messages** (Claude Code, `ANTHROPIC_BASE_URL`):
//!   `POST /v1/messages` (streamed as SSE `message_start`,
//!   `content_block_*` with `text_delta` / `thinking_delta` /
//!   `input_json_delta`, `message_delta`, `message_stop`),
//!   `POST /v1/messages/count_tokens` and `GET /v1/models`;
//! * **Gemini** (Gemini CLI, `GOOGLE_GEMINI_BASE_URL`):
//!   `POST /v1beta/models/<m>:streamGenerateContent?alt=sse` (text,
//!   `thought` and `functionCall` parts) and `:generateContent`;
//! * **OpenAI chat completions** (OpenCode's `@ai-sdk/openai-compatible`
//!   provider, pi's `openai-completions`): `POST /v1/chat/completions`
//!   streamed as `choices[0].delta` chunks and `[DONE]`;
//! * **OpenAI Responses** (Codex, a custom `model_providers` entry with
//!   `wire_api = "responses"`): `POST /v1/responses` streamed as
//!   `response.created`, `response.output_item.added/done` with `reasoning`,
//!   `message`, `function_call` and `custom_tool_call` items,
//!   `response.output_text.delta`, `response.completed` with usage.
//!
//! A request that offers the agent's tools (two or more) is a **model call**
//! of the conversation: it is answered with the next [`Reply`] of the script
//! ([`ModelStub::push`]). Other requests are the CLIs' side calls (titles,
//! quota checks; Codex's title call offers `apply_patch` alone) and get a
//! short text. Every request is recorded ([`ModelStub::requests`]).
//! A [`Block::Hold`] in a reply stops the stream there until
//! [`ModelStub::release`] (or until the client hangs up, e.g. on an abort).

use anyhow::Result;
use axum::body::{Body, Bytes};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

use crate::sse;

/// One piece of a scripted reply, in stream order.
#[derive(Clone, Debug)]
pub enum Block {
    /// Answer text.
    Text(String),
    /// Reasoning (Anthropic `thinking`, OpenAI `reasoning` summary).
    Thinking(String),
    /// A function tool call: Anthropic `tool_use`, OpenAI `function_call`
    /// (`input` becomes its JSON `arguments`).
    Tool {
        /// Tool name as the CLI offered it.
        name: String,
        /// Arguments.
        input: Value,
    },
    /// An OpenAI free-form `custom_tool_call` (Codex's `apply_patch`).
    Custom {
        /// Tool name.
        name: String,
        /// The raw input (e.g. the patch text).
        input: String,
    },
    /// Stop streaming here until [`ModelStub::release`].
    Hold,
}

/// The answer to one model call.
#[derive(Clone, Debug)]
pub struct Reply {
    /// Blocks in stream order.
    pub blocks: Vec<Block>,
    /// Reported input tokens.
    pub input_tokens: u64,
    /// Reported output tokens.
    pub output_tokens: u64,
}

impl Reply {
    /// An empty reply with the given usage.
    pub fn new(input_tokens: u64, output_tokens: u64) -> Reply {
        Reply {
            blocks: Vec::new(),
            input_tokens,
            output_tokens,
        }
    }

    /// A reply that is only `text`.
    pub fn text(text: &str) -> Reply {
        Reply::new(20, 10).then_text(text)
    }

    /// Append answer text.
    pub fn then_text(mut self, text: &str) -> Reply {
        self.blocks.push(Block::Text(text.into()));
        self
    }

    /// Append reasoning.
    pub fn then_thinking(mut self, text: &str) -> Reply {
        self.blocks.push(Block::Thinking(text.into()));
        self
    }

    /// Append a function tool call.
    pub fn then_tool(mut self, name: &str, input: Value) -> Reply {
        self.blocks.push(Block::Tool {
            name: name.into(),
            input,
        });
        self
    }

    /// Append a free-form custom tool call.
    pub fn then_custom(mut self, name: &str, input: &str) -> Reply {
        self.blocks.push(Block::Custom {
            name: name.into(),
            input: input.into(),
        });
        self
    }

    /// Stop the stream here until released.
    pub fn then_hold(mut self) -> Reply {
        self.blocks.push(Block::Hold);
        self
    }

    /// Whether the reply calls a tool.
    pub fn calls_tool(&self) -> bool {
        self.blocks
            .iter()
            .any(|b| matches!(b, Block::Tool { .. } | Block::Custom { .. }))
    }
}

/// A request the stub received.
#[derive(Clone, Debug)]
pub struct Request {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The JSON body (Null when empty or not JSON).
    pub body: Value,
    /// Whether it was a model call of the conversation (it offered tools).
    pub model_call: bool,
}

struct Inner {
    script: VecDeque<Reply>,
    requests: Vec<Request>,
}

pub(crate) struct Shared {
    inner: Mutex<Inner>,
    released: watch::Sender<bool>,
    /// Streams currently stopped at a `Hold`.
    holding: AtomicU64,
    ids: AtomicU64,
}

impl Shared {
    pub(crate) fn id(&self, prefix: &str) -> String {
        format!("{prefix}_stub{:04}", self.ids.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

/// The running stub server (stopped on drop).
pub struct ModelStub {
    /// Bound loopback address.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl ModelStub {
    /// Start on a free loopback port.
    pub async fn start() -> Result<ModelStub> {
        let (released, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                script: VecDeque::new(),
                requests: Vec::new(),
            }),
            released,
            holding: AtomicU64::new(0),
            ids: AtomicU64::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let s = shared.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
            let s = s.clone();
            async move { handle(s, method, uri, body) }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(ModelStub { addr, shared, task })
    }

    /// `http://127.0.0.1:<port>` (Claude Code's `ANTHROPIC_BASE_URL`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queue the answer to the next model call.
    pub fn push(&self, reply: Reply) {
        self.shared.inner.lock().unwrap().script.push_back(reply);
    }

    /// Drop the scripted replies not used yet.
    pub fn clear(&self) {
        self.shared.inner.lock().unwrap().script.clear();
    }

    /// Scripted replies not used yet.
    pub fn pending(&self) -> usize {
        self.shared.inner.lock().unwrap().script.len()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.inner.lock().unwrap().requests.clone()
    }

    /// The model calls of the conversation received so far.
    pub fn model_calls(&self) -> Vec<Request> {
        self.requests().into_iter().filter(|r| r.model_call).collect()
    }

    /// Let streams stopped at a [`Block::Hold`] finish (and later ones pass).
    pub fn release(&self) {
        self.shared.released.send_replace(true);
    }

    /// How many streams are stopped at a hold right now.
    pub fn holding(&self) -> u64 {
        self.shared.holding.load(Ordering::SeqCst)
    }

    /// Wait (polling, up to `timeout`) until `n` model calls were received.
    pub async fn wait_model_calls(&self, n: usize, timeout: Duration) -> Result<Vec<Request>> {
        let deadline = Instant::now() + timeout;
        loop {
            let calls = self.model_calls();
            if calls.len() >= n {
                return Ok(calls);
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "the model stub got {} model calls, not {n}, within {timeout:?}; requests: {:?}",
                    calls.len(),
                    self.requests().iter().map(|r| &r.path).collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ModelStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn handle(s: Arc<Shared>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path().trim_end_matches('/').to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    // Side calls offer no tool or one (Codex's title call offers only
    // `apply_patch`); the conversation offers the agent's whole tool set.
    let gemini_tools = body["tools"][0]["functionDeclarations"].as_array();
    let offers_tools =
        body["tools"].as_array().is_some_and(|t| t.len() >= 2) || gemini_tools.is_some_and(|t| t.len() >= 2);
    let anthropic = path.ends_with("/messages");
    let openai = path.ends_with("/responses");
    let chat = path.ends_with("/chat/completions");
    let gemini = path.contains(":streamGenerateContent") || path.contains(":generateContent");
    let model_call = (anthropic || openai || chat || gemini) && method == Method::POST && offers_tools;
    let reply = {
        let mut inner = s.inner.lock().unwrap();
        inner.requests.push(Request {
            method: method.to_string(),
            path: uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
            body: body.clone(),
            model_call,
        });
        if model_call {
            Some(
                inner
                    .script
                    .pop_front()
                    .unwrap_or_else(|| Reply::text("(the model stub has no scripted reply left)")),
            )
        } else {
            None
        }
    };
    let reply = reply.unwrap_or_else(|| Reply::text("Stub side answer"));
    let stream = body["stream"] == true;
    if anthropic && method == Method::POST {
        let model = body["model"].as_str().unwrap_or("claude-stub").to_string();
        if stream {
            let events = sse::anthropic(&s, &reply, &model);
            return sse_response(s, events);
        }
        return json_response(StatusCode::OK, sse::anthropic_message(&s, &reply, &model));
    }
    if openai && method == Method::POST {
        if stream {
            let events = sse::openai(&s, &reply);
            return sse_response(s, events);
        }
        return json_response(StatusCode::OK, sse::openai_response(&s, &reply));
    }
    if chat && method == Method::POST {
        let model = body["model"].as_str().unwrap_or("stub-model").to_string();
        return sse_response(s.clone(), sse::chat(&s, &reply, &model));
    }
    if gemini && method == Method::POST {
        if path.contains(":streamGenerateContent") {
            return sse_response(s, sse::gemini(&reply));
        }
        let text: String = reply
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        return json_response(
            StatusCode::OK,
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}]}),
        );
    }
    if path.ends_with("/messages/count_tokens") {
        let chars = body.to_string().len() as u64;
        return json_response(StatusCode::OK, json!({"input_tokens": chars / 4 + 1}));
    }
    if method == Method::GET && path.ends_with("/models") {
        let m = |id: &str| json!({"type": "model", "id": id, "display_name": id, "created_at": "2025-01-01T00:00:00Z"});
        let data = vec![m("claude-sonnet-4-5"), m("claude-opus-4-1"), m("claude-haiku-4-5")];
        return json_response(
            StatusCode::OK,
            json!({"data": data, "has_more": false, "first_id": "claude-sonnet-4-5", "last_id": "claude-haiku-4-5", "models": []}),
        );
    }
    json_response(
        StatusCode::NOT_FOUND,
        json!({"type": "error", "error": {"type": "not_found_error", "message": format!("the model stub does not serve {path}")}}),
    )
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

/// Stream `events` (each `Some(bytes)`, or `None` for a hold).
fn sse_response(s: Arc<Shared>, events: Vec<Option<String>>) -> Response {
    let stream = async_stream::stream! {
        for ev in events {
            match ev {
                Some(text) => yield Ok::<_, std::convert::Infallible>(Bytes::from(text)),
                None => {
                    let mut rx = s.released.subscribe();
                    let guard = HoldGuard::new(&s);
                    let _ = rx.wait_for(|r| *r).await;
                    drop(guard);
                }
            }
        }
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .expect("a valid response")
}

/// Counts a stream as holding while alive (also when the client hangs up
/// and the stream is dropped mid-hold).
struct HoldGuard(Arc<Shared>);

impl HoldGuard {
    fn new(s: &Arc<Shared>) -> HoldGuard {
        s.holding.fetch_add(1, Ordering::SeqCst);
        HoldGuard(s.clone())
    }
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        self.0.holding.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) use Shared as StubShared;
