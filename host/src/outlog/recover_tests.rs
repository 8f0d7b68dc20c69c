//! Damaged logs are rebuilt under a new epoch (issue 13, log corruption).

use super::tests::{data_for, fill, raw_for, segs};
use super::*;
use std::fs::OpenOptions;

/// Flip the byte at `off` of `path`.
fn flip(path: &Path, off: u64) {
    let f = OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, off).unwrap();
    f.write_all_at(&[b[0] ^ 0x40], off).unwrap();
}

/// Writes 100 chunks over several 1 KiB segments; returns the epoch.
fn hundred(dir: &Path) -> String {
    let log = OutputLog::open_with(dir, u64::MAX, 1024).unwrap();
    fill(&log, 1, 100);
    assert!(segs(dir).len() >= 4);
    log.epoch()
}

/// After a rebuild: a new epoch, the damage reported, the old files in a
/// quarantine dir, and the kept chunks (old seqs `kept`) renumbered from 1
/// with their bytes and raw positions; appends continue.
fn check_rebuilt(dir: &Path, old_epoch: &str, kept: &[u64]) {
    let log = OutputLog::open_with(dir, u64::MAX, 1024).unwrap();
    assert_ne!(log.epoch(), old_epoch, "renumbered under the same epoch");
    let damage = log.damage().expect("damage reported").to_string();
    assert!(damage.contains(old_epoch) && damage.contains("quarantine-"), "{damage}");
    let all = log.read_from(1, usize::MAX).unwrap();
    assert_eq!(all.len(), kept.len(), "{damage}");
    for (i, (c, old)) in all.iter().zip(kept).enumerate() {
        assert_eq!(c.seq, i as u64 + 1);
        assert_eq!(
            (c.raw_end, &c.data[..]),
            (raw_for(*old), &data_for(*old)[..]),
            "old seq {old}"
        );
    }
    let q: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("quarantine-"))
        .collect();
    assert_eq!(q.len(), 1);
    assert!(q[0].path().join("REPORT").exists());
    let next = log.append(raw_for(101), &data_for(101)).unwrap();
    assert_eq!(next.seq, kept.len() as u64 + 1);
    drop(log);
    let again = OutputLog::open_with(dir, u64::MAX, 1024).unwrap();
    assert!(again.damage().is_none(), "the rebuilt log opens clean");
    assert_eq!(again.meta().last_seq, kept.len() as u64 + 1);
}

#[test]
fn gap_between_segments_rebuilds_under_a_new_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let epoch = hundred(tmp.path());
    let list = segment::list_segments(tmp.path()).unwrap();
    let (first_of_second, first_of_third) = (list[1].0, list[2].0);
    fs::remove_file(&list[1].1).unwrap();
    let kept: Vec<u64> = (1..first_of_second).chain(first_of_third..=100).collect();
    check_rebuilt(tmp.path(), &epoch, &kept);
}

#[test]
fn a_flipped_byte_in_a_sealed_segment_header_rebuilds_instead_of_failing_the_open() {
    let tmp = tempfile::tempdir().unwrap();
    let epoch = hundred(tmp.path());
    // The length field of the second record of the first (sealed) segment.
    let off = (super::HEADER + data_for(1).len()) as u64;
    flip(&segs(tmp.path())[0], off + 3);
    let kept: Vec<u64> = (1..=100).filter(|s| *s != 2).collect();
    check_rebuilt(tmp.path(), &epoch, &kept);
}

#[test]
fn a_flipped_data_byte_in_a_sealed_segment_is_caught_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let epoch = hundred(tmp.path());
    let off = (super::HEADER + data_for(1).len() + super::HEADER) as u64;
    flip(&segs(tmp.path())[0], off);
    let kept: Vec<u64> = (1..=100).filter(|s| *s != 2).collect();
    check_rebuilt(tmp.path(), &epoch, &kept);
}

#[test]
fn a_crc_failure_mid_active_segment_never_renumbers_under_the_same_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let epoch = hundred(tmp.path());
    let list = segment::list_segments(tmp.path()).unwrap();
    let (first, path) = list.last().unwrap().clone();
    assert!(first < 99, "the active segment holds several records");
    // A data byte of the active segment's first record: valid ones follow.
    flip(&path, super::HEADER as u64);
    let kept: Vec<u64> = (1..=100).filter(|s| *s != first).collect();
    check_rebuilt(tmp.path(), &epoch, &kept);
}
