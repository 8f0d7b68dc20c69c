//! Queue routes: enqueue (with `?wait=true` and `Idempotency-Key`), message
//! status, cancel, steer, abort, reset, permission answers, history, state.

use super::extract::{ApiPath, ApiQuery};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::{ApiError, ApiJson, ApiResult, AppState};
use crate::agent::{EnqueueRequest, EnqueueResult, PendingPermission, QueueError, SteerResult};
use crate::events::StateInfo;
use crate::store::{MessageRow, MessageStatus};

/// Body of `POST /sessions/{name}/messages`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// The text to send.
    pub text: String,
    /// Optional metadata (a JSON object).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

/// Query of `POST /sessions/{name}/messages`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct WaitQuery {
    /// Wait for the turn to finish and return its response.
    #[serde(default)]
    pub wait: bool,
    /// Longest wait in seconds (default: the turn timeout).
    pub timeout: Option<u64>,
}

/// Answer of `?wait=true`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WaitResult {
    /// Whether the turn completed (`done`).
    pub ok: bool,
    /// Message id.
    pub id: String,
    /// Final status.
    pub status: MessageStatus,
    /// The agent's response, when done.
    pub response: Option<String>,
    /// Why not done.
    pub error: Option<String>,
}

/// Body of `POST /sessions/{name}/steer`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SteerBody {
    /// Text to type into the running turn.
    pub text: String,
}

/// Body of `POST /sessions/{name}/permissions/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionBody {
    /// `allow`, `deny` or `always`.
    pub decision: String,
}

/// Query of `GET /sessions/{name}/history`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct HistoryQuery {
    /// How many past turns (default 50, max 1000).
    pub limit: Option<usize>,
}

/// The running turn.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TurnInfo {
    /// Message id.
    pub id: String,
    /// Its text.
    pub text: String,
    /// When delivered (ms).
    pub started_at: u64,
}

/// Body of `GET /sessions/{name}/state`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionState {
    /// Agent state with the signal that decided it.
    pub state: StateInfo,
    /// The running turn.
    pub turn: Option<TurnInfo>,
    /// Queued messages, in order.
    pub queue: Vec<MessageRow>,
    /// Pending permission requests.
    pub permissions: Vec<PendingPermission>,
    /// Last event seq.
    pub last_event_seq: u64,
    /// Exit status, once exited.
    pub exit_code: Option<i32>,
    /// Once exited: the last lines the pane printed (at most 20).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_output: Option<Vec<String>>,
    /// Why events are unavailable (provider failed to load), if they are.
    pub provider_error: Option<String>,
}

/// Body of `POST /sessions/{name}/abort`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AbortResult {
    /// Whether a turn was running (and is now aborted).
    pub ok: bool,
    /// The aborted message's id.
    pub aborted: Option<String>,
}

/// Body of `POST /sessions/{name}/reset`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResetResult {
    /// Always true on success.
    pub ok: bool,
    /// Ids of the queued messages that were cancelled.
    pub cancelled: Vec<String>,
    /// The aborted running message's id, if one ran.
    pub aborted: Option<String>,
}

/// Body of `POST /sessions/{name}/permissions/{id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PermissionResult {
    /// Always true on success.
    pub ok: bool,
    /// The request answered.
    pub permission_id: String,
    /// `allow`, `always` or `deny`.
    pub decision: String,
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> ApiError {
        let message = e.to_string();
        match e {
            QueueError::Session(s) => s.into(),
            QueueError::Invalid(_) => ApiError::bad_request("invalid_message", message),
            QueueError::NotFound(_) => ApiError::not_found(message),
            QueueError::Conflict(_) => ApiError::conflict("conflict", message),
            QueueError::Full(_) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "queue_full", message),
            QueueError::Delivery(_) => ApiError::new(StatusCode::BAD_GATEWAY, "delivery_failed", message),
        }
    }
}

/// Queue routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sessions/{name}/messages", post(enqueue))
        .route("/sessions/{name}/messages/{id}", get(message).delete(cancel))
        .route("/sessions/{name}/steer", post(steer))
        .route("/sessions/{name}/abort", post(abort))
        .route("/sessions/{name}/reset", post(reset))
        .route("/sessions/{name}/permissions/{id}", post(permission))
        .route("/sessions/{name}/history", get(history))
        .route("/sessions/{name}/state", get(state))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let k = v.to_str().map_err(|_| {
                ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key must be visible ASCII")
            })?;
            if k.is_empty() || k.len() > 256 {
                return Err(ApiError::bad_request(
                    "invalid_idempotency_key",
                    "Idempotency-Key must be 1-256 characters",
                ));
            }
            Ok(Some(k.to_string()))
        }
    }
}

/// Queue a message; with `?wait=true` wait for the turn.
#[utoipa::path(post, path = "/sessions/{name}/messages", request_body = PostMessage,
    params(("name" = String, Path, description = "session"), WaitQuery,
           ("Idempotency-Key" = Option<String>, Header, description = "same key, same message")),
    responses((status = 202, body = EnqueueResult), (status = 200, body = WaitResult),
              (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody), (status = 413, body = super::error::ErrorBody),
              (status = 429, body = super::error::ErrorBody)))]
pub async fn enqueue(
    State(app): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PostMessage>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let req = EnqueueRequest {
        text: body.text,
        metadata: body.metadata,
        idempotency_key: idempotency_key(&headers)?,
        source: "api".into(),
    };
    let session = app.session(&name)?;
    let r = session.agent.enqueue(req)?;
    if !q.wait {
        return Ok((StatusCode::ACCEPTED, Json(serde_json::to_value(&r).unwrap_or_default())));
    }
    let timeout = Duration::from_secs(q.timeout.unwrap_or(app.config.limits.turn_timeout_secs).min(24 * 3600));
    let m = session.agent.wait(&r.id, timeout).await?;
    Ok((
        StatusCode::OK,
        Json(
            serde_json::to_value(WaitResult {
                ok: m.status == MessageStatus::Done,
                id: m.id,
                status: m.status,
                response: m.response,
                error: m.error,
            })
            .unwrap_or_default(),
        ),
    ))
}

/// One message's status.
#[utoipa::path(get, path = "/sessions/{name}/messages/{id}", params(("name" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = MessageRow), (status = 404, body = super::error::ErrorBody)))]
pub async fn message(
    State(app): State<AppState>,
    ApiPath((name, id)): ApiPath<(String, String)>,
) -> ApiResult<Json<MessageRow>> {
    Ok(Json(app.session(&name)?.agent.message(&id)?))
}

/// Cancel a message that has not started.
#[utoipa::path(delete, path = "/sessions/{name}/messages/{id}", params(("name" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = MessageRow), (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn cancel(
    State(app): State<AppState>,
    ApiPath((name, id)): ApiPath<(String, String)>,
) -> ApiResult<Json<MessageRow>> {
    Ok(Json(app.session(&name)?.agent.cancel(&id)?))
}

/// Type into the running turn now, or queue if idle.
#[utoipa::path(post, path = "/sessions/{name}/steer", request_body = SteerBody, params(("name" = String, Path)),
    responses((status = 200, body = SteerResult), (status = 404, body = super::error::ErrorBody)))]
pub async fn steer(
    State(app): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<SteerBody>,
) -> ApiResult<Json<SteerResult>> {
    Ok(Json(app.session(&name)?.agent.steer(body.text).await?))
}

/// Interrupt the running turn.
#[utoipa::path(post, path = "/sessions/{name}/abort", params(("name" = String, Path)),
    responses((status = 200, body = AbortResult), (status = 404, body = super::error::ErrorBody)))]
pub async fn abort(State(app): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<Json<AbortResult>> {
    let aborted = app.session(&name)?.agent.abort().await;
    Ok(Json(AbortResult {
        ok: aborted.is_some(),
        aborted,
    }))
}

/// Clear the queue, abort the running turn and restart the agent.
#[utoipa::path(post, path = "/sessions/{name}/reset", params(("name" = String, Path)),
    responses((status = 200, body = ResetResult), (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn reset(State(app): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<Json<ResetResult>> {
    let (cancelled, aborted) = app.session(&name)?.agent.reset().await?;
    Ok(Json(ResetResult {
        ok: true,
        cancelled,
        aborted,
    }))
}

/// Answer a permission request; the first answer wins, later ones get 409.
#[utoipa::path(post, path = "/sessions/{name}/permissions/{id}", request_body = PermissionBody,
    params(("name" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = PermissionResult), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn permission(
    State(app): State<AppState>,
    ApiPath((name, id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<PermissionBody>,
) -> ApiResult<Json<PermissionResult>> {
    app.answer_permission(&name, &id, &body.decision).await?;
    Ok(Json(PermissionResult {
        ok: true,
        permission_id: id,
        decision: body.decision,
    }))
}

/// Past turns: messages that left the queue, oldest first, with responses.
#[utoipa::path(get, path = "/sessions/{name}/history", params(("name" = String, Path), HistoryQuery),
    responses((status = 200, body = [MessageRow]), (status = 404, body = super::error::ErrorBody)))]
pub async fn history(
    State(app): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<Vec<MessageRow>>> {
    app.session(&name)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    Ok(Json(app.store.message_history(&name, limit).map_err(ApiError::from)?))
}

/// State, its source, the running turn, the queue.
#[utoipa::path(get, path = "/sessions/{name}/state", params(("name" = String, Path)),
    responses((status = 200, body = SessionState), (status = 404, body = super::error::ErrorBody)))]
pub async fn state(State(app): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<Json<SessionState>> {
    let session = app.session(&name)?;
    let (agent, terminal) = (&session.agent, &session.terminal);
    let exit = terminal.exited();
    Ok(Json(SessionState {
        state: agent.state().or_exited(exit.is_some()),
        turn: agent.turn().map(|t| TurnInfo {
            id: t.id,
            text: t.text,
            started_at: t.started_at,
        }),
        queue: app.store.message_queue(&name).map_err(ApiError::from)?,
        permissions: agent.pending_permissions(),
        last_event_seq: agent.bus.last_seq(),
        exit_code: exit.and_then(|e| e.code),
        last_output: exit.map(|_| terminal.last_output_lines(20)),
        provider_error: agent.provider_error(),
    }))
}
