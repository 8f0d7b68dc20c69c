//! Event streams in other formats, rendered by adapter plugins.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

use super::{ApiError, ApiResult, AppState};
use crate::agent::Agent;

/// Stream `agent`'s events through the adapter plugin named `format`.
pub async fn events_as(
    app: &AppState,
    agent: Arc<Agent>,
    format: &str,
    after: u64,
    follow: bool,
) -> ApiResult<Response> {
    let _ = (app, agent, after, follow);
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_format",
        format!("no adapter plugin named `{format}` is loaded; use format=sse"),
    ))
    .map(|r: Response<Body>| r)
}
