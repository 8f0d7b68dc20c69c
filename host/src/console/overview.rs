//! `GET /overview`: every session with what the console's list shows —
//! the session itself plus queue depth, pending permissions and the last
//! message — in one request.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::api::sessions::SessionInfo;
use crate::api::{ApiError, ApiResult, AppState};
use crate::store::MessageStatus;

/// The last message of a session: the running turn, else the newest past one.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastMessage {
    /// Message id.
    pub id: String,
    /// What was sent (at most 200 characters).
    pub text: String,
    /// Its status (`running`, `done`, `failed`, …).
    pub status: MessageStatus,
    /// The answer so far (at most 200 characters), if any.
    pub response: Option<String>,
}

/// One row of the overview.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    /// The session.
    #[serde(flatten)]
    pub session: SessionInfo,
    /// Messages waiting in the queue.
    pub queue_depth: usize,
    /// Permission requests waiting for an answer.
    pub pending_permissions: usize,
    /// The last message.
    pub last_message: Option<LastMessage>,
    /// Seq of the newest event (follow `/events?after=` from here).
    pub last_event_seq: u64,
}

fn preview(s: &str) -> String {
    let mut out: String = s.chars().take(200).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Every session, summarised.
#[utoipa::path(get, path = "/overview", responses((status = 200, body = [SessionSummary])))]
pub async fn overview(State(app): State<AppState>) -> ApiResult<Json<Vec<SessionSummary>>> {
    let internal = ApiError::from;
    let mut out = Vec::new();
    for s in app.sessions.list() {
        let queue = app.store.message_queue(&s.name).map_err(internal)?;
        let last = match s.agent.turn() {
            Some(t) => Some(LastMessage {
                id: t.id,
                text: preview(&t.text),
                status: MessageStatus::Running,
                response: None,
            }),
            None => app
                .store
                .message_history(&s.name, 1)
                .map_err(internal)?
                .pop()
                .map(|m| LastMessage {
                    id: m.id,
                    text: preview(&m.text),
                    status: m.status,
                    response: m.response.as_deref().map(preview),
                }),
        };
        out.push(SessionSummary {
            session: SessionInfo::of(&s),
            queue_depth: queue.len(),
            pending_permissions: s.agent.pending_permissions().len(),
            last_message: last,
            last_event_seq: s.agent.bus.last_seq(),
        });
    }
    Ok(Json(out))
}
