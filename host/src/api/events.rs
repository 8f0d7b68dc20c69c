//! `GET /sessions/{name}/events`: Server-Sent Events with `id:` = event seq
//! on every event; `Last-Event-ID` (or `?after=`) resumes gaplessly from the
//! store, then live; heartbeats every 15 s.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

use super::{ApiError, ApiResult, AppState};
use crate::agent::Agent;
use crate::events::Event;

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
}

/// Events replayed from the store after `after`, then live ones, without gap
/// or duplicate. Yields `Err(gap)` items when retention dropped events.
pub fn event_stream(agent: Arc<Agent>, after: u64, follow: bool) -> impl Stream<Item = Result<Arc<Event>, (u64, u64)>> {
    async_stream::stream! {
        let mut rx = agent.bus.subscribe();
        let mut next = after + 1;
        // Read the store only while behind; live events in order need no query.
        let mut caught_up = false;
        loop {
            if caught_up {
                match rx.recv().await {
                    Ok(e) if e.seq == next => {
                        next += 1;
                        yield Ok(e);
                    }
                    Ok(e) if e.seq < next => {}
                    Ok(_) | Err(RecvError::Lagged(_)) => caught_up = false,
                    Err(RecvError::Closed) => break,
                }
                continue;
            }
            let batch = match agent.bus.since(next - 1, 500) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "reading events failed");
                    break;
                }
            };
            if let Some(first) = batch.first() {
                if first.seq > next {
                    yield Err((next, first.seq - 1));
                }
                for e in batch {
                    next = e.seq + 1;
                    yield Ok(e);
                }
                continue;
            }
            if !follow {
                break;
            }
            caught_up = true;
        }
    }
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
    responses((status = 200, description = "text/event-stream; one event per `data:` with `id:` = seq"),
              (status = 404, body = super::error::ErrorBody)))]
pub async fn events(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let agent = app.agents.get(&name)?;
    let after = q.after.or(last_event_id(&headers)?).unwrap_or(0);
    let follow = q.follow.unwrap_or(true);
    if let Some(format) = q.format.as_deref().filter(|f| *f != "sse") {
        return super::adapters::events_as(&app, agent, format, after, follow).await;
    }
    use futures::StreamExt;
    let stream = event_stream(agent, after, follow).map(|item| -> Result<SseEvent, Infallible> {
        Ok(match item {
            Ok(e) => SseEvent::default().id(e.seq.to_string()).data(e.json()),
            Err((from, to)) => SseEvent::default()
                .event("gap")
                .data(serde_json::json!({"type": "gap", "from": from, "to": to}).to_string()),
        })
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("heartbeat"))
        .into_response())
}
