//! The runner of the property-based fuzz tests (issue 13), shared by each
//! module's `fuzz_tests.rs` (test builds only).
//!
//! Every target runs a fixed number of cases from a fixed ChaCha seed, so
//! `cargo test` tries the same inputs on every run and machine (no
//! persistence files, no `PROPTEST_*` variables needed). A failing case is
//! shrunk and reported with the smallest input proptest found. A target
//! that does not finish within [`HANG`] aborts the test process: a parser
//! that loops forever fails the run instead of stalling it.
//!
//! For a longer hunt, `FUZZ_SCALE=N` runs N times the cases (and allows N
//! times the time) and `FUZZ_SEED=S` (0–255) replaces every target's seed.

use std::cell::Cell;
use std::fmt::Debug;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseResult, TestRng, TestRunner};

/// How long one target may run before it counts as a hang (its budget is
/// a few seconds; this leaves room for a loaded machine).
const HANG: Duration = Duration::from_secs(120);

/// Runs `test` on `cases` inputs drawn from `strategy`, seeded with 32 bytes
/// of `seed`; panics with the shrunk input on the first failure. Prints the
/// number of executions (cases plus shrink steps) and the wall time.
pub fn fuzz<S>(name: &str, cases: u32, seed: u8, strategy: S, test: impl Fn(S::Value) -> TestCaseResult)
where
    S: Strategy,
    S::Value: Debug,
{
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
    let scale = env("FUZZ_SCALE").unwrap_or(1).max(1);
    let cases = cases.saturating_mul(scale);
    let hang = HANG * scale;
    let seed = env("FUZZ_SEED").map_or(seed, |s| s as u8);
    let config = Config {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let (done, wait) = mpsc::channel::<()>();
    let label = name.to_string();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(hang) {
            eprintln!("fuzz {label}: no result after {hang:?}; an input makes it loop forever");
            std::process::abort();
        }
    });
    let execs = Cell::new(0u64);
    let start = Instant::now();
    let result = runner.run(&strategy, |input| {
        execs.set(execs.get() + 1);
        test(input)
    });
    drop(done);
    eprintln!(
        "fuzz {name}: {} execs ({cases} cases, seed [{seed}; 32]) in {:.2?}",
        execs.get(),
        start.elapsed()
    );
    if let Err(e) = result {
        panic!("fuzz {name}: {e}");
    }
}
