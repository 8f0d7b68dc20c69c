//! `wasmux bench …`: benchmark programs that print tables, each measured
//! side by side with a baseline in the same run.

mod events;
mod plugins;

use clap::Subcommand;

/// Benchmarks.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// How far provider events lag behind terminal bytes under a burst.
    Events {
        /// Megabytes printed by the pane.
        #[arg(long, default_value_t = 10)]
        mb: usize,
        /// Provider of the session (must report task-complete, e.g. shell).
        #[arg(long, default_value = "shell")]
        provider: String,
        /// A plugin to drop into the daemon's plugins folder first
        /// (`X.wasm` with `X.toml` beside it), e.g. a Python or JS provider.
        #[arg(long)]
        plugin: Option<std::path::PathBuf>,
        /// Send the burst as a queued message with this text (`{data}` is the
        /// data file's path) instead of typing a shell command into the pane;
        /// it must print the data and then `END-MARK7f3a` (built so that the
        /// echo of the text does not contain it).
        #[arg(long)]
        prompt: Option<String>,
    },
    /// Plugin runtime: compile, cached load, instantiate from `InstancePre`,
    /// and the shell provider's output parser (wasm vs native) on 4 KiB chunks.
    Plugins {
        /// Iterations per measurement.
        #[arg(long, default_value_t = 2000)]
        iterations: usize,
    },
}

/// Run a benchmark.
pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Plugins { iterations } => plugins::run(iterations).await,
        BenchCommand::Events {
            mb,
            provider,
            plugin,
            prompt,
        } => {
            events::run(events::Options {
                mb,
                provider,
                plugin,
                prompt,
            })
            .await
        }
    }
}

/// Summary statistics of samples in nanoseconds.
pub struct Stats {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Mean, p50 and p99 of `samples` (nanoseconds).
pub fn stats(samples: &mut [u64]) -> Stats {
    samples.sort_unstable();
    let n = samples.len().max(1);
    let at = |q: f64| {
        samples
            .get(((n as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0) as f64
    };
    Stats {
        mean: samples.iter().sum::<u64>() as f64 / n as f64,
        p50: at(0.5),
        p99: at(0.99),
    }
}
