use super::*;
use rand::Rng;
use std::fs::OpenOptions;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Deterministic data for `seq`: 1..=500 bytes.
pub(super) fn data_for(seq: u64) -> Vec<u8> {
    let len = 1 + (seq.wrapping_mul(2_654_435_761) % 500) as usize;
    (0..len).map(|i| (seq as usize * 31 + i) as u8).collect()
}

pub(super) fn raw_for(seq: u64) -> u64 {
    seq * 1000 + 7
}

pub(super) fn fill(log: &OutputLog, from: u64, to: u64) {
    for seq in from..=to {
        let c = log.append(raw_for(seq), &data_for(seq)).unwrap();
        assert_eq!(c.seq, seq);
    }
}

pub(super) fn check(chunks: &[Chunk], first: u64) {
    for (i, c) in chunks.iter().enumerate() {
        assert_eq!(c.seq, first + i as u64);
        assert_eq!(c.raw_end, raw_for(c.seq));
        assert_eq!(&c.data[..], &data_for(c.seq)[..], "data of seq {}", c.seq);
    }
}

pub(super) fn segs(dir: &Path) -> Vec<PathBuf> {
    segment::list_segments(dir).unwrap().into_iter().map(|s| s.1).collect()
}

pub(super) fn last_seg_len(dir: &Path) -> (PathBuf, u64) {
    let p = segs(dir).pop().unwrap();
    let len = fs::metadata(&p).unwrap().len();
    (p, len)
}

#[test]
fn send_sync() {
    fn assert<T: Send + Sync>() {}
    assert::<OutputLog>();
}

#[test]
fn round_trip_many_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let log = OutputLog::open_inner(tmp.path(), u64::MAX, 2048, 1024).unwrap();
    let m = log.meta();
    assert_eq!(
        (m.first_seq, m.last_seq, m.first_raw, m.last_raw_end, m.bytes),
        (1, 0, 0, 0, 0)
    );
    assert!(log.read_from(1, usize::MAX).unwrap().is_empty());
    fill(&log, 1, 3000);
    assert!(segs(tmp.path()).len() > 50);
    let all = log.read_from(0, usize::MAX).unwrap();
    assert_eq!(all.len(), 3000);
    check(&all, 1);
    for from in [1, 2, 17, 999, 1500, 2999, 3000] {
        let got = log.read_from(from, 4000).unwrap();
        assert!(!got.is_empty());
        assert!(got.iter().map(|c| c.data.len()).sum::<usize>() <= 4000);
        check(&got, from);
    }
    assert!(log.read_from(3001, usize::MAX).unwrap().is_empty());
    let m = log.meta();
    assert_eq!((m.first_seq, m.last_seq, m.last_raw_end), (1, 3000, raw_for(3000)));
    assert_eq!(m.bytes, (1..=3000).map(|s| data_for(s).len() as u64).sum::<u64>());
    log.sync().unwrap();
}

#[test]
fn max_bytes_returns_at_least_one_chunk() {
    let tmp = tempfile::tempdir().unwrap();
    let log = OutputLog::open_inner(tmp.path(), u64::MAX, 4096, 0).unwrap();
    fill(&log, 1, 50);
    for cache in [false, true] {
        let from = if cache { 50 } else { 3 };
        let got = log.read_from(from, 0).unwrap();
        assert_eq!(got.len(), 1);
        check(&got, from);
    }
    let big = OutputLog::open_inner(&tmp.path().join("big"), u64::MAX, 4096, CACHE_BYTES).unwrap();
    fill(&big, 1, 10);
    let got = big.read_from(1, 1).unwrap();
    assert_eq!(got.len(), 1);
    let two = data_for(1).len() + data_for(2).len();
    assert_eq!(big.read_from(1, two).unwrap().len(), 2);
    assert_eq!(big.read_from(1, two - 1).unwrap().len(), 1);
}

#[test]
fn rejects_empty_and_oversized() {
    let tmp = tempfile::tempdir().unwrap();
    let log = OutputLog::open(tmp.path(), u64::MAX).unwrap();
    assert!(matches!(log.append(0, b""), Err(LogError::Empty)));
    let big = vec![1u8; MAX_CHUNK + 1];
    assert!(matches!(log.append(0, &big), Err(LogError::TooLarge(n)) if n == MAX_CHUNK + 1));
    assert_eq!(log.append(5, &big[..MAX_CHUNK]).unwrap().seq, 1);
    assert_eq!(log.read_from(1, 1).unwrap()[0].data.len(), MAX_CHUNK);
}

#[test]
fn reopen_continues_seq_and_keeps_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let epoch = {
        let log = OutputLog::open_with(tmp.path(), u64::MAX, 1024).unwrap();
        fill(&log, 1, 100);
        log.epoch()
    };
    assert_eq!(epoch.len(), 32);
    let log = OutputLog::open_with(tmp.path(), u64::MAX, 1024).unwrap();
    assert_eq!(log.epoch(), epoch);
    assert_eq!(log.meta().last_seq, 100);
    assert_eq!(log.meta().last_raw_end, raw_for(100));
    fill(&log, 101, 150);
    check(&log.read_from(1, usize::MAX).unwrap(), 1);
    let other = OutputLog::open(&tmp.path().join("other"), u64::MAX).unwrap();
    assert_ne!(other.epoch(), epoch);
    drop(log);
    // Segments without an epoch file: a recreated log gets a new epoch.
    fs::remove_file(tmp.path().join("epoch")).unwrap();
    let log = OutputLog::open_with(tmp.path(), u64::MAX, 1024).unwrap();
    assert_ne!(log.epoch(), epoch);
    assert_eq!(log.meta().last_seq, 150);
}

/// Writes 20 chunks (two+ segments at 2 KiB), damages the last segment with
/// `damage`, reopens and checks the log ends at `expect_last`.
fn torn_case(damage: impl FnOnce(&Path, u64), expect_last: u64) {
    let tmp = tempfile::tempdir().unwrap();
    {
        let log = OutputLog::open_with(tmp.path(), u64::MAX, 2048).unwrap();
        fill(&log, 1, 20);
    }
    let (path, len) = last_seg_len(tmp.path());
    damage(&path, len);
    let log = OutputLog::open_with(tmp.path(), u64::MAX, 2048).unwrap();
    assert_eq!(log.meta().last_seq, expect_last);
    assert_eq!(log.meta().last_raw_end, raw_for(expect_last));
    check(&log.read_from(1, usize::MAX).unwrap(), 1);
    fill(&log, expect_last + 1, expect_last + 30);
    drop(log);
    let log = OutputLog::open_with(tmp.path(), u64::MAX, 2048).unwrap();
    let all = log.read_from(1, usize::MAX).unwrap();
    assert_eq!(all.len() as u64, expect_last + 30);
    check(&all, 1);
}

#[test]
fn torn_tail_truncated() {
    torn_case(
        |p, len| {
            OpenOptions::new()
                .write(true)
                .open(p)
                .unwrap()
                .set_len(len - 3)
                .unwrap()
        },
        19,
    );
    // Cut inside the header of the last record.
    let last = super::HEADER as u64 + data_for(20).len() as u64;
    torn_case(
        |p, len| {
            OpenOptions::new()
                .write(true)
                .open(p)
                .unwrap()
                .set_len(len - last + 5)
                .unwrap()
        },
        19,
    );
}

#[test]
fn trailing_garbage_truncated() {
    let garbage = |p: &Path, _| {
        OpenOptions::new()
            .append(true)
            .open(p)
            .unwrap()
            .write_all(b"\x58\x57garbage!")
            .unwrap()
    };
    torn_case(garbage, 20);
    let zeros = |p: &Path, _| {
        OpenOptions::new()
            .append(true)
            .open(p)
            .unwrap()
            .write_all(&[0u8; 100])
            .unwrap()
    };
    torn_case(zeros, 20);
}

#[test]
fn corrupt_crc_in_last_record_truncated() {
    let flip = |p: &Path, len: u64| {
        let f = OpenOptions::new().read(true).write(true).open(p).unwrap();
        let mut b = [0u8];
        f.read_exact_at(&mut b, len - 1).unwrap();
        f.write_all_at(&[b[0] ^ 0xff], len - 1).unwrap();
    };
    torn_case(flip, 19);
}

#[test]
fn torn_only_record_of_last_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let n = {
        let log = OutputLog::open_with(tmp.path(), u64::MAX, 1024).unwrap();
        let mut seq = 0;
        while segs(tmp.path()).len() < 3 {
            seq += 1;
            log.append(raw_for(seq), &data_for(seq)).unwrap();
        }
        seq
    };
    let (path, _) = last_seg_len(tmp.path());
    OpenOptions::new().write(true).open(&path).unwrap().set_len(10).unwrap();
    let log = OutputLog::open_with(tmp.path(), u64::MAX, 1024).unwrap();
    assert_eq!(log.meta().last_seq, n - 1);
    assert_eq!(log.append(raw_for(n), &data_for(n)).unwrap().seq, n);
    check(&log.read_from(1, usize::MAX).unwrap(), 1);
}

#[test]
fn retention_deletes_oldest_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let log = OutputLog::open_inner(tmp.path(), 8192, 2048, 1024).unwrap();
    fill(&log, 1, 500);
    let m = log.meta();
    assert!(m.first_seq > 1);
    assert!(
        m.bytes <= 8192 + 2048 + MAX_CHUNK as u64 && m.bytes > 8192 - 2048,
        "{m:?}"
    );
    assert_eq!(m.first_raw, raw_for(m.first_seq - 1));
    assert_eq!(
        segs(tmp.path())[0].file_name().unwrap().to_str().unwrap(),
        segment::segment_name(m.first_seq)
    );
    let got = log.read_from(1, usize::MAX).unwrap();
    assert_eq!(got[0].seq, m.first_seq);
    assert_eq!(got.last().unwrap().seq, 500);
    check(&got, m.first_seq);
    drop(log);
    let log = OutputLog::open_with(tmp.path(), 8192, 2048).unwrap();
    assert_eq!(log.meta(), m);
    // Lower retention on reopen: applied immediately, active segment kept.
    drop(log);
    let log = OutputLog::open_with(tmp.path(), 0, 2048).unwrap();
    assert_eq!(segs(tmp.path()).len(), 1);
    assert_eq!(log.meta().last_seq, 500);
    check(&log.read_from(0, usize::MAX).unwrap(), log.meta().first_seq);
}

#[test]
fn interrupted_retention_is_finished_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let log = OutputLog::open_with(tmp.path(), u64::MAX, 1024).unwrap();
        fill(&log, 1, 100);
    }
    let all = segment::list_segments(tmp.path()).unwrap();
    let (seq2, _) = all[2];
    segment::write_head(tmp.path(), seq2, raw_for(seq2 - 1)).unwrap();
    let log = OutputLog::open_with(tmp.path(), u64::MAX, 1024).unwrap();
    let m = log.meta();
    assert_eq!((m.first_seq, m.first_raw), (seq2, raw_for(seq2 - 1)));
    assert_eq!(segs(tmp.path()).len(), all.len() - 2);
}

#[test]
fn concurrent_append_and_read() {
    let tmp = tempfile::tempdir().unwrap();
    let log = Arc::new(OutputLog::open_inner(tmp.path(), u64::MAX, 64 * 1024, 32 * 1024).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (log, done) = (log.clone(), done.clone());
            std::thread::spawn(move || {
                let mut rng = rand::rng();
                let mut reads = 0u64;
                while !done.load(Ordering::Acquire) {
                    let last = log.meta().last_seq;
                    let from = rng.random_range(0..=last + 2);
                    let got = log.read_from(from, rng.random_range(0..20_000)).unwrap();
                    if from <= last && last > 0 {
                        assert!(!got.is_empty(), "from {from} last {last}");
                    }
                    check(&got, from.max(1));
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    fill(&log, 1, 20_000);
    done.store(true, Ordering::Release);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    eprintln!("concurrent: 20000 appends alongside {reads} reads");
    check(&log.read_from(1, usize::MAX).unwrap(), 1);
}

#[test]
fn timing_64mib() {
    let tmp = tempfile::tempdir().unwrap();
    let log = OutputLog::open(tmp.path(), u64::MAX).unwrap();
    let chunk: Vec<u8> = (0..4096).map(|i| (i % 251) as u8).collect();
    let n = 64 * 1024 * 1024 / chunk.len() as u64;
    let t = Instant::now();
    for i in 1..=n {
        log.append(i * 4096, &chunk).unwrap();
    }
    let append = t.elapsed();
    let t = Instant::now();
    let (mut next, mut bytes) = (1u64, 0usize);
    loop {
        let got = log.read_from(next, 1024 * 1024).unwrap();
        let Some(last) = got.last() else { break };
        next = last.seq + 1;
        bytes += got.iter().map(|c| c.data.len()).sum::<usize>();
    }
    let read = t.elapsed();
    assert_eq!(bytes as u64, n * 4096);
    let t = Instant::now();
    drop(log);
    let log = OutputLog::open(tmp.path(), u64::MAX).unwrap();
    assert_eq!(log.meta().last_seq, n);
    eprintln!(
        "timing: 64 MiB as {n} x 4 KiB: append {append:?}, full read {read:?}, reopen {:?}",
        t.elapsed()
    );
}
