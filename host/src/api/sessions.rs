//! Session routes: create, list, inspect, label, delete; the stream.

use super::extract::ApiPath;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{ApiError, ApiJson, ApiResult, AppState};
use crate::events::StateInfo;
use crate::session::{CreateSession, Session, SessionError};
use crate::store::SessionStatus;
use crate::stream::protocol::rfc3339;

/// A session as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// Name.
    pub name: String,
    /// Provider plugin.
    pub provider: String,
    /// Working directory.
    pub cwd: String,
    /// Extra agent arguments.
    pub args: Vec<String>,
    /// Width.
    pub cols: u16,
    /// Height.
    pub rows: u16,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// `running` or `exited`.
    pub status: SessionStatus,
    /// The agent's exit status, once exited.
    pub exit_code: Option<i32>,
    /// Once exited: the last lines the pane printed (plain text, at most
    /// 20), e.g. the shell's `exec: claude: not found`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_output: Option<Vec<String>>,
    /// Agent state.
    pub state: StateInfo,
    /// Output log epoch.
    pub epoch: String,
    /// Set when the daemon found this session's output log damaged at
    /// start and rebuilt it under a new epoch: what was lost, where the old
    /// files are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_damage: Option<String>,
    /// First retained output seq.
    pub first_seq: u64,
    /// Last output seq.
    pub last_seq: u64,
    /// Bytes the pane has printed since the session was created.
    pub output_bytes: u64,
    /// Connected stream clients.
    pub stream_clients: usize,
    /// How a person takes over locally.
    pub attach: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// UUID handed to the provider (e.g. Claude's session id).
    pub uuid: String,
}

impl SessionInfo {
    /// Describe `s`.
    /// Status, exit code, last output and state come from one read of the
    /// terminal's exit, so the view never says `running` with an exit code
    /// (nor `working` once exited).
    pub fn of(s: &Session) -> SessionInfo {
        let row = s.row();
        let t = &s.terminal;
        let meta = t.log.meta();
        let exit = t.exited();
        SessionInfo {
            name: row.name.clone(),
            provider: row.provider,
            cwd: row.cwd,
            args: row.args,
            cols: row.cols,
            rows: row.rows,
            created_at: rfc3339(row.created_at),
            status: if exit.is_some() {
                SessionStatus::Exited
            } else {
                SessionStatus::Running
            },
            exit_code: exit.and_then(|e| e.code),
            last_output: exit.map(|_| t.last_output_lines(20)),
            state: s.agent.state().or_exited(exit.is_some()),
            epoch: meta.epoch,
            log_damage: t.log.damage().map(str::to_string),
            first_seq: meta.first_seq,
            last_seq: meta.last_seq,
            output_bytes: meta.last_raw_end,
            stream_clients: t.stream_clients(),
            attach: t.attach_command(),
            labels: row.labels,
            uuid: row.uuid,
        }
    }
}

/// Body of `PATCH /sessions/{name}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchSession {
    /// Replace the labels.
    pub labels: Option<BTreeMap<String, String>>,
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> ApiError {
        let message = e.to_string();
        match e {
            SessionError::Invalid(_) => ApiError::bad_request("invalid_session", message),
            SessionError::NotFound(_) => ApiError::not_found(message),
            SessionError::Exists(_) | SessionError::ExistsExited(_) => ApiError::conflict("session_exists", message),
            SessionError::Exited(_) => ApiError::conflict("session_exited", message),
            SessionError::CommandNotFound { .. } => ApiError::bad_request("command_not_found", message),
            SessionError::Plugin(p) => p.into(),
            SessionError::Tmux(t) => ApiError::new(StatusCode::BAD_GATEWAY, "tmux_failed", t.to_string()),
            SessionError::DiskFull(_) => ApiError::disk_full(message),
            SessionError::Internal(_) => ApiError::internal(message),
        }
    }
}

/// Session routes (auth applied by the caller).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sessions", get(list).post(create))
        .route("/sessions/{name}", get(show).patch(patch).delete(delete))
        .route("/sessions/{name}/restart", axum::routing::post(restart))
}

/// Start the session's agent again: an exited session gets a new pane (the
/// log, its epoch and seq numbering continue); a running one has its agent
/// killed and relaunched in place, its queue kept (the running turn fails
/// with `agent restarted`).
#[utoipa::path(post, path = "/sessions/{name}/restart", params(("name" = String, Path, description = "session name")),
    responses((status = 200, body = SessionInfo), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn restart(State(app): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<Json<SessionInfo>> {
    let session = app.sessions.restart(&name).await?;
    Ok(Json(SessionInfo::of(&session)))
}

/// Create a session and start its agent.
#[utoipa::path(post, path = "/sessions", request_body = CreateSession,
    responses((status = 201, body = SessionInfo), (status = 400, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<CreateSession>,
) -> ApiResult<(StatusCode, Json<SessionInfo>)> {
    let session = app.sessions.create(req).await?;
    Ok((StatusCode::CREATED, Json(SessionInfo::of(&session))))
}

/// Every session.
#[utoipa::path(get, path = "/sessions", responses((status = 200, body = [SessionInfo])))]
pub async fn list(State(app): State<AppState>) -> Json<Vec<SessionInfo>> {
    Json(app.sessions.list().iter().map(|s| SessionInfo::of(s)).collect())
}

/// One session.
#[utoipa::path(get, path = "/sessions/{name}", params(("name" = String, Path, description = "session name")),
    responses((status = 200, body = SessionInfo), (status = 404, body = super::error::ErrorBody)))]
pub async fn show(State(app): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<Json<SessionInfo>> {
    Ok(Json(SessionInfo::of(&*app.sessions.get(&name)?)))
}

/// Change labels (renaming is not supported: the name is the tmux target,
/// the directory and every cursor's address).
#[utoipa::path(patch, path = "/sessions/{name}", request_body = PatchSession, params(("name" = String, Path, description = "session name")),
    responses((status = 200, body = SessionInfo), (status = 404, body = super::error::ErrorBody)))]
pub async fn patch(
    State(app): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<PatchSession>,
) -> ApiResult<Json<SessionInfo>> {
    let session = app.sessions.get(&name)?;
    if let Some(labels) = req.labels {
        if labels.len() > 64 || labels.iter().any(|(k, v)| k.len() > 128 || v.len() > 1024) {
            return Err(ApiError::bad_request(
                "invalid_labels",
                "at most 64 labels, keys up to 128 bytes, values up to 1024",
            ));
        }
        app.sessions.set_labels(&name, labels)?;
    }
    Ok(Json(SessionInfo::of(&session)))
}

/// Kill the agent and delete the session with its log.
#[utoipa::path(delete, path = "/sessions/{name}", params(("name" = String, Path, description = "session name")),
    responses((status = 200, body = Deleted), (status = 404, body = super::error::ErrorBody)))]
pub async fn delete(State(app): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<Json<Deleted>> {
    app.sessions.delete(&name).await?;
    Ok(Json(Deleted { ok: true, name }))
}

/// Body of `DELETE /sessions/{name}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Deleted {
    /// Always true on success.
    pub ok: bool,
    /// The session that was deleted.
    pub name: String,
}
