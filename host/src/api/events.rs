//! `GET /sessions/{name}/events`: Server-Sent Events with `id:` = event seq
//! on every event; `Last-Event-ID` (or `?after=`) resumes gaplessly from the
//! store, then live; heartbeats every 15 s.

use super::extract::{ApiPath, ApiQuery};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;

use super::{ApiError, ApiResult, AppState};
use crate::events::Break;

/// The JSON of one SSE `data:` line: the event's place in the session's
/// sequence and the event itself. The daemon sends the stored text; this
/// type describes it for the OpenAPI document.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct EventRecord {
    /// Per-session sequence number (from 1); also the SSE `id:`.
    pub seq: u64,
    /// Session name.
    pub session: String,
    /// Milliseconds since the epoch.
    pub ts: u64,
    /// The event: `type` and its fields.
    #[serde(flatten)]
    pub event: crate::events::Event,
}

/// Query of the events route.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventsQuery {
    /// Resume after this seq (same as the `Last-Event-ID` header).
    pub after: Option<u64>,
    /// Output format: `sse` (default) or an adapter plugin's name (e.g. `jsonl`).
    pub format: Option<String>,
    /// Stop after the stored events instead of following live ones.
    #[serde(default)]
    pub follow: Option<bool>,
    /// Leave out events of these types (comma-separated, e.g.
    /// `terminal-output`, which the web console shows from the stream
    /// instead); SSE only. Seqs of the events sent stay as stored.
    pub exclude: Option<String>,
}

fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    match headers.get("last-event-id") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request("invalid_last_event_id", "Last-Event-ID must be an event seq (a number)")
            }),
    }
}

/// SSE of normalised events.
#[utoipa::path(get, path = "/sessions/{name}/events", params(("name" = String, Path), EventsQuery,
    ("Last-Event-ID" = Option<u64>, Header, description = "resume after this event seq")),
    responses((status = 200, description = "one event per `data:` with `id:` = seq; `event: gap` with `{\"type\":\"gap\",\"from\",\"to\"}` where retention dropped events",
               content_type = "text/event-stream", body = EventRecord),
              (status = 404, body = super::error::ErrorBody)))]
pub async fn events(
    State(app): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let session = app.session(&name)?;
    let after = q.after.or(last_event_id(&headers)?).unwrap_or(0);
    let follow = q.follow.unwrap_or(true);
    if let Some(format) = q.format.as_deref().filter(|f| *f != "sse") {
        return super::adapters::events_as(&app, &session, format, after, follow).await;
    }
    // A store that cannot be read gets its error status, not an empty 200.
    session.agent.bus.since(after, 1).map_err(ApiError::from)?;
    use futures::StreamExt;
    let exclude: Vec<String> = q
        .exclude
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect();
    let stream = crate::events::follow(session.agent.bus.clone(), after, follow)
        .filter(move |item| {
            let keep = !matches!(item, Ok(e) if exclude.iter().any(|t| t == e.event.kind()));
            futures::future::ready(keep)
        })
        .map(|item| -> Result<SseEvent, Infallible> {
            Ok(match item {
                Ok(e) => SseEvent::default().id(e.seq.to_string()).data(e.json()),
                Err(Break::Gap(gap)) => SseEvent::default()
                    .event("gap")
                    .data(serde_json::to_string(&gap).unwrap_or_default()),
                Err(Break::Failed(error)) => SseEvent::default()
                    .event("error")
                    .data(serde_json::json!({"error": error, "code": "store_error"}).to_string()),
            })
        });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("heartbeat"))
        .into_response())
}
