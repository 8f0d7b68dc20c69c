//! `/health` (open), `/ready` and `/auth/ticket`.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use super::AppState;
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

/// Readiness and counts.
#[utoipa::path(get, path = "/ready", responses((status = 200, body = Ready)))]
pub async fn ready(State(app): State<AppState>) -> Json<Ready> {
    Json(Ready {
        ready: true,
        plugins: app.plugins.all().len(),
        version: env!("CARGO_PKG_VERSION"),
        started_at: app.started_at,
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
