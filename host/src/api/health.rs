//! `/health` (open), `/ready` and `/auth/ticket`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use std::sync::{Arc, Mutex};

use super::{ApiError, AppState};
use crate::auth::TICKET_TTL;

/// Body of `GET /health`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always true when the daemon answers.
    pub ok: bool,
}

/// Body of `GET /ready`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
    /// Whether the daemon is ready to serve.
    pub ready: bool,
    /// Plugins loaded.
    pub plugins: usize,
    /// Daemon version.
    pub version: &'static str,
    /// Start time, ms since epoch.
    pub started_at: u64,
    /// Set when this start found the database damaged and rebuilt it: what
    /// was found, kept and lost, and where the damaged file is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_damage: Option<String>,
}

/// Body of `POST /auth/ticket`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    /// Pass as `?ticket=` on a WebSocket URL; single use.
    pub ticket: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// Routes without auth.
pub fn public_routes() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

/// Routes with auth.
pub fn protected_routes() -> Router<AppState> {
    Router::new()
        .route("/ready", get(ready))
        .route("/auth/ticket", post(ticket))
}

/// Liveness; needs no token.
#[utoipa::path(get, path = "/health", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { ok: true })
}

/// `503 not_ready` with the reason, in the error shape plus
/// `"ready": false`.
fn not_ready(reason: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({"ready": false, "reason": reason, "error": reason, "code": "not_ready"})),
    )
        .into_response()
}

/// Readiness and counts: 503 while the database does not answer (or its
/// file is gone); before that, while plugins load and sessions are
/// restored, the start-up router answers 503 (see [`starting_router`]).
#[utoipa::path(get, path = "/ready", responses((status = 200, body = Ready), (status = 503, body = super::error::ErrorBody)))]
pub async fn ready(State(app): State<AppState>) -> Response {
    if let Err(reason) = app.store.check() {
        return not_ready(&format!("store unavailable: {reason}"));
    }
    Json(Ready {
        ready: true,
        plugins: app.plugins.all().len(),
        version: env!("CARGO_PKG_VERSION"),
        started_at: app.started_at,
        store_damage: app.store.damage().map(str::to_string),
    })
    .into_response()
}

/// What the daemon serves while it starts (plugins loading, sessions being
/// restored): `/health` 200, `/ready` 503 naming the phase, anything else
/// `503 starting`. `phase` is updated as start-up proceeds.
pub fn starting_router(phase: Arc<Mutex<String>>) -> Router {
    let now = move || phase.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let ready_phase = now.clone();
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(move || async move { not_ready(&ready_phase()) }))
        .fallback(move || async move {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "starting",
                format!("the daemon is starting ({}); poll GET /ready", now()),
            )
        })
}

/// A single-use ticket for a browser WebSocket (`?ticket=`).
#[utoipa::path(post, path = "/auth/ticket", responses((status = 200, body = Ticket)))]
pub async fn ticket(State(app): State<AppState>) -> Json<Ticket> {
    Json(Ticket {
        ticket: app.auth.issue_ticket(),
        expires_in: TICKET_TTL.as_secs(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn get_status(router: &Router, path: &str) -> (StatusCode, serde_json::Value) {
        let req = axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
        let resp = router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn ready_is_503_with_the_phase_while_plugins_load() {
        let phase = Arc::new(Mutex::new("loading plugins".to_string()));
        let router = starting_router(phase.clone());
        assert_eq!(get_status(&router, "/health").await.0, StatusCode::OK);
        let (status, body) = get_status(&router, "/ready").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            (body["ready"].clone(), body["reason"].clone()),
            (false.into(), "loading plugins".into())
        );
        *phase.lock().unwrap() = "restoring sessions".into();
        assert_eq!(get_status(&router, "/ready").await.1["reason"], "restoring sessions");
        let (status, body) = get_status(&router, "/sessions").await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::SERVICE_UNAVAILABLE, "starting".into())
        );
    }
}
