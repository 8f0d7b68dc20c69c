//! Session rows.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{Store, StoreError};

/// A session as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRow {
    /// Unique name.
    pub name: String,
    /// Provider plugin name.
    pub provider: String,
    /// Working directory.
    pub cwd: String,
    /// Extra arguments for the agent.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Width.
    pub cols: u16,
    /// Height.
    pub rows: u16,
    /// Stable UUID handed to the provider.
    pub uuid: String,
    /// Secret marker nonce of the exit wrapper.
    pub nonce: String,
    /// Creation time, ms since epoch.
    pub created_at: u64,
    /// Whether the agent's pane runs.
    pub status: SessionStatus,
    /// Exit code of the agent, when known.
    pub exit_code: Option<i32>,
    /// Free-form labels (`PATCH /sessions/{name}`).
    pub labels: BTreeMap<String, String>,
    /// The provider's launch spec as JSON (transcript, bridge, polling).
    pub launch: String,
    /// The tmux pane id (`%3`) of the agent's pane, from the command that
    /// created it; `None` for rows written before pane ids were stored.
    pub pane: Option<String>,
}

/// Whether a session's agent runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    /// The pane and its agent run.
    Running,
    /// The agent ended (its pane is gone).
    Exited,
}

impl SessionStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Running => "running",
            SessionStatus::Exited => "exited",
        }
    }
}

impl rusqlite::types::ToSql for SessionStatus {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for SessionStatus {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        match v.as_str()? {
            "running" => Ok(SessionStatus::Running),
            "exited" => Ok(SessionStatus::Exited),
            other => Err(rusqlite::types::FromSqlError::Other(
                format!("unknown session status {other:?}").into(),
            )),
        }
    }
}

/// A session's row shared by its terminal and agent halves; each field has
/// one writer (size, pane, status, exit code: the terminal; launch: the
/// agent; labels: the registry).
#[derive(Debug)]
pub struct RowCell(std::sync::Mutex<SessionRow>);

impl RowCell {
    /// A cell holding `row`.
    pub fn new(row: SessionRow) -> RowCell {
        RowCell(std::sync::Mutex::new(row))
    }

    /// A copy of the row.
    pub fn get(&self) -> SessionRow {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Change the row in place.
    pub fn update<R>(&self, f: impl FnOnce(&mut SessionRow) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
    let json = |i: usize| -> rusqlite::Result<String> { r.get(i) };
    Ok(SessionRow {
        name: r.get(0)?,
        provider: r.get(1)?,
        cwd: r.get(2)?,
        args: serde_json::from_str(&json(3)?).unwrap_or_default(),
        env: serde_json::from_str(&json(4)?).unwrap_or_default(),
        cols: r.get(5)?,
        rows: r.get(6)?,
        uuid: r.get(7)?,
        nonce: r.get(8)?,
        created_at: r.get::<_, i64>(9)? as u64,
        status: r.get(10)?,
        exit_code: r.get(11)?,
        labels: serde_json::from_str(&json(12)?).unwrap_or_default(),
        launch: r.get(13)?,
        pane: r.get(14)?,
    })
}

const COLUMNS: &str =
    "name, provider, cwd, args, env, cols, rows, uuid, nonce, created_at, status, exit_code, labels, launch, pane";

impl Store {
    /// Insert a new session; false if the name exists.
    pub fn session_insert(&self, s: &SessionRow) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            &format!("INSERT OR IGNORE INTO sessions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"),
            params![
                s.name,
                s.provider,
                s.cwd,
                serde_json::to_string(&s.args).unwrap_or_default(),
                serde_json::to_string(&s.env).unwrap_or_default(),
                s.cols,
                s.rows,
                s.uuid,
                s.nonce,
                s.created_at as i64,
                s.status,
                s.exit_code,
                serde_json::to_string(&s.labels).unwrap_or_default(),
                s.launch,
                s.pane,
            ],
        )?;
        Ok(n == 1)
    }

    /// One session.
    pub fn session_get(&self, name: &str) -> Result<Option<SessionRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM sessions WHERE name = ?1"),
                params![name],
                from_row,
            )
            .optional()?)
    }

    /// Every session, oldest first.
    pub fn session_list(&self) -> Result<Vec<SessionRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM sessions ORDER BY created_at, name"))?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Record that a session's agent exited.
    pub fn session_exited(&self, name: &str, code: Option<i32>) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE sessions SET status = ?3, exit_code = coalesce(?2, exit_code) WHERE name = ?1",
            params![name, code, SessionStatus::Exited],
        )?;
        Ok(())
    }

    /// Record a (re)started agent: status `running`, no exit code, its new
    /// pane, nonce and launch spec.
    pub fn session_relaunched(&self, s: &SessionRow) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE sessions SET status = ?5, exit_code = NULL, pane = ?2, nonce = ?3, launch = ?4 WHERE name = ?1",
            params![s.name, s.pane, s.nonce, s.launch, SessionStatus::Running],
        )?;
        Ok(())
    }

    /// Record the pane id of a session's agent.
    pub fn session_set_pane(&self, name: &str, pane: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("UPDATE sessions SET pane = ?2 WHERE name = ?1", params![name, pane])?;
        Ok(())
    }

    /// Record a new size.
    pub fn session_resize(&self, name: &str, cols: u16, rows: u16) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE sessions SET cols = ?2, rows = ?3 WHERE name = ?1",
            params![name, cols, rows],
        )?;
        Ok(())
    }

    /// Replace labels.
    pub fn session_set_labels(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE sessions SET labels = ?2 WHERE name = ?1",
            params![name, serde_json::to_string(labels).unwrap_or_default()],
        )?;
        Ok(())
    }

    /// Delete a session row (and, through foreign keys, its messages and events).
    pub fn session_delete(&self, name: &str) -> Result<bool, StoreError> {
        let deleted = self
            .conn()
            .execute("DELETE FROM sessions WHERE name = ?1", params![name])?
            > 0;
        self.queued().remove(name);
        Ok(deleted)
    }
}

impl Store {
    /// The last output seq the session's provider has consumed.
    pub fn session_provider_seq(&self, name: &str) -> Result<u64, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT provider_seq FROM sessions WHERE name = ?1",
                params![name],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .unwrap_or(0) as u64)
    }

    /// Give the session a new conversation uuid (on reset).
    pub fn session_set_uuid(&self, name: &str, uuid: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("UPDATE sessions SET uuid = ?2 WHERE name = ?1", params![name, uuid])?;
        Ok(())
    }

    /// Record the provider's output cursor.
    pub fn session_set_provider_seq(&self, name: &str, seq: u64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE sessions SET provider_seq = ?2 WHERE name = ?1",
            params![name, seq as i64],
        )?;
        Ok(())
    }
}

impl SessionRow {
    /// The launch request a provider gets for this session.
    pub fn launch_request(&self) -> crate::plugins::provider_instance::LaunchRequest {
        crate::plugins::provider_instance::LaunchRequest {
            session: self.name.clone(),
            cwd: self.cwd.clone(),
            args: self.args.clone(),
            env: self.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            cols: self.cols,
            rows: self.rows,
            session_uuid: self.uuid.clone(),
        }
    }
}
