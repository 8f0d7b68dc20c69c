//! `wasmux-bench`: black-box benchmarks of a running wasmux daemon, each
//! measured side by side with its baselines in the same run.
//!
//! `wasmux-bench stream` compares the terminal byte path — pane throughput,
//! keystroke-to-echo latency and log replay — of wasmux's WebSocket stream
//! against a bare `tmux -C` control client and a bare pty.
//!
//! `wasmux-bench events` measures how far provider events lag behind the
//! bytes; `wasmux-bench plugins` the plugin runtime in-process.
//! `wasmux-bench console` opens the web console in headless Chromium: time
//! to the first terminal paint, and burst throughput beside the raw
//! WebSocket client's.
//!
//! `wasmux-bench queue` measures the durable enqueue path (durability
//! `normal` and `full`) against an in-process axum hello-world, and the SSE
//! fan-out of queue events to many subscribers.

/// Progress on stderr; the report goes to stdout.
macro_rules! step {
    ($($t:tt)*) => { eprintln!("[wasmux-bench] {}", format!($($t)*)) };
}

mod console;
mod cpu;
mod daemon;
mod events;
mod measure;
mod plugin_runtime;
mod pty;
mod queue;
mod stats;
mod stream;
mod tmux_baseline;
mod workload;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use crate::measure::Burst;
use crate::stats::{Latency, MB, mb_per_s};
use crate::workload::Workload;

/// Benchmarks of a running wasmux daemon against baselines.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// The wasmux binary (default: the workspace's target/debug/wasmux).
    #[arg(long, global = true)]
    wasmux: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Terminal stream: pane throughput, keystroke latency and replay,
    /// wasmux over WebSocket vs `tmux -C` vs a bare pty.
    Stream(StreamArgs),
    /// Web console in headless Chromium: first terminal paint, and burst
    /// throughput beside the raw WebSocket client's.
    Console(console::ConsoleArgs),
    /// Durable queue: enqueue throughput and latency (durability normal and
    /// full) vs an axum hello-world, and SSE fan-out of queue events.
    Queue(QueueArgs),
    /// How far provider events lag behind terminal bytes under a burst.
    Events(events::EventsArgs),
    /// Plugin runtime: compile, cached load, instantiate from `InstancePre`,
    /// and the shell provider's output parser (wasm vs native) on 4 KiB chunks.
    Plugins {
        /// Iterations per measurement.
        #[arg(long, default_value_t = 2000)]
        iterations: usize,
    },
}

/// Options of `wasmux-bench queue`.
#[derive(clap::Args, Debug)]
struct QueueArgs {
    /// Concurrent HTTP clients, one keep-alive connection each.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Timed enqueue requests per target (after one untimed warm-up request per client).
    #[arg(long, default_value_t = 20000)]
    requests: usize,
    /// Concurrent SSE subscribers in the fan-out test.
    #[arg(long, default_value_t = 500)]
    subscribers: usize,
    /// Messages enqueued while the subscribers listen.
    #[arg(long, default_value_t = 200)]
    fanout_events: usize,
    /// Give up on any single step after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

/// Options of `wasmux-bench stream`.
#[derive(clap::Args, Debug)]
struct StreamArgs {
    /// Size of the data file `cat`ed through each pane, in MB (10^6 bytes).
    #[arg(long, default_value_t = 50)]
    mb: u64,
    /// Timed throughput runs per path (the best is reported).
    #[arg(long, default_value_t = 2)]
    runs: usize,
    /// Keystrokes timed per path.
    #[arg(long, default_value_t = 200)]
    keystrokes: usize,
    /// Untimed keystrokes first.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Log size (MB) to build before the replay; extra wasmux bursts run until reached.
    #[arg(long, default_value_t = 100)]
    replay_mb: u64,
    /// Give up on any single step after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

fn main() -> std::process::ExitCode {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(Cli::parse())) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasmux-bench: error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let bin = match cli.wasmux {
        Some(p) => p,
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/wasmux"),
    };
    if !bin.is_file() {
        bail!(
            "no wasmux binary at {}: run `cargo build -p wasmux` from the workspace root (or pass --wasmux PATH)",
            bin.display()
        );
    }
    match cli.cmd {
        Cmd::Stream(args) => run_stream(&bin, &args).await,
        Cmd::Queue(args) => queue::run(&bin, &args).await,
        Cmd::Events(args) => events::run(&bin, &args).await,
        Cmd::Plugins { iterations } => plugin_runtime::run(iterations).await,
        Cmd::Console(args) => console::run(&bin, &args).await,
    }
}

/// Results of one throughput path.
struct Path3 {
    name: &'static str,
    runs: Vec<Burst>,
}

impl Path3 {
    fn best(&self) -> &Burst {
        self.runs.iter().min_by_key(|b| b.elapsed).expect("at least one run")
    }
}

async fn run_stream(bin: &Path, a: &StreamArgs) -> Result<()> {
    if a.runs == 0 || a.keystrokes == 0 || a.mb == 0 {
        bail!("--runs, --keystrokes and --mb must be at least 1");
    }
    let limit = Duration::from_secs(a.timeout_secs);
    let started = Instant::now();
    let facts = machine_facts(bin).await;

    step!("writing {} MB of base64 lines", a.mb);
    let w = Workload::create(a.mb * MB as u64)?;
    let cmd = w.command();

    // (c) bare pty.
    let mut pty_runs = Vec::new();
    for i in 0..a.runs {
        step!("(c) bare pty: burst {}/{}", i + 1, a.runs);
        let w2 = &w;
        let b = tokio::task::block_in_place(|| pty::burst(w2, limit)).context("(c) bare pty burst")?;
        pty_runs.push(b);
    }

    // (a) tmux -C.
    step!("(a) tmux -C: starting a private server");
    let mut tc = tmux_baseline::ControlClient::start().await?;
    let troots = [std::process::id() as i32, tc.server_pid().await?];
    step!("(a) tmux -C: {} keystrokes (+{} warm-up)", a.keystrokes, a.warmup);
    let tmux_lat = measure::keystroke_latency(&mut tc, a.keystrokes, a.warmup)
        .await
        .context("(a) tmux keystrokes")?;
    let mut tmux_runs = Vec::new();
    for i in 0..a.runs {
        step!("(a) tmux -C: burst {}/{}", i + 1, a.runs);
        tmux_runs.push(
            measure::burst(&mut tc, &cmd, &troots, limit)
                .await
                .context("(a) tmux burst")?,
        );
    }
    drop(tc);

    // (b) wasmux.
    let replay_bytes = a.replay_mb * MB as u64;
    let retention = (128u64 << 20).max(replay_bytes * 2);
    step!("(b) wasmux: starting {} (retention {} bytes)", bin.display(), retention);
    let t_daemon = Instant::now();
    let d = daemon::Daemon::start(bin, retention).await?;
    d.create_shell("b", w.dir()).await?;
    let daemon_ready = t_daemon.elapsed();
    let wroots = [std::process::id() as i32, d.pid, d.tmux_pid().await?];
    let mut ws = stream::WsClient::connect(&d.addr, &d.token, "b").await?;
    ws.resume(None).await?;
    step!("(b) wasmux: {} keystrokes (+{} warm-up)", a.keystrokes, a.warmup);
    let ws_lat = measure::keystroke_latency(&mut ws, a.keystrokes, a.warmup)
        .await
        .with_context(|| format!("(b) wasmux keystrokes; daemon log:\n{}", d.log_tail()))?;
    let mut ws_runs = Vec::new();
    let mut extra = 0;
    while ws_runs.len() < a.runs || ws.bytes < replay_bytes {
        step!(
            "(b) wasmux: burst {} (log so far {:.1} MB)",
            ws_runs.len() + 1,
            ws.bytes as f64 / MB
        );
        let b = measure::burst(&mut ws, &cmd, &wroots, limit)
            .await
            .with_context(|| format!("(b) wasmux burst; daemon log:\n{}", d.log_tail()))?;
        if ws_runs.len() >= a.runs {
            extra += 1;
        }
        ws_runs.push(b);
    }
    let live_bytes = ws.bytes;
    let live_chunks = ws.chunks;
    ws.close().await;

    // 3. Replay.
    let last_seq = d.last_seq("b").await?;
    step!(
        "(b) wasmux: replaying {:.1} MB (seq 1..={last_seq}) to a new client",
        live_bytes as f64 / MB
    );
    let r = stream::replay(&d.addr, &d.token, "b", last_seq, limit)
        .await
        .with_context(|| format!("replay; daemon log:\n{}", d.log_tail()))?;
    drop(d);

    // Report.
    let paths = [
        Path3 {
            name: "(a) `tmux -C` control client",
            runs: tmux_runs,
        },
        Path3 {
            name: "(b) wasmux → WebSocket client",
            runs: ws_runs,
        },
        Path3 {
            name: "(c) bare pty, no tmux (ceiling)",
            runs: pty_runs,
        },
    ];
    let rate = |p: &Path3| mb_per_s(w.data_bytes, p.best().elapsed);
    println!("## wasmux-bench stream\n");
    println!("- command: `{}`", std::env::args().collect::<Vec<_>>().join(" "));
    for f in &facts {
        println!("- {f}");
    }
    println!(
        "- data: {:.1} MB ({} lines of 76 base64 chars + `\\n`); MB = 10^6 bytes",
        w.data_bytes as f64 / MB,
        w.data_bytes / 77
    );
    println!(
        "- wasmux daemon start + shell session ready: {:.2} s",
        daemon_ready.as_secs_f64()
    );
    println!();
    println!("### 1. Pane throughput: `cat` in raw mode, BEGIN→END marker arrival\n");
    println!(
        "| path | MB/s (best of {}) | each run MB/s | bytes between markers | best run: wall time; CPU seconds (% of one core) per process |",
        a.runs
    );
    println!("|---|---:|---|---:|---|");
    for p in &paths {
        let each: Vec<String> = p
            .runs
            .iter()
            .map(|b| format!("{:.1}", mb_per_s(w.data_bytes, b.elapsed)))
            .collect();
        let best = p.best();
        let ok = if best.body_bytes == w.data_bytes + 1 {
            ""
        } else {
            " ⚠ expected data+1"
        };
        println!(
            "| {} | {:.1} | {} | {}{ok} | wall {:.2}s: {} |",
            p.name,
            rate(p),
            each.join(", "),
            best.body_bytes,
            best.elapsed.as_secs_f64(),
            cpu::format(&best.cpu, best.elapsed.as_secs_f64())
        );
    }
    let (ra, rb, rc) = (rate(&paths[0]), rate(&paths[1]), rate(&paths[2]));
    println!();
    println!(
        "(b)/(a) = **{:.2}**  ·  (b)/(c) = {:.2}  ·  (a)/(c) = {:.2}",
        rb / ra,
        rb / rc,
        ra / rc
    );
    if extra > 0 {
        println!("\n(b) ran {extra} extra burst(s), included above, to build the replay log.");
    }
    println!();
    println!(
        "### 2. Keystroke → echo latency (ms; {} keystrokes after {} warm-up, idle bash prompt)\n",
        a.keystrokes, a.warmup
    );
    println!("| path | p50 | p99 | min | mean | max | share ≤ 1 ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, s) in [
        ("(a) `tmux -C`: `send-keys -H 61` → `%output`", Latency::of(&tmux_lat)),
        ("(b) wasmux: WS `input` → binary frame", Latency::of(&ws_lat)),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0}% |",
            s.p50,
            s.p99,
            s.min,
            s.mean,
            s.max,
            100.0 * s.within_1ms
        );
    }
    println!();
    println!("### 3. Replay: a new WebSocket client, `resume` null, until seq {last_seq}\n");
    println!("| log bytes | chunks | first frame | total | MB/s | chunks/s | avg chunk |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {:.1} ms | {:.2} s | {:.1} | {:.0} | {:.0} B |",
        r.bytes,
        r.chunks,
        r.first_frame.as_secs_f64() * 1e3,
        r.elapsed.as_secs_f64(),
        mb_per_s(r.bytes, r.elapsed),
        r.chunks as f64 / r.elapsed.as_secs_f64(),
        r.bytes as f64 / r.chunks.max(1) as f64
    );
    println!();
    println!(
        "Live client received {live_bytes} bytes in {live_chunks} chunks; replay firstSeq {}, {} gap(s){}.",
        r.first_seq,
        r.gaps.len(),
        if r.bytes == live_bytes {
            ", bytes identical in count"
        } else {
            " — replay and live byte counts DIFFER"
        }
    );
    println!("\nTotal bench time {:.0} s.", started.elapsed().as_secs_f64());
    Ok(())
}

/// nproc, CPU model, kernel, tmux -V, the wasmux binary.
async fn machine_facts(bin: &Path) -> Vec<String> {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let tmux = tokio::process::Command::new("tmux")
        .arg("-V")
        .output()
        .await
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| format!("tmux -V failed: {e}"));
    let bin = std::fs::canonicalize(bin).unwrap_or_else(|_| bin.to_path_buf());
    vec![
        format!("machine: nproc {nproc}, {model}, Linux {}", kernel.trim()),
        format!("{tmux}"),
        format!("wasmux: {}", bin.display()),
    ]
}
