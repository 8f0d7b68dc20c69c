//! Bearer-token middleware.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

/// Reject requests without the operator token (401).
pub async fn require_token(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    if app.auth.check_header(header) {
        return next.run(req).await;
    }
    let message = if header.is_none() {
        "missing bearer token: send `Authorization: Bearer <token>` (the token is in the state dir's `token` file)"
    } else {
        "invalid bearer token"
    };
    ApiError::unauthorized(message).into_response()
}
