//! Salvaging a damaged database's rows (see [`super::recover`]): the
//! tables in foreign-key order, and a row-by-row copy that seeks past
//! damage along the integer keys instead of stopping, keeping only rows
//! the daemon can use.

use std::collections::HashSet;

use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, params_from_iter};

use super::StoreError;
use super::tables::Spec;

/// A column of the fresh database's table.
struct Column {
    name: String,
    /// Declared type, upper case (`TEXT`, `INTEGER`, `BLOB`).
    ty: String,
    not_null: bool,
}

/// What the salvage of one table found.
#[derive(Default)]
pub(super) struct TableOutcome {
    /// Rows copied.
    pub(super) kept: usize,
    /// Rows read but not usable.
    pub(super) rejected: usize,
    /// Where reading hit damage, as sentences.
    pub(super) spots: Vec<String>,
}

/// The columns of `table` in `conn`'s database.
fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<Column>> {
    let mut stmt = conn.prepare("SELECT name, upper(type), \"notnull\" FROM pragma_table_info(?1)")?;
    let rows = stmt.query_map([table], |r| {
        Ok(Column {
            name: r.get(0)?,
            ty: r.get(1)?,
            not_null: r.get(2)?,
        })
    })?;
    rows.collect()
}

/// Copy every readable, valid row of `spec`'s table from `src` into `dst`,
/// row by row as it is read (a large table is never held in memory).
pub(super) fn salvage(src: &Connection, dst: &Connection, spec: &Spec) -> Result<TableOutcome, StoreError> {
    let table = spec.table;
    let mut outcome = TableOutcome::default();
    // Columns both databases have (an older file may lack newer ones;
    // those take their defaults).
    let wanted = columns(dst, table)?;
    let cols: Vec<&Column> = match columns(src, table) {
        Ok(have) if !have.is_empty() => wanted
            .iter()
            .filter(|c| have.iter().any(|h| h.name == c.name))
            .collect(),
        Ok(_) => {
            outcome.spots.push(format!("{table}: the table is missing"));
            return Ok(outcome);
        }
        Err(e) => {
            outcome
                .spots
                .push(format!("{table}: the table could not be read ({e})"));
            return Ok(outcome);
        }
    };
    let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
    let list = names.join(", ");
    let index = |n: &str| names.iter().position(|c| *c == n);
    // The key columns of a row as read: rowid first for a rowid table
    // (whose rows are the rowid and the columns), else the primary key.
    let keys: Vec<usize> = match (spec.rowid, table) {
        (true, _) => vec![0],
        (false, "events") => [index("session"), index("seq")].into_iter().flatten().collect(),
        (false, _) => [index("plugin"), index("key")].into_iter().flatten().collect(),
    };
    if keys.len() != if spec.rowid { 1 } else { 2 } {
        outcome.spots.push(format!("{table}: the table lacks its key columns"));
        return Ok(outcome);
    }
    let n = names.len() + usize::from(spec.rowid);
    let insert_cols = if spec.rowid {
        format!("rowid, {list}")
    } else {
        list.clone()
    };
    let marks = (1..=n).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
    let mut insert = dst.prepare(&format!(
        "INSERT OR IGNORE INTO {table} ({insert_cols}) VALUES ({marks})"
    ))?;
    // A row read twice (by two of the reads below) is inserted once: the
    // insert ignores it; a rejected one is counted once.
    let mut rejected = HashSet::new();
    let (mut kept, mut dropped) = (0usize, 0usize);
    let mut each = |row: &[Value]| -> Result<(), StoreError> {
        let data = &row[usize::from(spec.rowid)..];
        let ok = (!spec.rowid || matches!(row[0], Value::Integer(_))) && valid(spec, &cols, data);
        let inserted = if ok {
            match insert.execute(params_from_iter(row.iter())) {
                Ok(n) => Some(n),
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => None,
                Err(e) => return Err(e.into()),
            }
        } else {
            None
        };
        match inserted {
            Some(1) => kept += 1,
            Some(_) => {}
            None => {
                if rejected.insert(format!("{:?}", keys.iter().map(|&k| &row[k]).collect::<Vec<_>>())) {
                    dropped += 1;
                }
            }
        }
        Ok(())
    };
    let key_text = |row: &[Value]| -> String {
        match keys.as_slice() {
            [a, b] if table == "events" => format!("session {} seq {}", show(&row[*a]), show(&row[*b])),
            [a, b] => format!("plugin {} key {}", show(&row[*a]), show(&row[*b])),
            _ => "?".into(),
        }
    };

    if spec.rowid {
        let sql = format!("SELECT rowid, {list} FROM {table} WHERE rowid >= ?1 ORDER BY rowid");
        for stop in walk(src, &sql, &[], 0, n, &mut each)? {
            outcome.spots.push(stop.describe(&format!("{table} rows"), "rowid"));
        }
    } else {
        // Whole-table reads: forward, and backward when forward stopped at
        // damage. They show where damage lies even where a per-session read
        // silently comes up short.
        let (a, b) = (names[keys[0]], names[keys[1]]);
        for dir in ["", " DESC"] {
            let sql = format!("SELECT {list} FROM {table} ORDER BY {a}{dir}, {b}{dir}");
            let got = read(src, &sql, &[], n, &mut each)?;
            let Some(e) = got.error else { break };
            let at = got
                .last
                .map_or_else(|| "before any row".to_string(), |r| format!("after {}", key_text(&r)));
            let way = if dir.is_empty() { "forward" } else { "backward" };
            outcome.spots.push(format!("{table}: reading {way} stopped {at} ({e})"));
        }
        if table == "events" {
            // Then each session's events along seq, seeking past damage.
            let sessions: Vec<String> = {
                let mut stmt = dst.prepare("SELECT name FROM sessions ORDER BY rowid")?;
                stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
            };
            let sql = format!("SELECT {list} FROM events WHERE session = ?2 AND seq >= ?1 ORDER BY seq");
            for session in sessions {
                for stop in walk(src, &sql, &[Value::Text(session.clone())], keys[1], n, &mut each)? {
                    outcome
                        .spots
                        .push(stop.describe(&format!("events of session `{session}`"), "seq"));
                }
            }
        }
    }
    outcome.kept = kept;
    outcome.rejected = dropped;
    Ok(outcome)
}

/// Whether `data` (one value per column of `cols`) is a row the daemon can
/// use: declared types held, NOT NULL kept, JSON parses, words known,
/// integers in range.
fn valid(spec: &Spec, cols: &[&Column], data: &[Value]) -> bool {
    cols.iter().zip(data).all(|(c, v)| {
        let typed = match (c.ty.as_str(), v) {
            (_, Value::Null) => !c.not_null,
            ("TEXT", Value::Text(_)) | ("INTEGER", Value::Integer(_)) | ("BLOB", Value::Blob(_)) => true,
            ("TEXT" | "INTEGER" | "BLOB", _) => false,
            _ => true,
        };
        let json = !spec.json.contains(&c.name.as_str())
            || matches!(v, Value::Text(t) if serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok());
        let word = spec
            .words
            .iter()
            .find(|(n, _)| *n == c.name)
            .is_none_or(|(_, words)| matches!(v, Value::Text(t) if words.contains(&t.as_str())));
        let range = spec
            .ranges
            .iter()
            .find(|(n, ..)| *n == c.name)
            .is_none_or(|(_, lo, hi)| !matches!(v, Value::Integer(i) if i < lo || i > hi));
        typed && json && word && range
    })
}

/// A value for a sentence.
fn show(v: &Value) -> String {
    match v {
        Value::Text(t) => format!("`{t}`"),
        Value::Integer(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

/// What a [`read`] got to.
struct Read {
    /// The last row read.
    last: Option<Vec<Value>>,
    /// The error that stopped it (None: it read to the end).
    error: Option<rusqlite::Error>,
}

/// Hand each row of `sql` (`?1..` bound to `args`, `n` columns) to `each`,
/// up to the end or the first read error. Errors of `each` are returned.
fn read(
    conn: &Connection,
    sql: &str,
    args: &[Value],
    n: usize,
    each: &mut dyn FnMut(&[Value]) -> Result<(), StoreError>,
) -> Result<Read, StoreError> {
    let mut last = None;
    let stopped = |last, e| Ok(Read { last, error: Some(e) });
    let mut stmt = match conn.prepare(sql) {
        Ok(s) => s,
        Err(e) => return stopped(last, e),
    };
    let mut rows = match stmt.query(params_from_iter(args.iter())) {
        Ok(r) => r,
        Err(e) => return stopped(last, e),
    };
    loop {
        match rows.next() {
            Ok(Some(row)) => match (0..n).map(|i| row.get::<_, Value>(i)).collect::<Result<Vec<_>, _>>() {
                Ok(values) => {
                    each(&values)?;
                    last = Some(values);
                }
                Err(e) => return stopped(last, e),
            },
            Ok(None) => return Ok(Read { last, error: None }),
            Err(e) => return stopped(last, e),
        }
    }
}

/// Where a [`walk`] hit damage.
struct Stop {
    /// The last key read before it (None: none was).
    after: Option<i64>,
    /// The first readable key past it (None: nothing past it reads back).
    resumed: Option<i64>,
    error: String,
}

impl Stop {
    /// A sentence: `what` (e.g. "events of session `a`") and the key's name.
    fn describe(&self, what: &str, key: &str) -> String {
        let from = self
            .after
            .map_or_else(|| "the start".to_string(), |a| format!("{key} {a}"));
        match self.resumed {
            Some(r) => format!(
                "{what}: unreadable after {from}, readable again from {key} {r} ({})",
                self.error
            ),
            None => format!(
                "{what}: unreadable after {from}, nothing further reads back ({})",
                self.error
            ),
        }
    }
}

/// Hand every readable row of `sql` to `each` — `sql` binds `?1` as the
/// lowest integer key to read (column `key` of `n`), orders by that key and
/// binds `args` as `?2..` — seeking past damage: where a read fails, the
/// next readable key is searched (doubling steps, then bisection) and
/// reading resumes there. Returns the damaged spans.
fn walk(
    conn: &Connection,
    sql: &str,
    args: &[Value],
    key: usize,
    n: usize,
    each: &mut dyn FnMut(&[Value]) -> Result<(), StoreError>,
) -> Result<Vec<Stop>, StoreError> {
    let bind = |from: i64| -> Vec<Value> {
        let mut v = vec![Value::Integer(from)];
        v.extend(args.iter().cloned());
        v
    };
    let probe_sql = format!("{sql} LIMIT 1");
    // Whether reading from `from` works (None: it fails), and finds a row.
    let probe = |from: i64| -> Result<Option<bool>, StoreError> {
        let got = read(conn, &probe_sql, &bind(from), n, &mut |_| Ok(()))?;
        Ok(got.error.is_none().then_some(got.last.is_some()))
    };
    let mut stops = Vec::new();
    let mut from = i64::MIN;
    loop {
        let got = read(conn, sql, &bind(from), n, each)?;
        let Some(err) = got.error else { break };
        let last = got.last.and_then(|r| match r[key] {
            Value::Integer(i) => Some(i),
            _ => None,
        });
        // Past the last key read (or past `from` when none was): always
        // forward, so the walk ends.
        let after = last.unwrap_or(from).max(from);
        let resumed = next_readable(after, &probe)?;
        stops.push(Stop {
            after: last.or((from != i64::MIN).then(|| from - 1)),
            resumed,
            error: err.to_string(),
        });
        match resumed {
            Some(r) => from = r,
            None => break,
        }
    }
    Ok(stops)
}

/// The smallest key above `after` from which reading works (`probe`:
/// None where it fails, else whether a row is found), if a row is found
/// from there; None when nothing past `after` reads back.
fn next_readable(
    after: i64,
    probe: &dyn Fn(i64) -> Result<Option<bool>, StoreError>,
) -> Result<Option<i64>, StoreError> {
    let mut bad = after;
    let mut step: i64 = 1;
    let (mut good, mut found) = loop {
        let Some(x) = bad.checked_add(step) else {
            return Ok(None);
        };
        if let Some(found) = probe(x)? {
            break (x, found);
        }
        bad = x;
        step = step.saturating_mul(2);
    };
    while i128::from(good) - i128::from(bad) > 1 {
        let mid = ((i128::from(good) + i128::from(bad)) / 2) as i64;
        match probe(mid)? {
            Some(f) => (good, found) = (mid, f),
            None => bad = mid,
        }
    }
    Ok(found.then_some(good))
}
