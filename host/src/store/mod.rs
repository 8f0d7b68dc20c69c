//! The embedded store: one SQLite database (`<state>/wasmux.db`, WAL mode)
//! for sessions, messages, events and plugin key-value data.
//!
//! SQLite (rusqlite, bundled) rather than redb: the queue needs secondary
//! indexes (per-session FIFO order, idempotency keys, status) and atomic
//! multi-row updates, which SQL expresses directly; it is one C library
//! compiled once, and `sqlite3` can inspect a live daemon's state.
//!
//! Faults. At open `PRAGMA quick_check` runs; a damaged database (which
//! SQLite may otherwise read as silently shorter tables) is rebuilt from
//! every row that still reads back and checks out, the damaged file kept
//! beside it with a report (see `recover.rs`); [`Store::damage`] says what
//! was lost. A write that finds the disk full fails with
//! [`StoreError::DiskFull`] (the API answers `507 disk_full`) and changes
//! nothing; writes succeed again once there is space, without a restart.

mod events;
mod kv;
mod messages;
mod outbox;
pub use outbox::{CredentialSpec, DeliveryRow, DeliveryStats, DeliveryStatus, NewDelivery, ReplyRow, ReplyStage};
mod recover;
mod salvage;
mod sessions;
mod tables;

mod status;

#[cfg(test)]
mod fault_tests;

pub use messages::{Enqueued, MessageRow, NewMessage};
pub use sessions::{RowCell, SessionRow, SessionStatus};
pub use status::{Illegal, MessageStatus};

pub use kv::KV_MAX_KEY;
pub use kv::KV_MAX_VALUE;

use rusqlite::Connection;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// A write found the disk full (`SQLITE_FULL`, `ENOSPC`); nothing of it
    /// was stored. Writes succeed again once there is space.
    #[error(
        "the disk is full: {0}; nothing was stored (free space on the disk of the state dir; writes resume by themselves)"
    )]
    DiskFull(String),
    /// A file operation failed (opening or rebuilding the database).
    #[error("database file error: {0}")]
    Io(std::io::Error),
    /// A value broke a limit.
    #[error("{0}")]
    Limit(String),
    /// A message status move the queue does not allow (a bug).
    #[error(transparent)]
    Illegal(#[from] Illegal),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            StoreError::DiskFull(e.to_string())
        } else {
            StoreError::Sqlite(e)
        }
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> StoreError {
        if is_disk_full_io(&e) {
            StoreError::DiskFull(e.to_string())
        } else {
            StoreError::Io(e)
        }
    }
}

impl StoreError {
    /// Whether the failure is a full disk (answered `507 disk_full`).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::DiskFull(_))
    }
}

/// Whether `e` is `ENOSPC` (or `EDQUOT`, a full quota): the disk is full.
pub fn is_disk_full_io(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || e.raw_os_error() == Some(libc::ENOSPC)
}

/// Whether an error `message` says the disk is full: the text of
/// [`StoreError::DiskFull`], of SQLite's `SQLITE_FULL` or of an `ENOSPC`
/// I/O error: for a plugin's refusal, which carries only the text of a host
/// write it passed on across the guest boundary.
pub fn says_disk_full(message: &str) -> bool {
    const MARKS: &[&str] = &[
        "the disk is full",
        "database or disk is full",
        "No space left on device",
        "(os error 28)",
        "Disk quota exceeded",
    ];
    MARKS.iter().any(|m| message.contains(m))
}

/// How hard commits are pushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Survives a daemon crash (SIGKILL); a power cut may lose the last commits.
    Normal,
    /// Also survives a power cut (fsync on every commit).
    Full,
}

/// Handle to the database. Cheap to share behind an `Arc`.
pub struct Store {
    path: Option<std::path::PathBuf>,
    /// What the open found damaged and rebuilt (see [`Store::damage`]).
    damage: Option<String>,
    conn: Mutex<Connection>,
    /// Queued messages per session, counted once and kept up to date, so the
    /// queue-cap check stays O(1). Locked after `conn`.
    queued: Mutex<std::collections::HashMap<String, usize>>,
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS kv (
    plugin TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  BLOB NOT NULL,
    PRIMARY KEY (plugin, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS sessions (
    name       TEXT PRIMARY KEY,
    provider   TEXT NOT NULL,
    cwd        TEXT NOT NULL,
    args       TEXT NOT NULL,
    env        TEXT NOT NULL,
    cols       INTEGER NOT NULL,
    rows       INTEGER NOT NULL,
    uuid       TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    status     TEXT NOT NULL,
    exit_code  INTEGER,
    labels     TEXT NOT NULL DEFAULT '{}',
    launch     TEXT NOT NULL DEFAULT '{}',
    provider_seq INTEGER NOT NULL DEFAULT 0,
    pane       TEXT
);

CREATE TABLE IF NOT EXISTS messages (
    id              TEXT NOT NULL UNIQUE,
    session         TEXT NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    text            TEXT NOT NULL,
    metadata        TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL,
    idempotency_key TEXT,
    source          TEXT NOT NULL DEFAULT 'api',
    created_at      INTEGER NOT NULL,
    started_at      INTEGER,
    finished_at     INTEGER,
    response        TEXT,
    error           TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_idempotency ON messages(session, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_queue ON messages(session, status);

CREATE TABLE IF NOT EXISTS replies (
    message_id TEXT PRIMARY KEY,
    plugin     TEXT NOT NULL,
    session    TEXT NOT NULL,
    target     TEXT NOT NULL,
    stage      TEXT NOT NULL,
    perm_seq   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS replies_open ON replies(stage);

CREATE TABLE IF NOT EXISTS deliveries (
    id          INTEGER PRIMARY KEY,
    plugin      TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    session     TEXT NOT NULL,
    key         TEXT NOT NULL,
    method      TEXT NOT NULL,
    url         TEXT NOT NULL,
    headers     TEXT NOT NULL,
    body        BLOB NOT NULL,
    credential  TEXT,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    finished_at INTEGER,
    last_status INTEGER,
    last_error  TEXT,
    UNIQUE (message_id, key)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(status, next_at);

CREATE TABLE IF NOT EXISTS events (
    session TEXT NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    ts      INTEGER NOT NULL,
    type    TEXT NOT NULL,
    body    TEXT NOT NULL,
    PRIMARY KEY (session, seq)
) WITHOUT ROWID;
"#;

/// Columns added after the first release, added to older databases.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[("sessions", "pane", "TEXT")];

/// Bring a database written by an older wasmux up to [`SCHEMA`].
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    for (table, column, decl) in ADDED_COLUMNS {
        let mut stmt = conn.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?;
        // A read error is an error, not a missing column (adding it again
        // would fail on a column that exists).
        let columns = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let present = columns.iter().any(|c| c == column);
        if !present {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    Ok(())
}

impl Store {
    /// Open (creating if needed) the database at `path`, after
    /// `PRAGMA quick_check`. A damaged database is rebuilt from the rows
    /// that still read back, the damaged file kept as
    /// `<name>.corrupt-<ms>` with a `.REPORT` beside it, the damage logged
    /// at error level and kept in [`Store::damage`].
    pub fn open(path: &Path, durability: Durability) -> Result<Store, StoreError> {
        let checked = Connection::open(path).and_then(|conn| recover::quick_check(&conn).map(|p| (conn, p)));
        let (conn, damage) = match checked {
            Ok((conn, problems)) if problems.is_empty() => (conn, None),
            Ok((conn, problems)) => {
                // Closed before the files move.
                drop(conn);
                let summary = recover::rebuild(path, &problems)?;
                (Connection::open(path)?, Some(summary))
            }
            Err(e) if recover::is_damage(&e) => {
                let summary = recover::rebuild(path, &[e.to_string()])?;
                (Connection::open(path)?, Some(summary))
            }
            Err(e) => return Err(e.into()),
        };
        let mut store = Self::init(conn, durability)?;
        store.path = Some(path.to_path_buf());
        store.damage = damage;
        Ok(store)
    }

    /// Set when this open found the database damaged and rebuilt it: what
    /// was found, what was kept and lost, where the damaged file is.
    pub fn damage(&self) -> Option<&str> {
        self.damage.as_deref()
    }

    /// Whether the database answers and its file is still where it was
    /// opened (a deleted file takes writes that vanish on restart): the
    /// reason when not.
    pub fn check(&self) -> Result<(), String> {
        if let Some(p) = &self.path
            && !p.exists()
        {
            return Err(format!("the database file {} is gone", p.display()));
        }
        self.conn()
            .query_row("SELECT count(*) FROM sessions", [], |r| r.get::<_, i64>(0))
            .map(|_| ())
            .map_err(|e| format!("the database does not answer: {e}"))
    }

    /// An in-memory database (for `wasmux plugins check` and unit tests).
    pub fn in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?, Durability::Normal)
    }

    fn init(conn: Connection, durability: Durability) -> Result<Store, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(
            None,
            "synchronous",
            match durability {
                Durability::Normal => "NORMAL",
                Durability::Full => "FULL",
            },
        )?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
        Ok(Store {
            path: None,
            damage: None,
            conn: Mutex::new(conn),
            queued: Mutex::new(Default::default()),
        })
    }

    /// Exclusive access to the connection.
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The queued-count cache.
    fn queued(&self) -> MutexGuard<'_, std::collections::HashMap<String, usize>> {
        self.queued.lock().unwrap_or_else(|p| p.into_inner())
    }
}
