//! Measurements shared by every pane transport (tmux control client,
//! wasmux WebSocket): the burst transfer and keystroke-to-echo latency.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use tokio::time::timeout_at;

use crate::cpu;
use crate::workload::BurstScanner;

/// A live pane: type into it, read what it prints.
pub trait Terminal {
    /// Type `bytes` into the pane.
    async fn send(&mut self, bytes: &[u8]) -> Result<()>;
    /// The next piece of the pane's output, waiting for it.
    async fn next_output(&mut self) -> Result<&[u8]>;
}

/// One timed transfer of the data file.
pub struct Burst {
    /// From the BEGIN marker's arrival to the END marker's.
    pub elapsed: Duration,
    /// Bytes received between the markers.
    pub body_bytes: u64,
    /// CPU seconds per process name from typing the command to END.
    pub cpu: Vec<(String, f64)>,
}

/// Type `command` + Enter, time BEGIN→END in the output, then wait for the
/// prompt to come back. `roots` are the process trees whose CPU is counted.
pub async fn burst<T: Terminal>(t: &mut T, command: &str, roots: &[i32], limit: Duration) -> Result<Burst> {
    let before = cpu::Snapshot::take();
    let mut scan = BurstScanner::new();
    let mut line = command.as_bytes().to_vec();
    line.push(b'\r');
    t.send(&line).await?;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let out = match timeout_at(deadline, t.next_output()).await {
            Ok(r) => r?,
            Err(_) => {
                let which = if scan.begun() { "END" } else { "BEGIN" };
                bail!("the {which} marker did not arrive within {}s", limit.as_secs());
            }
        };
        if scan.feed(out, Instant::now()) {
            break;
        }
    }
    let after = cpu::Snapshot::take();
    settle(t, Duration::from_millis(300), Duration::from_secs(10)).await?;
    let (Some(b), Some(e)) = (scan.t_begin, scan.t_end) else {
        unreachable!("scanner finished")
    };
    Ok(Burst {
        elapsed: e - b,
        body_bytes: scan.body_bytes,
        cpu: cpu::delta(&before, &after, roots),
    })
}

/// Read and discard output until none has arrived for `quiet` (or `max` passed).
pub async fn settle<T: Terminal>(t: &mut T, quiet: Duration, max: Duration) -> Result<()> {
    let stop = Instant::now() + max;
    while Instant::now() < stop {
        match tokio::time::timeout(quiet, t.next_output()).await {
            Ok(r) => {
                r?;
            }
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// Keystroke-to-echo: at an idle prompt, type `a`, time until output holding
/// `a` arrives, erase it with Ctrl-U and let the pane settle; `warmup` rounds
/// are discarded, `n` are returned.
pub async fn keystroke_latency<T: Terminal>(t: &mut T, n: usize, warmup: usize) -> Result<Vec<Duration>> {
    settle(t, Duration::from_millis(300), Duration::from_secs(10)).await?;
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + warmup {
        let t0 = Instant::now();
        t.send(b"a").await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match timeout_at(deadline, t.next_output()).await {
                Ok(r) => {
                    if r?.contains(&b'a') {
                        break;
                    }
                }
                Err(_) => bail!("keystroke {i}: no echo of `a` within 5s"),
            }
        }
        let dt = t0.elapsed();
        t.send(&[0x15]).await?;
        match tokio::time::timeout(Duration::from_secs(5), t.next_output()).await {
            Ok(r) => {
                r?;
            }
            Err(_) => bail!("keystroke {i}: Ctrl-U produced no output within 5s"),
        }
        settle(t, Duration::from_millis(30), Duration::from_secs(2)).await?;
        if i >= warmup {
            samples.push(dt);
        }
    }
    Ok(samples)
}
