//! The outbox: replies an integration owes for the messages it enqueued
//! (`replies`, one row per message with a `replyTo` target) and the HTTP
//! requests it asked the host to send (`deliveries`). Everything is written
//! before it is attempted; a delivery is unique per (message, key), so a
//! request asked for twice — or again after a restart — is sent once.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// Where a message's reply stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "lowercase")]
pub enum ReplyStage {
    /// The plugin has not yet been told the message was accepted.
    Accepting,
    /// Told; waiting for permission requests and the message's end.
    Waiting,
    /// The outcome's requests are in the outbox: nothing more to do.
    Closed,
}

impl ReplyStage {
    fn as_str(self) -> &'static str {
        self.into()
    }
    /// The stored word; an unknown one (a newer daemon's) reads as closed.
    fn parse(s: &str) -> ReplyStage {
        s.parse().unwrap_or(ReplyStage::Closed)
    }
}

/// A reply owed for a message.
#[derive(Debug, Clone)]
pub struct ReplyRow {
    /// The message.
    pub message_id: String,
    /// The plugin that enqueued it.
    pub plugin: String,
    /// Its session.
    pub session: String,
    /// The `replyTo` value, as JSON text.
    pub target: String,
    /// Where it stands.
    pub stage: ReplyStage,
    /// The last event seq of the session whose permission requests the
    /// plugin was told of.
    pub perm_seq: u64,
}

/// Where a delivery stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    clap::ValueEnum,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// An attempt is under way (a daemon that stopped here never retries
    /// it: the far side may have it already).
    Attempting,
    /// The far side answered 2xx.
    Delivered,
    /// Given up: a 4xx, too many attempts, or an attempt cut by a restart.
    Failed,
}

impl DeliveryStatus {
    /// Every status.
    pub const ALL: &[DeliveryStatus] = <DeliveryStatus as strum::VariantArray>::VARIANTS;

    /// The stored word.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
    /// The stored word; an unknown one reads as failed (never re-sent).
    fn parse(s: &str) -> DeliveryStatus {
        s.parse().unwrap_or(DeliveryStatus::Failed)
    }
}

/// The credential a delivery names: its kind and the name of the secret
/// (never its value), stored as JSON `{"kind": "bearer", "secret": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CredentialSpec {
    /// `Authorization: Bearer <secret>`.
    Bearer {
        /// Secret name.
        secret: String,
    },
    /// `Authorization: Basic base64(user:secret)`.
    Basic {
        /// Secret name.
        secret: String,
        /// User name.
        user: String,
    },
    /// `<name>: <secret>`.
    Header {
        /// Secret name.
        secret: String,
        /// Header name.
        name: String,
    },
    /// `<name>: sha256=<hex HMAC-SHA256 of the body keyed with the secret>`.
    HmacSha256 {
        /// Secret name.
        secret: String,
        /// Header name.
        name: String,
    },
}

impl CredentialSpec {
    /// The secret's name.
    pub fn secret(&self) -> &str {
        match self {
            CredentialSpec::Bearer { secret }
            | CredentialSpec::Basic { secret, .. }
            | CredentialSpec::Header { secret, .. }
            | CredentialSpec::HmacSha256 { secret, .. } => secret,
        }
    }
    /// `kind:secret-name`, as the API shows it.
    pub fn label(&self) -> String {
        let kind = match self {
            CredentialSpec::Bearer { .. } => "bearer",
            CredentialSpec::Basic { .. } => "basic",
            CredentialSpec::Header { .. } => "header",
            CredentialSpec::HmacSha256 { .. } => "hmac-sha256",
        };
        format!("{kind}:{}", self.secret())
    }
}

/// A request to put into the outbox.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// Names it within its message.
    pub key: String,
    /// HTTP method.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Headers (no credentials).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// The credential to inject, naming a secret (never its value).
    pub credential: Option<CredentialSpec>,
}

/// A delivery as `GET /deliveries` shows it (the body and headers stay in
/// the database; the credential is shown by kind and secret name only).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRow {
    /// Outbox id.
    pub id: i64,
    /// The plugin that asked for it.
    pub plugin: String,
    /// The message it answers.
    pub message_id: String,
    /// That message's session.
    pub session: String,
    /// Its key within the message.
    pub key: String,
    /// HTTP method.
    pub method: String,
    /// Target URL.
    pub url: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (ms), while pending.
    pub next_at: u64,
    /// When it was written (ms).
    pub created_at: u64,
    /// When it was delivered or given up (ms).
    pub finished_at: Option<u64>,
    /// The last HTTP status the far side answered.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// The credential's kind and secret name (`bearer:token`).
    pub credential: Option<String>,
    /// Headers to send (not shown by the API).
    #[serde(skip)]
    pub headers: Vec<(String, String)>,
    /// Body to send (not shown by the API).
    #[serde(skip)]
    pub body: Vec<u8>,
    /// The credential to inject (not shown by the API).
    #[serde(skip)]
    pub credential_spec: Option<CredentialSpec>,
}

/// Totals for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct DeliveryStats {
    /// Deliveries by status word.
    pub by_status: Vec<(String, u64)>,
    /// Attempts made over every delivery kept.
    pub attempts: u64,
    /// Creation time (ms) of the oldest pending delivery.
    pub oldest_pending: Option<u64>,
}

const COLS: &str = "id, plugin, message_id, session, key, method, url, status, attempts, next_at, created_at, finished_at, last_status, last_error, credential, headers, body";

fn delivery(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryRow> {
    let credential: Option<String> = r.get(14)?;
    let spec: Option<CredentialSpec> = credential.as_deref().and_then(|c| serde_json::from_str(c).ok());
    let headers: String = r.get(15)?;
    Ok(DeliveryRow {
        id: r.get(0)?,
        plugin: r.get(1)?,
        message_id: r.get(2)?,
        session: r.get(3)?,
        key: r.get(4)?,
        method: r.get(5)?,
        url: r.get(6)?,
        status: DeliveryStatus::parse(&r.get::<_, String>(7)?),
        attempts: r.get(8)?,
        next_at: r.get(9)?,
        created_at: r.get(10)?,
        finished_at: r.get(11)?,
        last_status: r.get(12)?,
        last_error: r.get(13)?,
        credential: spec.as_ref().map(CredentialSpec::label),
        headers: serde_json::from_str(&headers).unwrap_or_default(),
        body: r.get(16)?,
        credential_spec: spec,
    })
}

fn reply(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReplyRow> {
    Ok(ReplyRow {
        message_id: r.get(0)?,
        plugin: r.get(1)?,
        session: r.get(2)?,
        target: r.get(3)?,
        stage: ReplyStage::parse(&r.get::<_, String>(4)?),
        perm_seq: r.get(5)?,
    })
}

impl Store {
    /// Owe a reply for message `message_id` (idempotent: a redelivered
    /// webhook that found its message already queued owes nothing more).
    pub fn reply_open(&self, message_id: &str, plugin: &str, session: &str, target: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR IGNORE INTO replies (message_id, plugin, session, target, stage, created_at)
             VALUES (?1, ?2, ?3, ?4, 'accepting', ?5)",
            params![message_id, plugin, session, target, crate::util::now_ms()],
        )?;
        Ok(())
    }

    /// Replies not yet closed, oldest first.
    pub fn replies_open(&self, limit: u32) -> Result<Vec<ReplyRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT message_id, plugin, session, target, stage, perm_seq FROM replies
             WHERE stage != 'closed' ORDER BY rowid LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], reply)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Move reply `message_id` to `stage` (and its permission cursor to
    /// `perm_seq`), putting `deliveries` into the outbox in the same
    /// transaction: a crash leaves both or neither. A delivery whose
    /// (message, key) exists is dropped. Returns how many were added.
    pub fn reply_advance(
        &self,
        reply: &ReplyRow,
        stage: ReplyStage,
        perm_seq: u64,
        deliveries: &[NewDelivery],
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let now = crate::util::now_ms();
        let mut added = 0;
        for d in deliveries {
            added += tx.execute(
                "INSERT OR IGNORE INTO deliveries
                 (plugin, message_id, session, key, method, url, headers, body, credential, status, next_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10, ?10)",
                params![
                    reply.plugin,
                    reply.message_id,
                    reply.session,
                    d.key,
                    d.method,
                    d.url,
                    serde_json::to_string(&d.headers).unwrap_or_else(|_| "[]".into()),
                    d.body,
                    d.credential
                        .as_ref()
                        .map(|c| serde_json::to_string(c).expect("a credential spec serializes")),
                    now,
                ],
            )?;
        }
        tx.execute(
            "UPDATE replies SET stage = ?2, perm_seq = ?3 WHERE message_id = ?1",
            params![reply.message_id, stage.as_str(), perm_seq],
        )?;
        tx.commit()?;
        Ok(added)
    }

    /// Pending deliveries due at `now` (ms), oldest first.
    pub fn deliveries_due(&self, now: u64, limit: u32) -> Result<Vec<DeliveryRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLS} FROM deliveries WHERE status = 'pending' AND next_at <= ?1 ORDER BY next_at, id LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(params![now, limit], delivery)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// When the next pending delivery is due (ms), if any is.
    pub fn delivery_next_due(&self) -> Result<Option<u64>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT min(next_at) FROM deliveries WHERE status = 'pending'",
                [],
                |r| r.get::<_, Option<u64>>(0),
            )
            .optional()?
            .flatten())
    }

    /// Mark delivery `id` as being attempted (counted before the request
    /// goes out); false if it was not pending.
    pub fn delivery_begin(&self, id: i64) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "UPDATE deliveries SET status = 'attempting', attempts = attempts + 1 WHERE id = ?1 AND status = 'pending'",
            [id],
        )? > 0)
    }

    /// Record how an attempt of `id` went: `next_at` Some = try again then.
    pub fn delivery_end(
        &self,
        id: i64,
        status: DeliveryStatus,
        http_status: Option<u16>,
        error: Option<&str>,
        next_at: Option<u64>,
    ) -> Result<(), StoreError> {
        let finished = matches!(status, DeliveryStatus::Delivered | DeliveryStatus::Failed).then(crate::util::now_ms);
        self.conn().execute(
            "UPDATE deliveries SET status = ?2, last_status = ?3, last_error = ?4,
                    next_at = coalesce(?5, next_at), finished_at = ?6
             WHERE id = ?1",
            params![id, status.as_str(), http_status, error, next_at, finished],
        )?;
        Ok(())
    }

    /// At start: attempts a stopped daemon left under way are given up, not
    /// repeated (the far side may have acted on them). How many.
    pub fn deliveries_interrupted(&self) -> Result<usize, StoreError> {
        Ok(self.conn().execute(
            "UPDATE deliveries SET status = 'failed', finished_at = ?1,
                    last_error = 'the daemon stopped during this attempt; not repeated (each delivery is sent at most once)'
             WHERE status = 'attempting'",
            [crate::util::now_ms()],
        )?)
    }

    /// Deliveries, newest first, optionally of one status.
    pub fn delivery_list(&self, status: Option<DeliveryStatus>, limit: u32) -> Result<Vec<DeliveryRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLS} FROM deliveries WHERE ?1 IS NULL OR status = ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(params![status.map(DeliveryStatus::as_str), limit], delivery)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Totals for `/metrics`.
    pub fn delivery_stats(&self) -> Result<DeliveryStats, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT status, count(*), sum(attempts) FROM deliveries GROUP BY status")?;
        let mut stats = DeliveryStats::default();
        for row in stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?, r.get::<_, u64>(2)?))
        })? {
            let (status, n, attempts) = row?;
            stats.attempts += attempts;
            stats.by_status.push((status, n));
        }
        stats.oldest_pending = conn.query_row(
            "SELECT min(created_at) FROM deliveries WHERE status = 'pending'",
            [],
            |r| r.get::<_, Option<u64>>(0),
        )?;
        Ok(stats)
    }

    /// The first event seq after `after` in `session` of type
    /// `permission-request`, with its body.
    pub fn event_next_permission(
        &self,
        session: &str,
        after: u64,
    ) -> Result<Option<(u64, serde_json::Value)>, StoreError> {
        let row: Option<(u64, String)> = self
            .conn()
            .query_row(
                "SELECT seq, body FROM events WHERE session = ?1 AND seq > ?2 AND type = 'permission-request'
                 ORDER BY seq LIMIT 1",
                params![session, after],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.map(|(seq, body)| (seq, serde_json::from_str(&body).unwrap_or_default())))
    }
}
