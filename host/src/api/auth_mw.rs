//! Authentication middleware: the bearer token, a browser's console cookie
//! (same origin only, CSRF on mutations: see `console::guard`), or — on
//! `GET /sessions/{name}/events` only — a single-use `?ticket=`.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::console::guard::{self, Principal};

/// The `ticket` query parameter, on the routes that take one (SSE events).
fn ticket(req: &Request) -> Option<&str> {
    if req.method() != Method::GET || !req.uri().path().ends_with("/events") {
        return None;
    }
    req.uri().query()?.split('&').find_map(|kv| kv.strip_prefix("ticket="))
}

/// Reject requests that are not authenticated (401) or whose cookie may not
/// be used (403); record the [`Principal`] for the handler.
pub async fn require_token(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let principal = if app.auth.check_header(header) {
        Some(Principal::Bearer)
    } else if ticket(&req).is_some_and(|t| app.auth.redeem_ticket(t)) {
        Some(Principal::Ticket)
    } else if header.is_none() {
        match guard::browser(
            &app.console.logins,
            app.console.cookie_name(),
            req.method(),
            req.headers(),
        ) {
            Ok(s) => s.map(Principal::Browser),
            Err(e) => return e.into_response(),
        }
    } else {
        None
    };
    if let Some(p) = principal {
        req.extensions_mut().insert(p);
        return next.run(req).await;
    }
    let message = if header.is_none() {
        "missing bearer token: send `Authorization: Bearer <token>` (the token is in the state dir's `token` file), or sign a browser in with `wasmux open`"
    } else {
        "invalid bearer token"
    };
    ApiError::unauthorized(message).into_response()
}
