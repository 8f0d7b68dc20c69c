//! CORS on the API, governed by `stream.allowed_origins` (the same list that
//! admits WebSocket upgrades, reloadable without a restart).
//!
//! A request from a listed origin gets `Access-Control-Allow-Origin` naming
//! it; its preflight is answered 204 with the methods and headers the API
//! takes. A preflight from an unlisted origin is refused (403, JSON error,
//! no CORS headers), and no response ever carries CORS headers for an
//! unlisted origin. `Access-Control-Allow-Credentials` is never sent: other
//! origins authenticate with the bearer token or a ticket, never the cookie.
//! Requests from the daemon's own origin (the console) are not cross-origin
//! and pass untouched.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::guard::{origin, self_origin};
use crate::api::{ApiError, AppState};

const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "authorization, content-type, idempotency-key, last-event-id";

/// The CORS middleware.
pub async fn cors(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let Some(o) = origin(req.headers()).map(str::to_string) else {
        return next.run(req).await;
    };
    if self_origin(req.headers()).as_deref() == Some(o.as_str()) {
        return next.run(req).await;
    }
    let listed = app.console.origin_allowed(&o);
    let preflight = req.method() == Method::OPTIONS && req.headers().contains_key("access-control-request-method");
    if preflight && !listed {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            format!("cross-origin requests from {o} are refused; add it to stream.allowed_origins"),
        )
        .into_response();
    }
    let mut res = if preflight {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert("access-control-allow-methods", HeaderValue::from_static(ALLOW_METHODS));
        h.insert("access-control-allow-headers", HeaderValue::from_static(ALLOW_HEADERS));
        h.insert("access-control-max-age", HeaderValue::from_static("600"));
        r
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    h.append("vary", HeaderValue::from_static("Origin"));
    if listed && let Ok(v) = HeaderValue::from_str(&o) {
        h.insert("access-control-allow-origin", v);
        h.insert(
            "access-control-expose-headers",
            HeaderValue::from_static("content-type"),
        );
    }
    res
}
