//! `GET /plugins` and `POST /plugins/reload`.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use super::AppState;
use crate::plugins::loader::{WIT_VERSION, accepted_wit_range};
use crate::plugins::registry::{LoadFailure, PluginInfo};

/// Body of `GET /plugins`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginList {
    /// The WIT package version this host implements.
    pub wit_version: &'static str,
    /// The WIT versions it accepts from plugins.
    pub accepts: String,
    /// Loaded plugins.
    pub plugins: Vec<PluginInfo>,
    /// Files that failed to load (and are not serving an older build).
    pub errors: Vec<LoadFailure>,
}

/// Plugin routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/plugins", get(list))
        .route("/plugins/reload", post(reload))
}

fn snapshot(app: &AppState) -> PluginList {
    let (plugins, errors) = app.plugins.describe();
    PluginList {
        wit_version: WIT_VERSION,
        accepts: accepted_wit_range(),
        plugins,
        errors,
    }
}

/// Loaded plugins with health and counters.
#[utoipa::path(get, path = "/plugins", responses((status = 200, body = PluginList)))]
pub async fn list(State(app): State<AppState>) -> Json<PluginList> {
    Json(snapshot(&app))
}

/// Rescan the plugins folder and reload every file in it.
#[utoipa::path(post, path = "/plugins/reload", responses((status = 200, body = PluginList)))]
pub async fn reload(State(app): State<AppState>) -> Json<PluginList> {
    app.plugins.scan(true).await;
    Json(snapshot(&app))
}
