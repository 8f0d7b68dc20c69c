//! The database's tables as a salvage sees them (see [`super::salvage`]):
//! in foreign-key order, with what a usable row of each holds.

/// One table to salvage.
pub(super) struct Spec {
    /// The table's name.
    pub(super) table: &'static str,
    /// A rowid table (its rowid is kept: the queue's FIFO order).
    pub(super) rowid: bool,
    /// Columns that must hold JSON.
    pub(super) json: &'static [&'static str],
    /// Columns that must hold one of the listed words.
    pub(super) words: &'static [(&'static str, &'static [&'static str])],
    /// Integer columns and the range the daemon reads them into.
    pub(super) ranges: &'static [(&'static str, i64, i64)],
}

/// A terminal dimension (`u16`).
const DIMENSION: (i64, i64) = (0, u16::MAX as i64);

/// In foreign-key order: sessions before what refers to them.
pub(super) const TABLES: &[Spec] = &[
    Spec {
        table: "sessions",
        rowid: true,
        json: &["args", "env", "labels"],
        words: &[("status", &["running", "exited"])],
        ranges: &[
            ("cols", DIMENSION.0, DIMENSION.1),
            ("rows", DIMENSION.0, DIMENSION.1),
            ("exit_code", i32::MIN as i64, i32::MAX as i64),
        ],
    },
    Spec {
        table: "messages",
        rowid: true,
        json: &["metadata"],
        words: &[(
            "status",
            &["queued", "running", "done", "failed", "aborted", "cancelled"],
        )],
        ranges: &[("created_at", 0, i64::MAX)],
    },
    Spec {
        table: "events",
        rowid: false,
        json: &["body"],
        words: &[],
        ranges: &[("seq", 1, i64::MAX), ("ts", 0, i64::MAX)],
    },
    Spec {
        table: "replies",
        rowid: true,
        json: &["target"],
        words: &[("stage", &["accepting", "waiting", "closed"])],
        ranges: &[("perm_seq", 0, i64::MAX)],
    },
    Spec {
        table: "deliveries",
        rowid: true,
        json: &["headers"],
        words: &[("status", &["pending", "attempting", "delivered", "failed"])],
        ranges: &[("attempts", 0, i64::MAX), ("next_at", 0, i64::MAX)],
    },
    Spec {
        table: "kv",
        rowid: false,
        json: &[],
        words: &[],
        ranges: &[],
    },
];
