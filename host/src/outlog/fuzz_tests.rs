//! Property-based fuzzing of the output-log readers (issue 13): records
//! round-trip; arbitrary bytes never panic the segment readers and yield only
//! records whose CRC checks out; flipped bytes destroy the records they hit
//! and nothing else; a damaged log reopens without ever showing altered
//! data under a seq of the same epoch.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use bytes::Bytes;
use proptest::prelude::*;

use super::recover::salvage;
use super::segment::{self, checksum, decode_header, encode, parse_records};
use super::{Chunk, HEADER, LogError, MAX_CHUNK, OutputLog};

use crate::fuzz_kit::fuzz;

mod damage;

/// What `salvage` finds in `buf`, as chunks.
fn salvaged(buf: &Bytes) -> Vec<Chunk> {
    salvage(buf)
        .into_iter()
        .map(|s| Chunk {
            seq: s.seq,
            raw_end: s.raw_end,
            data: s.data,
        })
        .collect()
}

/// `(raw_end, data)` of records to write, data 1..=`max` bytes.
fn records(n: std::ops::Range<usize>, max: usize) -> impl Strategy<Value = Vec<(u64, Vec<u8>)>> {
    prop::collection::vec((any::<u64>(), prop::collection::vec(any::<u8>(), 1..=max)), n)
}

/// The records `(raw_end, data)` numbered from `first_seq`, encoded back to
/// back as in a segment file; also each one's byte range.
fn segment_bytes(first_seq: u64, recs: &[(u64, Vec<u8>)]) -> (Vec<u8>, Vec<Chunk>, Vec<std::ops::Range<usize>>) {
    let (mut buf, mut chunks, mut ranges, mut rec) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, (raw_end, data)) in recs.iter().enumerate() {
        let seq = first_seq + i as u64;
        encode(&mut rec, seq, *raw_end, data);
        ranges.push(buf.len()..buf.len() + rec.len());
        buf.extend_from_slice(&rec);
        chunks.push(Chunk {
            seq,
            raw_end: *raw_end,
            data: Bytes::copy_from_slice(data),
        });
    }
    (buf, chunks, ranges)
}

/// Where `data` (a slice of `buf`) starts in `buf`.
fn offset_in(buf: &Bytes, data: &Bytes) -> usize {
    data.as_ptr() as usize - buf.as_ptr() as usize
}

/// Whether a record `(seq, raw_end, data)` found at data offset `at` of
/// `buf` is backed by a well-formed header right before it whose CRC matches.
fn checks_out(buf: &[u8], at: usize, seq: u64, raw_end: u64, data: &[u8]) -> bool {
    at >= HEADER
        && decode_header(&buf[at - HEADER..]).is_some_and(|h| {
            h.seq == seq && h.raw_end == raw_end && h.len == data.len() && h.crc == checksum(seq, raw_end, data)
        })
        && buf.get(at..at + data.len()) == Some(data)
}

#[test]
fn output_log_records_round_trip_through_every_reader() {
    let input = (0u64..u64::MAX / 2, records(1..16, 300));
    fuzz("outlog record round trip", 10_000, 21, input, |(first_seq, recs)| {
        let (buf, chunks, ranges) = segment_bytes(first_seq, &recs);
        for (c, r) in chunks.iter().zip(&ranges) {
            let h = decode_header(&buf[r.start..]).expect("a fresh header decodes");
            prop_assert_eq!((h.seq, h.raw_end, h.len), (c.seq, c.raw_end, c.data.len()));
            prop_assert_eq!(h.crc, checksum(c.seq, c.raw_end, &c.data));
        }
        let buf = Bytes::from(buf);
        let mut out = Vec::new();
        parse_records(buf.clone(), first_seq, chunks.len(), Path::new("t"), 0, &mut out).unwrap();
        prop_assert_eq!(&out, &chunks);
        let salvaged = salvaged(&buf);
        prop_assert_eq!(&salvaged, &chunks);
        Ok(())
    });
}

/// Segment-ish bytes: valid records (any seq), bare magics, length fields
/// and random bytes glued together.
fn junk() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => (any::<u64>(), any::<u64>(), prop::collection::vec(any::<u8>(), 1..40)).prop_map(|(s, r, d)| {
            let mut rec = Vec::new();
            encode(&mut rec, s % 8, r, &d);
            rec
        }),
        2 => prop::collection::vec(any::<u8>(), 0..32),
        1 => Just(segment::MAGIC.to_le_bytes().to_vec()),
        1 => prop_oneof![Just(0u32), Just(1), Just(MAX_CHUNK as u32), Just(MAX_CHUNK as u32 + 1), Just(u32::MAX), any::<u32>()]
            .prop_map(|l| l.to_le_bytes().to_vec()),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|p| p.concat())
}

#[test]
fn segment_readers_never_panic_and_return_only_records_whose_crc_checks_out() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("00000000000000000001.seg");
    let input = (junk(), 0u64..8, 0usize..6);
    fuzz(
        "outlog arbitrary bytes",
        3000,
        22,
        input,
        |(bytes, first_seq, count)| {
            for at in 0..bytes.len().saturating_sub(HEADER - 1) {
                if let Some(h) = decode_header(&bytes[at..]) {
                    prop_assert!((1..=MAX_CHUNK).contains(&h.len));
                }
            }
            let buf = Bytes::from(bytes.clone());
            let mut out = Vec::new();
            let parsed = parse_records(buf.clone(), first_seq, count, &path, 0, &mut out);
            prop_assert!(matches!(parsed, Ok(()) | Err(LogError::Corrupt(_))), "{parsed:?}");
            if parsed.is_ok() {
                prop_assert_eq!(out.len(), count);
            }
            for (i, c) in out.iter().enumerate() {
                prop_assert_eq!(c.seq, first_seq + i as u64);
                prop_assert!(checks_out(&bytes, offset_in(&buf, &c.data), c.seq, c.raw_end, &c.data));
            }
            let mut end = 0;
            for s in salvage(&buf) {
                let at = offset_in(&buf, &s.data);
                prop_assert!(at >= end + HEADER, "salvaged records overlap");
                prop_assert!(checks_out(&bytes, at, s.seq, s.raw_end, &s.data));
                end = at + s.data.len();
            }

            fs::write(&path, &bytes).unwrap();
            match segment::scan_sealed(&path, first_seq) {
                Ok(seg) => {
                    prop_assert_eq!(seg.end, bytes.len() as u64);
                    for (i, &off) in seg.offsets.iter().enumerate() {
                        let h = decode_header(&bytes[off as usize..]).unwrap();
                        let at = off as usize + HEADER;
                        let data = &bytes[at..at + h.len];
                        prop_assert!(checks_out(&bytes, at, first_seq + i as u64, h.raw_end, data));
                    }
                }
                Err(e) => prop_assert!(matches!(e, LogError::Corrupt(_)), "{e}"),
            }
            match segment::recover_active(&path, first_seq, 100) {
                Ok((seg, cached)) => {
                    // Whatever was cut, the file now ends at the last good record.
                    prop_assert_eq!(fs::metadata(&path).unwrap().len(), seg.end);
                    prop_assert_eq!(&bytes[..seg.end as usize], &fs::read(&path).unwrap()[..]);
                    for (i, &off) in seg.offsets.iter().enumerate() {
                        let h = decode_header(&bytes[off as usize..]).unwrap();
                        let at = off as usize + HEADER;
                        prop_assert!(checks_out(
                            &bytes,
                            at,
                            first_seq + i as u64,
                            h.raw_end,
                            &bytes[at..at + h.len]
                        ));
                    }
                    let n = seg.offsets.len();
                    prop_assert!(cached.len() <= n && (n == 0 || !cached.is_empty()));
                    for (c, &off) in cached.iter().zip(&seg.offsets[n - cached.len()..]) {
                        let at = off as usize + HEADER;
                        prop_assert!(checks_out(&bytes, at, c.seq, c.raw_end, &c.data));
                    }
                }
                Err(e) => {
                    prop_assert!(matches!(e, LogError::Corrupt(_)), "{e}");
                    prop_assert_eq!(&fs::read(&path).unwrap(), &bytes, "a refused segment is left as it was");
                }
            }
            Ok(())
        },
    );
}

#[test]
fn flipped_bytes_destroy_only_the_records_they_hit() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("00000000000000000001.seg");
    let input = (
        1u64..1000,
        records(1..12, 120),
        prop::collection::vec((any::<usize>(), 1u8..=255), 1..4),
    );
    fuzz("outlog byte flips", 3000, 23, input, |(first_seq, recs, flips)| {
        let (mut bytes, chunks, ranges) = segment_bytes(first_seq, &recs);
        // One XOR per byte (two at the same offset could cancel out).
        let flips: std::collections::BTreeMap<usize, u8> =
            flips.into_iter().map(|(at, x)| (at % bytes.len(), x)).collect();
        let mut hit = vec![false; chunks.len()];
        for (at, xor) in flips {
            bytes[at] ^= xor;
            hit[ranges.iter().position(|r| r.contains(&at)).unwrap()] = true;
        }
        let intact: Vec<&Chunk> = chunks.iter().zip(&hit).filter(|(_, h)| !**h).map(|(c, _)| c).collect();

        // Salvage finds exactly the records no flip touched, unaltered.
        let salvaged = salvaged(&Bytes::from(bytes.clone()));
        prop_assert_eq!(salvaged.iter().collect::<Vec<_>>(), intact.clone());

        // A sealed segment with any damage is refused.
        fs::write(&path, &bytes).unwrap();
        let sealed = segment::scan_sealed(&path, first_seq);
        prop_assert!(matches!(sealed, Err(LogError::Corrupt(_))));

        // The active segment keeps the records before the first hit one;
        // it is cut there only if no intact record follows (a torn tail),
        // else the open is refused (and the log rebuilt under a new epoch).
        let first_hit = hit.iter().position(|h| *h).unwrap();
        let intact_after = hit[first_hit..].iter().any(|h| !*h);
        match segment::recover_active(&path, first_seq, usize::MAX) {
            Ok((seg, cached)) => {
                prop_assert!(!intact_after, "cut off intact records");
                prop_assert_eq!(seg.offsets.len(), first_hit);
                prop_assert_eq!(seg.end, ranges[first_hit].start as u64);
                prop_assert_eq!(fs::metadata(&path).unwrap().len(), seg.end);
                prop_assert_eq!(&cached[..], &chunks[..first_hit]);
            }
            Err(e) => {
                prop_assert!(intact_after, "refused a torn tail: {e}");
                prop_assert!(matches!(e, LogError::Corrupt(_)), "{e}");
            }
        }
        Ok(())
    });
}
