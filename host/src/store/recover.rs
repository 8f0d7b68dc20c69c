//! Rebuilding a damaged database. SQLite can read a damaged table as a
//! shorter one without any error (a leaf page whose cells were overwritten
//! simply yields no rows), so a database that fails `PRAGMA quick_check` at
//! open is never served as it is: every row that still reads back and
//! checks out (declared types, JSON columns, known statuses, foreign keys)
//! is copied into a fresh database — reads that hit damage seek past it
//! along the integer keys (rowid, event seq) instead of stopping — the
//! damaged file is kept as `<name>.corrupt-<ms>` with a
//! `<name>.corrupt-<ms>.REPORT`, and the fresh database takes its place.
//! The summary is logged at error level and kept in `Store::damage`.
//!
//! Crash safety: the fresh database is written and synced under
//! `<name>.recovering`, the damaged one is hard-linked to its quarantine
//! name, and only then does one `rename` replace `<name>`: a crash at any
//! point leaves either the damaged database (rebuilt again at the next
//! start) or the rebuilt one at `<name>`, never no database. (A WAL the
//! damaged database still has — its last connection normally checkpoints
//! it away — moves to the quarantine just before that rename, so it can
//! never be replayed into the rebuilt file; its rows were salvaged.)

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::salvage::{TableOutcome, salvage};
use super::tables::TABLES;
use super::{SCHEMA, StoreError};

/// Problems of `PRAGMA quick_check` named in the summary (all of them, up
/// to [`PROBLEMS_CHECKED`], go to the report file).
const PROBLEMS_SHOWN: usize = 5;
/// Problems `PRAGMA quick_check` is asked to list at most.
const PROBLEMS_CHECKED: usize = 100;
/// Damage spots named in the summary (all go to the report file).
const SPOTS_SHOWN: usize = 8;

/// Whether `e` says the database file is damaged (rather than busy,
/// unreadable or full).
pub(super) fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

/// What `PRAGMA quick_check` finds wrong with `conn`'s database, one
/// problem per entry; empty when it reports `ok`. Damage that stops the
/// check itself (or its start) is the last entry. Errors that are not
/// damage (busy, I/O) are returned.
pub(super) fn quick_check(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut stmt = match conn.prepare(&format!("PRAGMA quick_check({PROBLEMS_CHECKED})")) {
        Ok(s) => s,
        Err(e) if is_damage(&e) => return Ok(vec![e.to_string()]),
        Err(e) => return Err(e),
    };
    let mut rows = stmt.query([])?;
    loop {
        match rows.next() {
            Ok(Some(row)) => {
                let line: String = row.get(0)?;
                if line != "ok" {
                    // "*** in database main ***" heads the first problem.
                    problems.extend(
                        line.lines()
                            .map(str::trim)
                            .filter(|l| !l.is_empty() && !l.starts_with("***"))
                            .map(str::to_string),
                    );
                }
            }
            Ok(None) => break,
            Err(e) if is_damage(&e) => {
                problems.push(e.to_string());
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(problems)
}

/// Rebuild the damaged database at `path` (`problems`: what the check
/// found): salvage its readable rows into a fresh database, keep the
/// damaged file as `<name>.corrupt-<ms>` with a report, put the fresh one
/// in its place. Returns the one-paragraph summary (also logged).
pub(super) fn rebuild(path: &Path, problems: &[String]) -> Result<String, StoreError> {
    let name = path
        .file_name()
        .map_or_else(|| "wasmux.db".into(), |n| n.to_string_lossy().into_owned());
    let quarantine = path.with_file_name(format!("{name}.corrupt-{}", crate::util::now_ms()));
    let fresh = path.with_file_name(format!("{name}.recovering"));
    for p in [fresh.clone(), suffixed(&fresh, "-journal"), suffixed(&fresh, "-wal")] {
        if p.exists() {
            fs::remove_file(&p)?;
        }
    }
    tracing::error!(db = %path.display(), problems = %problems.join("; "), "the database is damaged; rebuilding it from the rows that still read back");

    let dst = Connection::open(&fresh)?;
    dst.pragma_update(None, "synchronous", "FULL")?;
    dst.pragma_update(None, "foreign_keys", "ON")?;
    dst.execute_batch(SCHEMA)?;
    let src = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX);
    let mut outcomes = Vec::new();
    {
        let tx = dst.unchecked_transaction()?;
        for spec in TABLES {
            let outcome = match &src {
                Ok(src) => salvage(src, &tx, spec)?,
                Err(e) => TableOutcome {
                    spots: vec![format!("{}: the file could not be opened ({e})", spec.table)],
                    ..TableOutcome::default()
                },
            };
            outcomes.push((spec.table, outcome));
        }
        tx.commit()?;
    }
    drop(src);
    // Where events were damaged, what each session kept (a lost span shows
    // as a break; lost newest events as an early end).
    let events_damaged = outcomes
        .iter()
        .any(|(t, o)| *t == "events" && (!o.spots.is_empty() || o.rejected > 0));
    let ranges = if events_damaged { kept_ranges(&dst)? } else { Vec::new() };
    dst.close().map_err(|(_, e)| e)?;

    let kept = outcomes
        .iter()
        .map(|(t, o)| format!("{} {}", o.kept, noun(t)))
        .collect::<Vec<_>>()
        .join(", ");
    let rejected: usize = outcomes.iter().map(|(_, o)| o.rejected).sum();
    let spots: Vec<&String> = outcomes.iter().flat_map(|(_, o)| &o.spots).collect();
    let report_path = suffixed(&quarantine, ".REPORT");
    let mut summary = format!(
        "the database {} was damaged (quick_check: {}); rebuilt from the rows that still read back: kept {kept}",
        path.display(),
        first(problems, PROBLEMS_SHOWN, "; "),
    );
    if rejected > 0 {
        let _ = write!(summary, "; dropped {rejected} rows that read back invalid");
    }
    if !ranges.is_empty() {
        let _ = write!(
            summary,
            "; events kept per session: {}",
            first(&ranges, SPOTS_SHOWN, ", ")
        );
    }
    if spots.is_empty() {
        summary.push_str("; no read stopped at damage, but rows on damaged pages may be missing");
    } else {
        let _ = write!(summary, "; damage: {}", first(&spots, SPOTS_SHOWN, "; "));
    }
    let _ = write!(
        summary,
        "; the damaged file is kept as {} (report: {})",
        quarantine.display(),
        report_path.display()
    );
    let mut report = format!("{summary}\n\nquick_check:\n");
    for p in problems {
        let _ = writeln!(report, "  {p}");
    }
    report.push_str("\nwhere reading hit damage:\n");
    for s in &spots {
        let _ = writeln!(report, "  {s}");
    }
    if !ranges.is_empty() {
        report.push_str("\nevents kept per session:\n");
        for r in &ranges {
            let _ = writeln!(report, "  {r}");
        }
    }

    // Keep the damaged file (a hard link: the original stays at `path`
    // until the rename below), then swap in the rebuilt one.
    if fs::hard_link(path, &quarantine).is_err() && path.exists() {
        fs::copy(path, &quarantine)?;
    }
    // A journal belongs to the damaged file (an empty one is what the
    // read-only salvage left).
    for side in ["-wal", "-journal"] {
        let p = suffixed(path, side);
        match fs::metadata(&p) {
            Ok(m) if m.len() > 0 => fs::rename(&p, suffixed(&quarantine, side))?,
            Ok(_) => fs::remove_file(&p)?,
            Err(_) => {}
        }
    }
    let shm = suffixed(path, "-shm");
    if shm.exists() {
        fs::remove_file(&shm)?;
    }
    crate::util::write_private(&report_path, report.as_bytes())?;
    fs::rename(&fresh, path)?;
    if let Some(dir) = path.parent() {
        let _ = fs::File::open(dir).and_then(|d| d.sync_all());
    }
    tracing::error!(db = %path.display(), "{summary}");
    Ok(summary)
}

/// `path` with `suffix` appended to its file name.
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The first `n` of `items` joined with `sep`, and how many more there are.
fn first(items: &[impl std::fmt::Display], n: usize, sep: &str) -> String {
    let mut s = items
        .iter()
        .take(n)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(sep);
    if items.len() > n {
        let _ = write!(s, "{sep}and {} more (see the report)", items.len() - n);
    }
    s
}

/// Per session of `dst`, the spans of event seqs it holds:
/// "`a` seqs 1-1229 and 1263-2000".
fn kept_ranges(dst: &Connection) -> rusqlite::Result<Vec<String>> {
    let sessions: Vec<String> = {
        let mut stmt = dst.prepare("SELECT name FROM sessions ORDER BY rowid")?;
        stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    let mut stmt = dst.prepare("SELECT seq FROM events WHERE session = ?1 ORDER BY seq")?;
    let mut out = Vec::new();
    for session in sessions {
        let seqs: Vec<i64> = stmt.query_map([&session], |r| r.get(0))?.collect::<Result<_, _>>()?;
        let mut spans: Vec<(i64, i64)> = Vec::new();
        for q in seqs {
            match spans.last_mut() {
                Some((_, end)) if *end + 1 == q => *end = q,
                _ => spans.push((q, q)),
            }
        }
        let spans = if spans.is_empty() {
            "no events".to_string()
        } else {
            let list: Vec<String> = spans
                .iter()
                .map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
                .collect();
            match list.split_last() {
                Some((last, [])) => format!("seqs {last}"),
                Some((last, rest)) => format!("seqs {} and {last}", rest.join(", ")),
                None => unreachable!("spans is not empty"),
            }
        };
        out.push(format!("`{session}` {spans}"));
    }
    Ok(out)
}

/// How the summary counts rows of `table`.
fn noun(table: &str) -> &str {
    match table {
        "kv" => "plugin keys",
        t => t,
    }
}
