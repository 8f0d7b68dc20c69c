//! `GET /deliveries`: the outbox of replies, newest first — where each
//! stands, its attempts and last error (bodies, headers and secret values
//! are never shown; a credential appears as `kind:secret-name`).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::extract::ApiQuery;
use super::{ApiError, ApiResult, AppState};
use crate::store::{DeliveryRow, DeliveryStatus};

/// Query of `GET /deliveries`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// Only this status: `pending`, `attempting`, `delivered` or `failed`.
    pub status: Option<DeliveryStatus>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<u32>,
}

/// The outbox, newest first.
#[utoipa::path(get, path = "/deliveries", params(DeliveriesQuery),
    responses((status = 200, body = [DeliveryRow]), (status = 400, body = super::error::ErrorBody)))]
pub async fn deliveries(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> ApiResult<Json<Vec<DeliveryRow>>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(app.store.delivery_list(q.status, limit).map_err(ApiError::from)?))
}
