//! `GET /sessions/{name}/stream`: authentication and origin checks, then
//! the connection is handed to [`crate::stream::ws::serve`].

use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use super::extract::{ApiPath, ApiQuery};
use super::{ApiError, App, AppState};
use crate::console::guard;
use crate::stream;
use crate::stream::ws::{Answerer, READ_LIMIT};

impl Answerer for App {
    fn answer<'a>(
        &'a self,
        session: &'a str,
        id: &'a str,
        decision: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<(), (String, String)>> {
        Box::pin(async move {
            self.answer_permission(session, id, decision)
                .await
                .map_err(|e| (e.code.to_string(), e.message))
        })
    }
}

/// Query of the stream URL.
#[derive(Debug, serde::Deserialize)]
pub struct StreamQuery {
    /// Single-use ticket from `POST /auth/ticket` (browsers).
    pub ticket: Option<String>,
}

/// The live terminal over WebSocket (docs/protocol.md §1): the client sends
/// [`ClientMessage`](crate::stream::protocol::ClientMessage) JSON, the server
/// [`ServerMessage`](crate::stream::protocol::ServerMessage) JSON and binary
/// chunks `[seq: u64 big-endian][bytes]`.
#[utoipa::path(get, path = "/sessions/{name}/stream",
    params(("name" = String, Path, description = "session name"),
           ("ticket" = Option<String>, Query, description = "single-use ticket from POST /auth/ticket (browsers)")),
    security(("bearer" = []), ()),
    responses((status = 101, description = "switching to WebSocket; messages are ClientMessage / ServerMessage JSON and binary chunks"),
              (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn handler(
    State(app): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<StreamQuery>,
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
    let answerer: Arc<dyn Answerer> = app.clone();
    Ok(ws
        .max_message_size(READ_LIMIT)
        .max_frame_size(READ_LIMIT)
        .on_upgrade(move |socket| stream::ws::serve(session, socket, answerer))
        .into_response())
}
