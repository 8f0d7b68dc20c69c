//! `wasmux-bench console`: the web console in headless Chromium against the
//! raw WebSocket client, same daemon, same burst, same run — time from
//! opening a session page to the first terminal paint, and sustained
//! terminal throughput (BEGIN→END, parsed by xterm.js) for a burst.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::stats::{MB, mb_per_s};
use crate::workload::Workload;
use crate::{daemon, measure, stream};

/// Options of `wasmux-bench console`.
#[derive(clap::Args, Debug)]
pub struct ConsoleArgs {
    /// Size of the burst, in MB (10^6 bytes).
    #[arg(long, default_value_t = 50)]
    mb: u64,
    /// Timed bursts per path (the best is reported).
    #[arg(long, default_value_t = 2)]
    runs: usize,
    /// Give up on any single step after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn chromium() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Ok(p.into());
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .context("no Chromium: apt-get install -y chromium (or set CHROMIUM)")
}

/// `target/browser-tools` with playwright-core (npm ci from tests/browser).
fn browser_tools() -> Result<PathBuf> {
    let dir = root().join("target/browser-tools");
    if !dir.join("node_modules/playwright-core/package.json").exists() {
        std::fs::create_dir_all(&dir)?;
        for f in ["package.json", "package-lock.json"] {
            std::fs::copy(root().join("tests/browser").join(f), dir.join(f))?;
        }
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .context("npm (apt-get install nodejs npm)")?;
        if !ok.success() {
            bail!("npm ci in {} failed", dir.display());
        }
    }
    Ok(dir)
}

/// Run the benchmark and print its report.
pub async fn run(bin: &Path, a: &ConsoleArgs) -> Result<()> {
    let limit = Duration::from_secs(a.timeout_secs);
    let (browser, tools) = (chromium()?, browser_tools()?);
    step!("writing {} MB of base64 lines", a.mb);
    let w = Workload::create(a.mb * MB as u64)?;
    let cmd = w.command();
    let d = daemon::Daemon::start(bin, 256 << 20).await?;
    d.create_shell("c", w.dir()).await?;
    let roots = [std::process::id() as i32, d.pid, d.tmux_pid().await?];

    let mut raw = Vec::new();
    {
        let mut ws = stream::WsClient::connect(&d.addr, &d.token, "c").await?;
        ws.resume(None).await?;
        for i in 0..a.runs {
            step!("raw WebSocket client: burst {}/{}", i + 1, a.runs);
            raw.push(measure::burst(&mut ws, &cmd, &roots, limit).await?.elapsed);
        }
        ws.close().await;
    }

    step!("console in Chromium: first paint x3, then {} burst(s)", a.runs);
    let mut node = Command::new("node");
    node.arg(root().join("benches/console.mjs"))
        .env("BASE", format!("http://{}", d.addr))
        .env("TOKEN", &d.token)
        .env("SESSION", "c")
        .env("CMD", &cmd)
        .env("RUNS", a.runs.to_string())
        .env("CHROMIUM", &browser)
        .env("PLAYWRIGHT", &tools);
    let out = tokio::task::spawn_blocking(move || node.output()).await??;
    if !out.status.success() {
        bail!("the console side failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let v: Value = serde_json::from_slice(&out.stdout).context("console.mjs printed no JSON")?;
    let nums = |k: &str| -> Vec<f64> {
        v[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_f64)
            .collect()
    };
    let (paints, bursts) = (nums("firstPaintMs"), nums("burstMs"));
    let best_raw = raw.iter().min().copied().context("no raw run")?;
    let best_console = bursts.iter().copied().fold(f64::INFINITY, f64::min);
    let raw_rate = mb_per_s(w.data_bytes, best_raw);
    let console_rate = mb_per_s(w.data_bytes, Duration::from_secs_f64(best_console / 1000.0));
    println!("## wasmux-bench console\n");
    println!(
        "- data: {:.1} MB burst (`cat` of base64 lines in a shell pane); MB = 10^6 bytes",
        w.data_bytes as f64 / MB
    );
    println!("- browser: {}\n", browser.display());
    println!("| measure | value |");
    println!("|---|---:|");
    let p: Vec<String> = paints.iter().map(|x| format!("{x:.0}")).collect();
    println!(
        "| session page: navigation start → first terminal paint (ms, 3 opens) | {} |",
        p.join(", ")
    );
    println!("| raw WebSocket client: MB/s (best of {}) | {raw_rate:.1} |", a.runs);
    println!(
        "| console (xterm.js parsed): MB/s (best of {}) | {console_rate:.1} |",
        a.runs
    );
    println!("| console / raw | **{:.2}** |", console_rate / raw_rate);
    Ok(())
}
