//! The HTTP API: router, authentication, and one module per resource.

pub mod adapters;
pub mod auth_mw;
pub mod deliveries;
pub mod edge;
pub mod error;
pub mod events;
pub mod extract;
pub mod health;
pub mod messages;
pub mod metrics;
pub mod openapi;
pub mod plugins;
pub mod sessions;
pub mod stream;
pub mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::middleware;
use std::sync::Arc;

use crate::auth::Auth;
use crate::config::Config;
use crate::plugins::PluginRegistry;
use crate::session::{Registry, Session};
use crate::store::Store;
pub use error::{ApiError, ApiJson, ApiResult};

/// Shared state of every handler.
pub struct App {
    /// Effective configuration.
    pub config: Arc<Config>,
    /// Token and tickets.
    pub auth: Auth,
    /// Loaded plugins.
    pub plugins: Arc<PluginRegistry>,
    /// The database.
    pub store: Arc<Store>,
    /// Replies and their deliveries.
    pub outbox: Arc<crate::outbox::Outbox>,
    /// Every session (terminal and agent halves).
    pub sessions: Arc<Registry>,
    /// Daemon start time (ms since epoch).
    pub started_at: u64,
    /// Browser sign-in and the live origin allow-list.
    pub console: crate::console::Console,
}

/// Handle to [`App`] used as axum state.
pub type AppState = Arc<App>;

/// Build the router: `/health` and `/webhooks/*` are open; `/metrics` takes
/// the operator token, the scrape token or none (`metrics.public`);
/// everything else requires the bearer token. Every route checks the `Host`
/// header (but `/health`), answers errors in the JSON shape and is logged.
pub fn router(app: AppState) -> Router {
    let protected = Router::new()
        .merge(health::protected_routes())
        .merge(plugins::routes())
        .merge(sessions::routes())
        .merge(messages::routes())
        .route("/sessions/{name}/events", axum::routing::get(events::events))
        .route("/sessions/{name}/chat", axum::routing::post(adapters::chat))
        .route("/deliveries", axum::routing::get(deliveries::deliveries))
        .route("/openapi.json", axum::routing::get(openapi::openapi))
        .merge(crate::console::protected_routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), auth_mw::require_token));
    Router::new()
        .merge(health::public_routes())
        .merge(crate::console::public_routes())
        // Authenticated by the webhook plugin (signatures), not the token.
        .route("/webhooks/{route}", axum::routing::post(webhooks::webhook))
        // Authenticates itself: bearer header or single-use ticket.
        .route("/sessions/{name}/stream", axum::routing::get(stream::handler))
        // Authenticates itself: scrape token, operator token or public.
        .route("/metrics", axum::routing::get(metrics::metrics))
        .merge(protected)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(app.config.limits.body_bytes))
        .layer(middleware::from_fn(edge::json_errors))
        .layer(middleware::from_fn_with_state(app.clone(), crate::console::cors::cors))
        .layer(middleware::from_fn_with_state(app.clone(), edge::check_host))
        .layer(middleware::from_fn(edge::access_log))
        .with_state(app)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

impl App {
    /// The session `name`, or the 404.
    pub fn session(&self, name: &str) -> Result<Arc<Session>, ApiError> {
        Ok(self.sessions.get(name)?)
    }

    /// Answer permission request `id` of session `name`.
    pub async fn answer_permission(&self, name: &str, id: &str, decision: &str) -> Result<(), ApiError> {
        Ok(self.session(name)?.agent.answer_permission(id, decision).await?)
    }
}
