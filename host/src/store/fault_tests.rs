//! The store under faults (issue 13): a damaged database file is found at
//! open, reported and rebuilt from every row that still reads back; a full
//! disk fails a write as `DiskFull` (507 at the API) and the store writes
//! again once there is space.

use std::path::{Path, PathBuf};

use super::{Durability, Enqueued, NewMessage, Store, StoreError, recover};
use crate::api::ApiError;
use crate::events::StoredEvent;
use axum::http::StatusCode;

/// Session `name` as a row.
fn session_row(name: &str) -> super::SessionRow {
    super::SessionRow {
        name: name.into(),
        provider: "shell".into(),
        cwd: "/".into(),
        args: vec!["-l".into()],
        env: Default::default(),
        cols: 80,
        rows: 24,
        uuid: format!("uuid-{name}"),
        nonce: "n".into(),
        created_at: 1,
        status: super::SessionStatus::Running,
        exit_code: None,
        labels: Default::default(),
        launch: "{}".into(),
        pane: Some("%1".into()),
    }
}

/// Events `from..=to` of a session, ~100 bytes each.
fn events(from: u64, to: u64) -> Vec<StoredEvent> {
    (from..=to)
        .map(|seq| StoredEvent {
            seq,
            ts: 1000 + seq,
            kind: "note",
            body: format!(r#"{{"type":"note","n":{seq},"pad":"{}"}}"#, "x".repeat(60)),
        })
        .collect()
}

/// Enqueue `text` on `session`.
fn enqueue(s: &Store, id: &str, session: &str, text: &str) -> Result<Enqueued, StoreError> {
    let meta = serde_json::json!({});
    let seq = s.event_last_seq(session)? + 1;
    s.message_enqueue(
        &NewMessage {
            id,
            session,
            text,
            metadata: &meta,
            idempotency_key: None,
            source: "api",
            cap: 10_000,
        },
        |m, _| StoredEvent {
            seq,
            ts: m.created_at,
            kind: "message-queued",
            body: format!(r#"{{"type":"message-queued","id":"{}"}}"#, m.id),
        },
    )
}

/// A database at `path` with sessions `alpha` and `busy`, three messages
/// and a plugin key, 10 events of `alpha` and then `busy_events` events of
/// `busy` — written last and last in key order, so they fill the file's
/// and the events tree's last pages. Closed on return.
fn write_db(path: &Path, busy_events: u64) {
    let s = Store::open(path, Durability::Normal).unwrap();
    assert!(s.damage().is_none());
    s.session_insert(&session_row("alpha")).unwrap();
    s.session_insert(&session_row("busy")).unwrap();
    s.kv_set("plug", "k", b"value").unwrap();
    s.event_insert("alpha", &events(1, 10)).unwrap();
    for (i, text) in ["one", "two", "three"].iter().enumerate() {
        assert!(matches!(
            enqueue(&s, &format!("m{i}"), "alpha", text).unwrap(),
            Enqueued::New(..)
        ));
    }
    for chunk in (1..=busy_events).collect::<Vec<_>>().chunks(500) {
        s.event_insert("busy", &events(chunk[0], *chunk.last().unwrap()))
            .unwrap();
    }
}

/// The database's page size.
fn page_size(path: &Path) -> usize {
    let c = rusqlite::Connection::open(path).unwrap();
    c.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0)).unwrap() as usize
}

/// Files of `dir` whose name starts with `prefix`.
fn named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    v.sort();
    v
}

/// The seqs of `session`'s events, all of them.
fn seqs(s: &Store, session: &str) -> Vec<u64> {
    s.event_after(session, 0, 1_000_000)
        .unwrap()
        .into_iter()
        .map(|(seq, body)| {
            serde_json::from_str::<serde_json::Value>(&body).expect("a kept event's body is JSON");
            seq
        })
        .collect()
}

#[test]
fn a_corrupt_last_page_is_reported_at_start_and_events_are_not_truncated_silently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wasmux.db");
    write_db(&path, 2000);
    assert!(!dir.path().join("wasmux.db-wal").exists(), "closed: checkpointed");
    // Overwrite all but the header and cell pointers of the last page.
    let page = page_size(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - page;
    bytes[last + 100..last + page - 96].fill(0x5a);
    std::fs::write(&path, &bytes).unwrap();

    // The fault: SQLite reads `busy`'s events as fewer, with no error.
    let silent = {
        let c = rusqlite::Connection::open(&path).unwrap();
        let mut stmt = c
            .prepare("SELECT seq FROM events WHERE session = 'busy' ORDER BY seq")
            .unwrap();
        let rows: Vec<i64> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.len() as u64
    };
    assert!(silent < 2000, "the damage should hide events: {silent}");

    let s = Store::open(&path, Durability::Normal).unwrap();
    let damage = s.damage().expect("the damage is reported").to_string();
    assert!(damage.contains("quick_check: ") && damage.contains("page"), "{damage}");
    assert!(
        damage.contains(&format!("after session `busy` seq {silent}")),
        "{damage}"
    );
    assert!(
        damage.contains(&format!("`alpha` seqs 1-13, `busy` seqs 1-{silent}")),
        "{damage}"
    );
    assert!(damage.contains("kept 2 sessions, 3 messages"), "{damage}");
    // The damaged file is kept as it was, with its report.
    let kept = named(dir.path(), "wasmux.db.corrupt-");
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(std::fs::read(&kept[0]).unwrap(), bytes);
    assert!(kept[1].to_string_lossy().ends_with(".REPORT"));
    let report = std::fs::read_to_string(&kept[1]).unwrap();
    assert!(report.starts_with(&damage), "{report}");
    assert!(damage.contains(&kept[0].display().to_string()), "{damage}");

    // What is served is sound and whole: every readable row, none invented.
    assert_eq!(recover::quick_check(&s.conn()).unwrap(), Vec::<String>::new());
    assert_eq!(seqs(&s, "busy"), (1..=silent).collect::<Vec<_>>());
    assert_eq!(seqs(&s, "alpha"), (1..=13).collect::<Vec<_>>());
    assert_eq!(s.event_last_seq("busy").unwrap(), silent);
    let names: Vec<String> = s.session_list().unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["alpha", "busy"]);
    assert_eq!(s.session_get("busy").unwrap().unwrap().args, ["-l"]);
    let queue: Vec<String> = s.message_queue("alpha").unwrap().into_iter().map(|m| m.text).collect();
    assert_eq!(queue, ["one", "two", "three"], "FIFO order kept");
    assert_eq!(s.kv_get("plug", "k").unwrap().unwrap(), b"value");
    // It takes writes, and the next start finds nothing to report.
    s.event_insert("busy", &events(silent + 1, silent + 1)).unwrap();
    drop(s);
    let s = Store::open(&path, Durability::Normal).unwrap();
    assert!(s.damage().is_none(), "{:?}", s.damage());
    assert_eq!(s.event_last_seq("busy").unwrap(), silent + 1);
}

#[test]
fn a_destroyed_page_mid_table_costs_only_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wasmux.db");
    write_db(&path, 2000);
    let page = page_size(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    let pages = bytes.len() / page;
    let mid = pages * 2 / 3;
    bytes[mid * page..(mid + 1) * page].fill(0);
    std::fs::write(&path, &bytes).unwrap();

    let s = Store::open(&path, Durability::Normal).unwrap();
    let damage = s.damage().expect("the damage is reported").to_string();
    let kept = seqs(&s, "busy");
    // Reading went on past the damaged page: the newest events are kept,
    // and what is missing is one span, named in the report.
    assert_eq!((kept.first(), kept.last()), (Some(&1), Some(&2000)), "{damage}");
    let gap: Vec<u64> = (1..=2000).filter(|n| !kept.contains(n)).collect();
    assert!(!gap.is_empty() && gap.len() < 200, "{gap:?}");
    assert_eq!(gap.len() as u64, gap[gap.len() - 1] - gap[0] + 1, "one span: {gap:?}");
    let (lost_from, lost_to) = (gap[0], gap[gap.len() - 1]);
    assert!(
        damage.contains(&format!("`busy` seqs 1-{} and {}-2000", lost_from - 1, lost_to + 1)),
        "{damage}"
    );
    assert!(
        damage.contains("events of session `busy`: unreadable after seq "),
        "{damage}"
    );
    assert_eq!(seqs(&s, "alpha"), (1..=13).collect::<Vec<_>>());
    assert_eq!(s.message_queue("alpha").unwrap().len(), 3);
}

#[test]
fn a_destroyed_queue_page_costs_only_its_messages_and_keeps_fifo_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wasmux.db");
    {
        let s = Store::open(&path, Durability::Normal).unwrap();
        s.session_insert(&session_row("q")).unwrap();
        for i in 0..400 {
            enqueue(
                &s,
                &format!("m{i:03}"),
                "q",
                &format!("message {i:03} {}", "t".repeat(150)),
            )
            .unwrap();
        }
    }
    // The middle leaf of the messages table, in key (rowid) order.
    let (page, size) = {
        let c = rusqlite::Connection::open(&path).unwrap();
        let leaves: Vec<i64> = c
            .prepare("SELECT pageno FROM dbstat WHERE name = 'messages' AND pagetype = 'leaf' ORDER BY path")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(leaves.len() >= 5, "{leaves:?}");
        (leaves[leaves.len() / 2] as usize, page_size(&path))
    };
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[(page - 1) * size..page * size].fill(0);
    std::fs::write(&path, &bytes).unwrap();

    let s = Store::open(&path, Durability::Normal).unwrap();
    let damage = s.damage().expect("the damage is reported").to_string();
    assert!(damage.contains("messages rows: unreadable after rowid "), "{damage}");
    let queue: Vec<String> = s.message_queue("q").unwrap().into_iter().map(|m| m.id).collect();
    let lost: Vec<String> = (0..400)
        .map(|i| format!("m{i:03}"))
        .filter(|id| !queue.contains(id))
        .collect();
    assert!(!lost.is_empty() && lost.len() < 60, "{lost:?}");
    assert!(
        queue.contains(&"m000".to_string()) && queue.contains(&"m399".to_string()),
        "{queue:?}"
    );
    let mut sorted = queue.clone();
    sorted.sort();
    assert_eq!(queue, sorted, "FIFO order kept");
    assert!(
        damage.contains(&format!("kept 1 sessions, {} messages", queue.len())),
        "{damage}"
    );
    // The queue count the cap checks is the rebuilt one.
    match enqueue(&s, "next", "q", "after").unwrap() {
        Enqueued::New(_, position) => assert_eq!(position, queue.len() + 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_file_that_is_not_a_database_is_kept_aside_and_the_store_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wasmux.db");
    let junk = b"not a database at all\n".repeat(400);
    std::fs::write(&path, &junk).unwrap();
    let s = Store::open(&path, Durability::Normal).unwrap();
    let damage = s.damage().expect("the damage is reported").to_string();
    assert!(damage.contains("file is not a database"), "{damage}");
    assert!(damage.contains("kept 0 sessions"), "{damage}");
    let kept = named(dir.path(), "wasmux.db.corrupt-");
    assert_eq!(std::fs::read(&kept[0]).unwrap(), junk, "{kept:?}");
    assert!(s.session_list().unwrap().is_empty());
    s.session_insert(&session_row("alpha")).unwrap();
    assert!(s.check().is_ok());
}

/// Cap `s`'s database at its current size (`max_page_count` is per
/// connection): the next write that needs a page fails with SQLITE_FULL,
/// as on a full disk.
fn fill_disk(s: &Store) {
    let c = s.conn();
    let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
    let max: i64 = c
        .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| r.get(0))
        .unwrap();
    assert_eq!(max, pages);
}

/// Lift the cap of [`fill_disk`].
fn free_space(s: &Store) {
    let c = s.conn();
    let _: i64 = c
        .query_row("PRAGMA max_page_count = 1073741823", [], |r| r.get(0))
        .unwrap();
}

#[test]
fn a_full_disk_answers_507_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("wasmux.db"), Durability::Full).unwrap();
    s.session_insert(&session_row("a")).unwrap();
    fill_disk(&s);

    let err = s.event_insert("a", &events(1, 200)).unwrap_err();
    assert!(err.is_disk_full(), "{err:?}");
    assert!(super::says_disk_full(&err.to_string()), "{err}");
    // Every way a store error reaches a status: typed, through a session
    // error (which keeps only the text), through a queue error.
    for api in [
        ApiError::from(StoreError::DiskFull(err.to_string())),
        ApiError::from(crate::session::SessionError::from(StoreError::DiskFull(
            err.to_string(),
        ))),
        ApiError::from(crate::agent::QueueError::from(StoreError::DiskFull(err.to_string()))),
    ] {
        assert_eq!(
            (api.status, api.code),
            (StatusCode::INSUFFICIENT_STORAGE, "disk_full"),
            "{api:?}"
        );
        assert!(api.message.contains("the disk is full"), "{}", api.message);
    }
    // Nothing of a failed write is kept, in the file or the queue count.
    assert_eq!(s.event_last_seq("a").unwrap(), 0);
    let big = "y".repeat(64 * 1024);
    assert!(enqueue(&s, "m1", "a", &big).unwrap_err().is_disk_full());
    assert!(s.kv_set("p", "k", big.as_bytes()).unwrap_err().is_disk_full());
    assert!(s.message_queue("a").unwrap().is_empty());
    assert!(s.check().is_ok(), "reads still work");

    // Space returns: the same writes succeed, no reopen.
    free_space(&s);
    s.event_insert("a", &events(1, 200)).unwrap();
    assert_eq!(s.event_last_seq("a").unwrap(), 200);
    match enqueue(&s, "m1", "a", &big).unwrap() {
        Enqueued::New(m, position) => assert_eq!((m.id.as_str(), position), ("m1", 1)),
        other => panic!("{other:?}"),
    }
    s.kv_set("p", "k", big.as_bytes()).unwrap();
    assert_eq!(recover::quick_check(&s.conn()).unwrap(), Vec::<String>::new());
}

#[test]
fn an_enospc_io_error_is_a_full_disk_too() {
    let e = StoreError::from(std::io::Error::from_raw_os_error(libc::ENOSPC));
    assert!(e.is_disk_full(), "{e:?}");
    assert!(StoreError::from(std::io::Error::from(std::io::ErrorKind::StorageFull)).is_disk_full());
    assert!(!StoreError::from(std::io::Error::from_raw_os_error(libc::EACCES)).is_disk_full());
    // An output-log write error reaches the API as text.
    let log = crate::outlog::LogError::Io(std::io::Error::from_raw_os_error(libc::ENOSPC));
    let api = ApiError::from(crate::session::SessionError::from(log));
    assert_eq!(
        (api.status, api.code),
        (StatusCode::INSUFFICIENT_STORAGE, "disk_full"),
        "{api:?}"
    );
    // Other failures stay 500.
    let api = ApiError::internal(StoreError::Limit("too big".into()).to_string());
    assert_eq!(api.status, StatusCode::INTERNAL_SERVER_ERROR);
}
