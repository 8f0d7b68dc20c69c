//! Summary statistics and unit formatting.

use std::time::Duration;

/// Bytes per megabyte as reported (decimal: 10^6).
pub const MB: f64 = 1e6;

/// Percentiles of a latency sample, in milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// Fraction of samples at or under 1 ms.
    pub within_1ms: f64,
}

impl Latency {
    /// Summarise `samples` (must not be empty).
    pub fn of(samples: &[Duration]) -> Latency {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        Latency {
            p50: percentile(&ms, 50.0),
            p99: percentile(&ms, 99.0),
            min: ms[0],
            max: ms[ms.len() - 1],
            mean: ms.iter().sum::<f64>() / ms.len() as f64,
            within_1ms: ms.iter().filter(|&&m| m <= 1.0).count() as f64 / ms.len() as f64,
        }
    }
}

/// Nearest-rank percentile of an ascending, non-empty slice.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Megabytes per second.
pub fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / MB / d.as_secs_f64().max(1e-9)
}

/// Mean, p50 and p99 of a sample in nanoseconds.
pub struct Nanos {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Summarise `samples` (nanoseconds; sorted in place).
pub fn nanos(samples: &mut [u64]) -> Nanos {
    samples.sort_unstable();
    let n = samples.len().max(1);
    let at = |q: f64| {
        samples
            .get(((n as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0) as f64
    };
    Nanos {
        mean: samples.iter().sum::<u64>() as f64 / n as f64,
        p50: at(0.5),
        p99: at(0.99),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }
}
