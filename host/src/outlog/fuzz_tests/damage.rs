//! Whole-log damage: flipped, cut, deleted and misplaced segment files
//! reopen without altering any seq of the log's epoch.

use super::*;

/// Damage done to a closed log's segment files.
#[derive(Debug, Clone)]
enum Damage {
    /// XOR one byte (any segment, any offset).
    Flip { seg: usize, at: usize, xor: u8 },
    /// Cut a segment short.
    Truncate { seg: usize, to: usize },
    /// Delete a whole segment file.
    Delete { seg: usize },
    /// Append bytes to a segment.
    Garbage { seg: usize, bytes: Vec<u8> },
    /// Copy a byte range of one segment into another (or the same) one:
    /// whole records may end up twice or out of place.
    Splice {
        from: usize,
        at: usize,
        len: usize,
        to: usize,
        into: usize,
    },
    /// Overwrite (`Some`) or delete (`None`) the `epoch` or `head` file.
    File {
        name: &'static str,
        contents: Option<Vec<u8>>,
    },
}

fn damage() -> impl Strategy<Value = Damage> {
    let seg = any::<usize>();
    prop_oneof![
        4 => (seg, any::<usize>(), 1u8..=255).prop_map(|(seg, at, xor)| Damage::Flip { seg, at, xor }),
        1 => (seg, any::<usize>()).prop_map(|(seg, to)| Damage::Truncate { seg, to }),
        1 => seg.prop_map(|seg| Damage::Delete { seg }),
        1 => (seg, prop::collection::vec(any::<u8>(), 1..64)).prop_map(|(seg, bytes)| Damage::Garbage { seg, bytes }),
        1 => (seg, any::<usize>(), 1usize..600, seg, any::<usize>())
            .prop_map(|(from, at, len, to, into)| Damage::Splice { from, at, len, to, into }),
        1 => (
            prop::sample::select(vec!["epoch", "head"]),
            prop::option::of(prop_oneof![
                (0u64..60, any::<u64>()).prop_map(|(s, r)| format!("{s} {r}\n").into_bytes()),
                any::<[u8; 16]>().prop_map(|e| hex::encode(e).into_bytes()),
                prop::collection::vec(any::<u8>(), 0..40),
            ]),
        )
            .prop_map(|(name, contents)| Damage::File { name, contents }),
    ]
}

fn apply(dir: &Path, d: &Damage) {
    if let Damage::File { name, contents } = d {
        match contents {
            Some(c) => fs::write(dir.join(name), c).unwrap(),
            None => _ = fs::remove_file(dir.join(name)),
        }
        return;
    }
    let segs: Vec<_> = segment::list_segments(dir).unwrap().into_iter().map(|s| s.1).collect();
    if segs.is_empty() {
        return;
    }
    let pick = |i: usize| &segs[i % segs.len()];
    match d {
        Damage::Flip { seg, at, xor } => {
            let p = pick(*seg);
            let len = fs::metadata(p).unwrap().len() as usize;
            if len > 0 {
                let f = OpenOptions::new().read(true).write(true).open(p).unwrap();
                let mut b = [0u8];
                f.read_exact_at(&mut b, (at % len) as u64).unwrap();
                f.write_all_at(&[b[0] ^ xor], (at % len) as u64).unwrap();
            }
        }
        Damage::Truncate { seg, to } => {
            let p = pick(*seg);
            let len = fs::metadata(p).unwrap().len() as usize;
            OpenOptions::new()
                .write(true)
                .open(p)
                .unwrap()
                .set_len((to % (len + 1)) as u64)
                .unwrap();
        }
        Damage::Delete { seg } => fs::remove_file(pick(*seg)).unwrap(),
        Damage::Garbage { seg, bytes } => {
            let mut b = fs::read(pick(*seg)).unwrap();
            b.extend_from_slice(bytes);
            fs::write(pick(*seg), b).unwrap();
        }
        Damage::Splice {
            from,
            at,
            len,
            to,
            into,
        } => {
            let src = fs::read(pick(*from)).unwrap();
            let mut dst = fs::read(pick(*to)).unwrap();
            let at = at % (src.len() + 1);
            let piece = &src[at..(at + len).min(src.len())];
            let into = into % (dst.len() + 1);
            dst.splice(into..into, piece.iter().copied());
            fs::write(pick(*to), dst).unwrap();
        }
        Damage::File { .. } => unreachable!("handled above"),
    }
}

/// Appends `recs` to a fresh log in `dir` (raw positions made increasing,
/// as ingestion makes them) and returns what it holds.
fn write_log(
    dir: &Path,
    retention: u64,
    segment_bytes: u64,
    cache: usize,
    recs: &[(u64, Vec<u8>)],
) -> (String, Vec<Chunk>) {
    let log = OutputLog::open_inner(dir, retention, segment_bytes, cache).unwrap();
    let mut raw = 0u64;
    let chunks = recs
        .iter()
        .map(|(gap, data)| {
            raw += data.len() as u64 + gap % 1000;
            log.append(raw, data).unwrap()
        })
        .collect();
    (log.epoch(), chunks)
}

#[test]
fn a_damaged_log_reopens_without_altering_any_seq_of_its_epoch() {
    let input = (
        prop_oneof![3 => Just(u64::MAX), 1 => 500u64..5000],
        256u64..2048,
        records(1..40, 150),
        prop::collection::vec(damage(), 1..4),
    );
    fuzz(
        "outlog damaged reopen",
        400,
        24,
        input,
        |(retention, segment_bytes, recs, damages)| {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path();
            let (epoch, chunks) = write_log(dir, retention, segment_bytes, 1 << 20, &recs);
            for d in &damages {
                apply(dir, d);
            }
            let log = match OutputLog::open_inner(dir, retention, segment_bytes, 1 << 20) {
                Ok(log) => log,
                Err(e) => {
                    return Err(TestCaseError::fail(format!(
                        "a damaged log must reopen (rebuilt if need be): {e}"
                    )));
                }
            };
            let all = log.read_from(0, usize::MAX).unwrap();
            let meta = log.meta();
            prop_assert_eq!(meta.last_seq + 1 - meta.first_seq, all.len() as u64);
            if log.epoch() == epoch {
                // Same epoch: a contiguous run of the original seqs, each with
                // its original bytes (a torn tail may be cut, or leading segments
                // gone), and no damage to report.
                prop_assert!(log.damage().is_none());
                for (i, c) in all.iter().enumerate() {
                    prop_assert_eq!(c.seq, meta.first_seq + i as u64);
                    prop_assert_eq!(Some(c), chunks.get(c.seq as usize - 1));
                }
            } else {
                // New epoch: original records in their original order. A
                // rebuild reports the damage and renumbers from 1; a missing or
                // unreadable `epoch` file only starts a new incarnation with
                // the seqs as they were (clients replay on any new epoch).
                let mut rest = chunks.iter();
                for (i, c) in all.iter().enumerate() {
                    if log.damage().is_some() {
                        prop_assert_eq!(c.seq, i as u64 + 1);
                    } else {
                        prop_assert_eq!(c.seq, meta.first_seq + i as u64);
                        prop_assert_eq!(Some(c), chunks.get(c.seq as usize - 1));
                    }
                    let found = rest.any(|o| o.raw_end == c.raw_end && o.data == c.data);
                    prop_assert!(
                        found,
                        "seq {} of the reopened log is no original record, or out of order",
                        c.seq
                    );
                }
            }
            // The log goes on: the next append takes the next seq, and the log
            // then reopens clean under the same epoch.
            let next = log.append(u64::MAX, b"after").unwrap();
            prop_assert_eq!(next.seq, meta.last_seq + 1);
            let epoch_now = log.epoch();
            drop(log);
            let again = OutputLog::open_inner(dir, retention, segment_bytes, 1 << 20).unwrap();
            prop_assert!(again.damage().is_none());
            prop_assert_eq!(again.epoch(), epoch_now);
            prop_assert_eq!(again.meta().last_seq, next.seq);
            Ok(())
        },
    );
}

#[test]
fn reads_of_a_segment_damaged_after_open_fail_instead_of_returning_altered_bytes() {
    let input = (
        256u64..2048,
        records(2..40, 150),
        prop::collection::vec((any::<usize>(), any::<usize>(), 1u8..=255), 1..4),
        any::<u64>(),
    );
    fuzz(
        "outlog damaged while open",
        500,
        25,
        input,
        |(segment_bytes, recs, flips, from)| {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path();
            // No cache: every read goes to disk.
            let (_, chunks) = write_log(dir, u64::MAX, segment_bytes, 0, &recs);
            let log = OutputLog::open_inner(dir, u64::MAX, segment_bytes, 0).unwrap();
            for (seg, at, xor) in flips {
                apply(dir, &Damage::Flip { seg, at, xor });
            }
            let from = 1 + from % chunks.len() as u64;
            match log.read_from(from, usize::MAX) {
                Ok(got) => {
                    // Only what no flip touched, or what the cache still held.
                    prop_assert!(!got.is_empty());
                    for (i, c) in got.iter().enumerate() {
                        prop_assert_eq!(c.seq, from + i as u64);
                        prop_assert_eq!(Some(c), chunks.get(c.seq as usize - 1));
                    }
                }
                Err(e) => prop_assert!(matches!(e, LogError::Corrupt(_)), "{e}"),
            }
            Ok(())
        },
    );
}
