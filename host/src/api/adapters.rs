//! Event streams in other formats, rendered by adapter plugins:
//! `GET /sessions/{name}/events?format=<adapter>` (all events, e.g. `jsonl`)
//! and `POST /sessions/{name}/chat` (one message's turn, e.g. the Vercel AI
//! SDK UI message stream). Each request gets a fresh adapter instance.

use super::extract::{ApiPath, ApiQuery};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use std::sync::Arc;

use super::error::body_rejection;
use super::{ApiError, ApiResult, AppState};
use crate::agent::EnqueueRequest;
use crate::events::{EventBus, wit::stream_event};
use crate::plugins::adapter_stream::{self, AdapterStream};
use crate::plugins::bindings::types::HttpRequest;
use crate::plugins::{Kind, LoadedPlugin};
use crate::session::Session;

fn adapter(app: &AppState, name: &str) -> Result<Arc<LoadedPlugin>, ApiError> {
    app.plugins.of_kind(name, Kind::Adapter).map_err(|_| {
        let names: Vec<String> = app
            .plugins
            .all()
            .iter()
            .filter(|p| p.manifest.kind == Kind::Adapter)
            .map(|p| p.name().to_string())
            .collect();
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_adapter",
            format!(
                "no adapter plugin named `{name}` is loaded (adapters: {})",
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            ),
        )
    })
}

/// Start a response: the encoder's headers and first bytes, then the body
/// `make_body` produces from the encoder.
async fn respond<S>(mut enc: AdapterStream, make_body: impl FnOnce(AdapterStream) -> S) -> ApiResult<Response>
where
    S: futures::Stream<Item = Bytes> + Send + 'static,
{
    let headers = enc.headers().await?;
    let begin = enc.begin().await?;
    let body = make_body(enc);
    let mut resp = Response::builder().status(StatusCode::OK);
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            resp = resp.header(k, v);
        }
    }
    let stream = futures::stream::once(async move { Bytes::from(begin) })
        .chain(body)
        .map(Ok::<_, std::convert::Infallible>);
    resp.body(Body::from_stream(stream))
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Events of `agent` after `after`, encoded by `encoder`, ending when the
/// encoder says done (or, with `follow` false, after the stored events).
fn encoded(
    bus: Arc<EventBus>,
    mut enc: AdapterStream,
    after: u64,
    follow: bool,
) -> impl futures::Stream<Item = Bytes> + Send {
    async_stream::stream! {
        let session = bus.session().to_string();
        let events = crate::events::follow(bus, after, follow);
        futures::pin_mut!(events);
        let mut error = None;
        while let Some(item) = events.next().await {
            let e = match item {
                Ok(e) => e,
                Err(crate::events::Break::Gap(_)) => continue,
                Err(crate::events::Break::Failed(why)) => {
                    error = Some(why);
                    break;
                }
            };
            match enc.encode(&stream_event(&session, &e)).await {
                Ok(chunk) => {
                    if !chunk.bytes.is_empty() {
                        yield Bytes::from(chunk.bytes);
                    }
                    if chunk.done {
                        break;
                    }
                }
                Err(err) => {
                    error = Some(err.to_string());
                    break;
                }
            }
        }
        if let Ok(tail) = enc.finish(error.as_deref()).await
            && !tail.is_empty()
        {
            yield Bytes::from(tail);
        }
    }
}

/// `GET /sessions/{name}/events?format=<adapter>`.
pub async fn events_as(
    app: &AppState,
    session: &Session,
    format: &str,
    after: u64,
    follow: bool,
) -> ApiResult<Response> {
    let plugin = adapter(app, format)?;
    let enc = AdapterStream::new(plugin, &session.name, None).await?;
    let bus = session.agent.bus.clone();
    respond(enc, move |enc| encoded(bus, enc, after, follow)).await
}

/// Query of the chat route.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct ChatQuery {
    /// Adapter plugin (default `vercel-ai`).
    pub adapter: Option<String>,
}

/// `POST /sessions/{name}/chat`: decode the client's request with the
/// adapter, enqueue its text, and stream that message's turn in the
/// adapter's format.
#[utoipa::path(post, path = "/sessions/{name}/chat", params(("name" = String, Path), ChatQuery),
    responses((status = 200, description = "the adapter's stream (Vercel AI UI message stream by default)"),
              (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 429, body = super::error::ErrorBody)))]
pub async fn chat(
    State(app): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<ChatQuery>,
    req: Request,
) -> ApiResult<Response> {
    let session = app.session(&name)?;
    let plugin = adapter(&app, q.adapter.as_deref().unwrap_or("vercel-ai"))?;
    let http = http_request(req).await?;
    let inbound = adapter_stream::decode_request(&plugin, &http).await?;
    let metadata = serde_json::from_str(&inbound.metadata).unwrap_or(serde_json::json!({}));
    let bus = session.agent.bus.clone();
    let after = bus.last_seq();
    let queued = session.agent.enqueue(EnqueueRequest {
        text: inbound.text,
        metadata,
        idempotency_key: None,
        source: format!("chat:{}", plugin.name()),
    })?;
    let enc = AdapterStream::new(plugin, &name, Some(&queued.id)).await?;
    respond(enc, move |enc| encoded(bus, enc, after, true)).await
}

/// Read a request into the WIT record (body limited by the router).
pub async fn http_request(req: Request) -> Result<HttpRequest, ApiError> {
    use axum::extract::FromRequest;
    let parts = req.headers().clone();
    let (method, uri) = (req.method().clone(), req.uri().clone());
    // The Bytes extractor honours the router's DefaultBodyLimit (413).
    let bytes = Bytes::from_request(req, &()).await.map_err(body_rejection)?;
    Ok(HttpRequest {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        headers: parts
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: bytes.to_vec(),
    })
}
