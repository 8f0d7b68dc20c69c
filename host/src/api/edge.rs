//! The HTTP edge, as middleware on every route: the `Host` allow-list
//! (DNS-rebinding defence), every error in the JSON shape (axum's own
//! rejections included), and the access log.

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

use super::{ApiError, AppState};

/// Refuse requests whose `Host` (or absolute-URI authority) is not allowed
/// (`421 host_not_allowed`). `/health` is exempt: it says only that the
/// daemon answers. A request without any `Host` (HTTP/1.0) is served: the
/// browsers that DNS rebinding needs always send one.
pub async fn check_host(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/health" {
        return next.run(req).await;
    }
    let authority = match req.uri().authority() {
        Some(a) => Some(Ok(a.as_str().to_string())),
        None => req
            .headers()
            .get(HOST)
            .map(|v| v.to_str().map(str::to_string).map_err(|_| ())),
    };
    let refused = match &authority {
        None => None,
        Some(Ok(a)) if app.config.server.host_allowed(a, app.config.listen) => None,
        Some(Ok(a)) => Some(a.clone()),
        Some(Err(())) => Some("(not text)".to_string()),
    };
    match refused {
        None => next.run(req).await,
        Some(host) => ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_allowed",
            format!("this daemon does not serve Host {host:?}; add the name to server.allowed_hosts"),
        )
        .into_response(),
    }
}

/// The slug of an error status that no handler named.
fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "timeout",
        413 => "body_too_large",
        415 => "unsupported_media_type",
        422 => "unprocessable",
        426 => "upgrade_required",
        431 => "headers_too_large",
        500..=599 => "internal",
        _ => "http_error",
    }
}

/// Rewrite any error response that is not JSON (axum's `text/plain`
/// rejections, a plugin's bare status) into `{"error", "code"}`, keeping
/// its status and other headers.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let json = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_ascii_lowercase()
    } else {
        text
    };
    let mut out = ApiError::new(status, code_for(status), message).into_response();
    for (k, v) in parts.headers.iter() {
        if k != CONTENT_TYPE && k != CONTENT_LENGTH {
            out.headers_mut().append(k.clone(), v.clone());
        }
    }
    out
}

/// One `info` line per request on target `wasmux::access`: method, matched
/// route (the template, e.g. `/sessions/{name}`, never the raw path, so
/// names stay out of it), status and latency to the response head.
pub async fn access_log(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let resp = next.run(req).await;
    tracing::info!(
        target: "wasmux::access",
        method = %method,
        route = route.as_deref().unwrap_or("-"),
        status = resp.status().as_u16(),
        ms = format!("{:.2}", started.elapsed().as_secs_f64() * 1000.0),
        "request"
    );
    resp
}
