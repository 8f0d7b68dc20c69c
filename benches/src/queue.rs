//! `wasmux-bench queue`: the durable enqueue path and the SSE fan-out of
//! queue events, measured against an in-process axum hello-world in the same
//! run.
//!
//! Every enqueue goes to a shell session whose agent is busy (`sleep 100000`
//! is its running turn), so each message just waits in the queue: the
//! numbers are the HTTP + SQLite + event-bus path, not the agent.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::sync::{Barrier, watch};

use crate::QueueArgs;
use crate::cpu;
use crate::daemon::Daemon;
use crate::stats::{Latency, percentile};
use crate::workload::TempDir;

/// The session every enqueue targets (same path on the hello-world server).
const SESSION: &str = "q";
/// The running turn that keeps the agent busy.
const BUSY: &str = "sleep 100000";

// ---------------------------------------------------------------------------
// /proc helpers

/// `VmRSS` of `pid` in KiB.
fn rss_kib(pid: i32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `write_bytes` of `/proc/<pid>/io` (bytes the process caused to be sent to
/// the block layer).
fn disk_write_bytes(pid: i32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    text.lines()
        .find(|l| l.starts_with("write_bytes:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// utime + stime (clock ticks) of every thread of `pid`, summed per thread name.
fn thread_ticks(pid: i32) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(text) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (text.find('('), text.rfind(')')) else {
            continue;
        };
        let comm = text[open + 1..close].to_string();
        let f: Vec<&str> = text[close + 1..].split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        *out.entry(comm).or_default() += num(11) + num(12);
    }
    out
}

/// CPU seconds per thread name between two [`thread_ticks`] readings, largest
/// first. Threads that exited in between are not counted.
fn thread_delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> Vec<(String, f64)> {
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut v: Vec<(String, f64)> = after
        .iter()
        .map(|(k, a)| (k.clone(), a.saturating_sub(*before.get(k).unwrap_or(&0)) as f64 / tick))
        .filter(|(_, s)| *s > 0.0)
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}

/// Busy CPU seconds of the whole machine so far (`/proc/stat`: user, nice,
/// system, irq, softirq, steal; iowait excluded).
fn machine_busy() -> f64 {
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    (at(0) + at(1) + at(2) + at(5) + at(6) + at(7)) as f64 / tick
}

/// Machine busy CPU seconds not accounted to `ours` (other processes'
/// load, which skews the numbers on a shared machine).
fn others(busy: f64, ours: &[(String, f64)]) -> f64 {
    (busy - ours.iter().map(|x| x.1).sum::<f64>()).max(0.0)
}

/// `/proc/loadavg`'s first three fields.
fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Raise the soft open-file limit to the hard one (inherited by the daemon):
/// 500 subscribers need 500 sockets on each side.
fn raise_nofile() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// Filesystem type and source of the mount holding `path`.
fn filesystem_of(path: &Path) -> String {
    let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut best: Option<(usize, String)> = None;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let Some(dash) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        let (Some(mnt), Some(fstype), Some(src)) = (f.get(4), f.get(dash + 1), f.get(dash + 2)) else {
            continue;
        };
        if path.starts_with(mnt) && best.as_ref().is_none_or(|(len, _)| mnt.len() >= *len) {
            best = Some((mnt.len(), format!("{fstype} ({src}, mounted on {mnt})")));
        }
    }
    best.map_or_else(|| "unknown filesystem".into(), |(_, s)| s)
}

/// Append 4 KiB + `fdatasync`, `n` times, in a file under the temp dir: the
/// cost a `full`-durability commit pays at least once.
fn fsync_probe(n: usize) -> Result<Latency> {
    let dir = TempDir::new("fsync")?;
    let mut f = fs::File::create(dir.path().join("probe"))?;
    let block = [b'x'; 4096];
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f.write_all(&block)?;
        f.sync_data()?;
        samples.push(t.elapsed());
    }
    Ok(Latency::of(&samples))
}

// ---------------------------------------------------------------------------
// The hello-world baseline

/// An axum server on its own 2-thread runtime (threads named `hello-server`)
/// answering `POST /sessions/{name}/messages` with a tiny JSON like the
/// daemon's, so the same client code drives it.
struct Hello {
    addr: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hello {
    fn start() -> Result<Hello> {
        use axum::routing::post;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?.to_string();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hello-server")
            .enable_all()
            .build()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let counter = Arc::new(AtomicU64::new(0));
        let app = axum::Router::new().route(
            "/sessions/{name}/messages",
            post(move |axum::Json(body): axum::Json<Value>| {
                let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
                async move {
                    let ok = body["text"].is_string();
                    (
                        if ok {
                            axum::http::StatusCode::ACCEPTED
                        } else {
                            axum::http::StatusCode::BAD_REQUEST
                        },
                        axum::Json(json!({"id": format!("msg_{n:016x}"), "position": n, "status": "queued", "duplicate": false})),
                    )
                }
            }),
        );
        let thread = std::thread::Builder::new().name("hello-server".into()).spawn(move || {
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
            rt.shutdown_background();
        })?;
        Ok(Hello {
            addr,
            stop: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Hello {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        // Graceful shutdown waits for open connections; the load's clients
        // are gone by now, so this returns at once. Do not block a runtime
        // worker if it does not.
        if let Some(t) = self.thread.take()
            && t.is_finished()
        {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------
// The enqueue load

/// Where the load goes.
struct Target {
    /// `http://ADDR`.
    base: String,
    token: String,
}

/// One timed request.
#[derive(Clone, Copy)]
struct Sample {
    start: Instant,
    end: Instant,
}

/// One client's share of the load.
#[derive(Default)]
struct ClientOut {
    samples: Vec<Sample>,
    ids: Vec<String>,
    failures: usize,
    errors: Vec<String>,
    warmup_failed: Option<String>,
}

/// Results of one load run.
struct LoadRun {
    samples: Vec<Sample>,
    ids: Vec<String>,
    wall: Duration,
    /// CPU seconds by process (bench, daemon, tmux, …) during the timed part.
    procs: Vec<(String, f64)>,
    /// CPU seconds by thread name of the server process (daemon or, for the
    /// hello-world, the bench itself).
    threads: Vec<(String, f64)>,
    /// Bytes the server process wrote to the block layer, if known.
    disk_bytes: Option<u64>,
    /// Busy CPU seconds of the whole machine.
    machine: f64,
}

impl LoadRun {
    fn rate(&self) -> f64 {
        self.samples.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }
    fn latency(&self) -> Latency {
        Latency::of(&self.samples.iter().map(|s| s.end - s.start).collect::<Vec<_>>())
    }
    /// req/s and p50 (ms) over the first and the last `frac` of completions.
    fn ends(&self, frac: f64) -> ((f64, f64), (f64, f64)) {
        let mut s = self.samples.clone();
        s.sort_by_key(|x| x.end);
        let k = ((s.len() as f64 * frac) as usize).max(2).min(s.len());
        let t0 = s.iter().map(|x| x.start).min().expect("samples");
        let part = |p: &[Sample], from: Instant| {
            let span = (p[p.len() - 1].end - from).as_secs_f64().max(1e-9);
            let mut ms: Vec<f64> = p.iter().map(|x| (x.end - x.start).as_secs_f64() * 1e3).collect();
            ms.sort_by(f64::total_cmp);
            (p.len() as f64 / span, percentile(&ms, 50.0))
        };
        let first = part(&s[..k], t0);
        let last = part(&s[s.len() - k..], s[s.len() - k - 1].end);
        (first, last)
    }
}

/// `POST {base}/sessions/q/messages {"text": text}`; the message id of a 202
/// `queued` non-duplicate reply, else an error.
async fn enqueue_one(http: &reqwest::Client, url: &str, token: &str, text: &str) -> Result<String> {
    let resp = http
        .post(url)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(json!({ "text": text }).to_string())
        .send()
        .await?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await?;
    if status != 202 {
        bail!("HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    let v: Value = serde_json::from_slice(&body).with_context(|| format!("reply not JSON: {body:?}"))?;
    if v["status"] != "queued" || v["duplicate"] != false || !v["position"].is_u64() {
        bail!("unexpected 202 reply {v}");
    }
    v["id"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("no id in {v}"))
}

fn client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .build()?)
}

/// `clients` tasks, each with its own keep-alive connection, first send one
/// untimed warm-up request each, then share `requests` timed ones.
/// `server_pid` is the process whose threads are broken down; `roots` are the
/// process trees whose CPU is counted.
async fn load(t: &Target, a: &QueueArgs, server_pid: i32, roots: &[i32], limit: Duration) -> Result<LoadRun> {
    let url: Arc<str> = format!("{}/sessions/{SESSION}/messages", t.base).into();
    let token: Arc<str> = t.token.clone().into();
    let next = Arc::new(AtomicUsize::new(0));
    let warmed = Arc::new(Barrier::new(a.clients + 1));
    let go = Arc::new(Barrier::new(a.clients + 1));
    let mut tasks = Vec::with_capacity(a.clients);
    for c in 0..a.clients {
        let (url, token, next, warmed, go) = (url.clone(), token.clone(), next.clone(), warmed.clone(), go.clone());
        let http = client()?;
        let n = a.requests;
        tasks.push(tokio::spawn(async move {
            let mut out = ClientOut::default();
            if let Err(e) = enqueue_one(&http, &url, &token, &format!("echo w{c}")).await {
                out.warmup_failed = Some(format!("{e:#}"));
            }
            warmed.wait().await;
            go.wait().await;
            if out.warmup_failed.is_some() {
                return out;
            }
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let start = Instant::now();
                match enqueue_one(&http, &url, &token, &format!("echo {i}")).await {
                    Ok(id) => {
                        out.samples.push(Sample {
                            start,
                            end: Instant::now(),
                        });
                        out.ids.push(id);
                    }
                    Err(e) => {
                        out.failures += 1;
                        if out.errors.len() < 3 {
                            out.errors.push(format!("request {i}: {e:#}"));
                        }
                    }
                }
            }
            out
        }));
    }
    tokio::time::timeout(limit, warmed.wait())
        .await
        .context("warm-up requests did not finish in time")?;
    let procs0 = cpu::Snapshot::take();
    let threads0 = thread_ticks(server_pid);
    let disk0 = disk_write_bytes(server_pid);
    let busy0 = machine_busy();
    go.wait().await;
    let joined = tokio::time::timeout(limit, futures::future::join_all(tasks)).await;
    let busy1 = machine_busy();
    let procs1 = cpu::Snapshot::take();
    let threads1 = thread_ticks(server_pid);
    let disk1 = disk_write_bytes(server_pid);
    let Ok(joined) = joined else {
        bail!(
            "load not done after {}s: {} of {} requests started",
            limit.as_secs(),
            next.load(Ordering::Relaxed).min(a.requests),
            a.requests
        );
    };
    let mut samples = Vec::with_capacity(a.requests);
    let mut ids = Vec::with_capacity(a.requests);
    let (mut failures, mut errors, mut warm_errors) = (0, Vec::new(), Vec::new());
    for j in joined {
        let out = j.context("client task panicked")?;
        samples.extend(out.samples);
        ids.extend(out.ids);
        failures += out.failures;
        errors.extend(out.errors);
        warm_errors.extend(out.warmup_failed);
    }
    if !warm_errors.is_empty() {
        bail!(
            "{} of {} warm-up requests failed, e.g. {}",
            warm_errors.len(),
            a.clients,
            warm_errors[0]
        );
    }
    if failures > 0 {
        errors.truncate(5);
        bail!(
            "{failures} of {} requests failed; first errors:\n  {}",
            a.requests,
            errors.join("\n  ")
        );
    }
    let start = samples.iter().map(|s| s.start).min().context("no samples")?;
    let end = samples.iter().map(|s| s.end).max().context("no samples")?;
    Ok(LoadRun {
        samples,
        ids,
        wall: end - start,
        procs: cpu::delta(&procs0, &procs1, roots),
        threads: thread_delta(&threads0, &threads1),
        disk_bytes: disk0.zip(disk1).map(|(a, b)| b.saturating_sub(a)),
        machine: busy1 - busy0,
    })
}

// ---------------------------------------------------------------------------
// Daemon set-up

fn daemon_config(durability: &str) -> String {
    format!("[limits]\nqueue_cap = 1000000\n\n[store]\ndurability = \"{durability}\"\n")
}

/// `GET /sessions/{name}/state`.
async fn state(d: &Daemon, name: &str) -> Result<Value> {
    d.get_json(&format!("/sessions/{name}/state")).await
}

/// Start a daemon with `durability`, create shell session `name`, wait for
/// it to be idle, then make it busy with [`BUSY`] and wait until that turn
/// is `running` and the session `working`.
async fn busy_daemon(bin: &Path, durability: &str, name: &str, limit: Duration) -> Result<Daemon> {
    let d = Daemon::start_with_config(bin, &daemon_config(durability)).await?;
    d.create_shell(name, d.state_dir()).await?;
    let stop = Instant::now() + limit;
    loop {
        let s = state(&d, name).await?;
        if s["state"]["value"] == "idle" {
            break;
        }
        if Instant::now() > stop {
            bail!("session {name} not idle after {}s: {s}", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, v) = d
        .post_json(&format!("/sessions/{name}/messages"), &json!({ "text": BUSY }))
        .await?;
    if status != 202 {
        bail!("POST /sessions/{name}/messages `{BUSY}`: {status}: {v}");
    }
    let id = v["id"].as_str().with_context(|| format!("no id in {v}"))?.to_string();
    loop {
        let m = d.get_json(&format!("/sessions/{name}/messages/{id}")).await?;
        let working = state(&d, name).await?["state"]["value"] == "working";
        match m["status"].as_str() {
            // Also wait for the agent's own `task-started`/`state` events,
            // so that nothing but the benchmark publishes events afterwards.
            Some("running") if working => break,
            Some("running") => {}
            Some("queued") => {}
            _ => bail!("`{BUSY}` should be running, got {m}; daemon log:\n{}", d.log_tail()),
        }
        if Instant::now() > stop {
            bail!("`{BUSY}` not running after {}s: {m}", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(d)
}

/// The load against a fresh daemon with `durability`, then a check that the
/// queue holds exactly what was acknowledged.
async fn daemon_load(bin: &Path, durability: &str, a: &QueueArgs, limit: Duration) -> Result<(LoadRun, Verified)> {
    step!("wasmux, durability {durability}: starting a daemon, session `{SESSION}` busy with `{BUSY}`");
    let d = busy_daemon(bin, durability, SESSION, limit).await?;
    let seq0 = state(&d, SESSION).await?["lastEventSeq"]
        .as_u64()
        .context("lastEventSeq")?;
    let roots = [std::process::id() as i32, d.pid, d.tmux_pid().await?];
    step!(
        "wasmux, durability {durability}: {} clients × ({} warm-up + {} timed requests in all)",
        a.clients,
        a.clients,
        a.requests
    );
    let t = Target {
        base: format!("http://{}", d.addr),
        token: d.token.clone(),
    };
    let run = load(&t, a, d.pid, &roots, limit)
        .await
        .with_context(|| format!("durability {durability}; daemon log:\n{}", d.log_tail()))?;
    let v = verify(&d, &run, a, seq0)
        .await
        .with_context(|| format!("durability {durability}"))?;
    Ok((run, v))
}

/// What the daemon reported after a load.
struct Verified {
    queued: usize,
    /// `lastEventSeq` after − before.
    new_events: u64,
    /// Events returned by `?follow=false` after the start seq.
    stored: u64,
    by_type: BTreeMap<String, u64>,
    state_ms: f64,
    state_bytes: usize,
}

/// Every acknowledged id is distinct and queued; one event per enqueue.
async fn verify(d: &Daemon, run: &LoadRun, a: &QueueArgs, seq0: u64) -> Result<Verified> {
    let distinct: HashSet<&String> = run.ids.iter().collect();
    if distinct.len() != run.ids.len() {
        bail!(
            "{} ids acknowledged but only {} distinct",
            run.ids.len(),
            distinct.len()
        );
    }
    let t = Instant::now();
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .get(d.url(&format!("/sessions/{SESSION}/state")))
        .bearer_auth(&d.token)
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await?;
    let state_ms = t.elapsed().as_secs_f64() * 1e3;
    if !status.is_success() {
        bail!("GET state after the load: {status}: {text}");
    }
    let s: Value = serde_json::from_str(&text)?;
    let queue = s["queue"].as_array().context("no queue in state")?;
    let expected = a.clients + a.requests;
    if queue.len() != expected {
        bail!("queue holds {} messages; {} were acknowledged", queue.len(), expected);
    }
    let in_queue: HashSet<&str> = queue.iter().filter_map(|m| m["id"].as_str()).collect();
    let missing = run.ids.iter().filter(|id| !in_queue.contains(id.as_str())).count();
    if missing > 0 {
        bail!("{missing} acknowledged ids are not in the queue");
    }
    if s["turn"]["text"] != BUSY {
        bail!("the running turn is no longer `{BUSY}`: {}", s["turn"]);
    }
    let new_events = s["lastEventSeq"].as_u64().context("lastEventSeq")? - seq0;
    // The stored events since the load began, by type.
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .get(d.url(&format!("/sessions/{SESSION}/events?after={seq0}&follow=false")))
        .bearer_auth(&d.token)
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        bail!("GET events?follow=false after the load: {status}: {text}");
    }
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    let mut queued_ids = HashSet::new();
    let mut stored = 0u64;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            *by_type.entry(format!("SSE event `{}`", v.trim())).or_default() += 1;
        }
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let Ok(e) = serde_json::from_str::<Value>(data.trim_start()) else {
            continue;
        };
        let Some(kind) = e["type"].as_str() else {
            continue;
        };
        stored += 1;
        *by_type.entry(kind.to_string()).or_default() += 1;
        if kind == "message-queued"
            && let Some(id) = e["id"].as_str()
        {
            queued_ids.insert(id.to_string());
        }
    }
    let missing = run.ids.iter().filter(|id| !queued_ids.contains(id.as_str())).count();
    if missing > 0 || by_type.get("message-queued").copied() != Some(expected as u64) {
        bail!(
            "{} message-queued events for {expected} enqueues, {missing} acknowledged ids without one; events by type: {by_type:?}",
            by_type.get("message-queued").copied().unwrap_or(0)
        );
    }
    Ok(Verified {
        queued: queue.len(),
        new_events,
        stored,
        by_type,
        state_ms,
        state_bytes: text.len(),
    })
}

// ---------------------------------------------------------------------------
// SSE fan-out

/// What one subscriber saw.
#[derive(Default)]
struct SubOut {
    /// `message-queued` events: message id and arrival time.
    queued: Vec<(String, Instant)>,
    /// Events seen (any type).
    events: u64,
    /// `id:` values that did not follow the previous one by exactly 1 (or
    /// the first not being `after + 1`).
    seq_breaks: u64,
    /// `event: gap` records.
    gaps: u64,
    error: Option<String>,
}

/// A subscriber: `GET /sessions/fan/events?after=N`; counts itself connected
/// once headers arrive, then records events until it has seen `want`
/// `message-queued` events or `stop` fires.
#[allow(clippy::too_many_arguments)]
async fn subscriber(
    http: reqwest::Client,
    url: String,
    token: String,
    after: u64,
    want: usize,
    connected: Arc<AtomicUsize>,
    probe_seen: Arc<AtomicUsize>,
    done: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) -> SubOut {
    let mut out = SubOut::default();
    let resp = match http
        .get(&url)
        .bearer_auth(&token)
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            out.error = Some(format!("connect: {e:#}"));
            return out;
        }
    };
    if resp.status() != 200 {
        out.error = Some(format!("HTTP {}", resp.status()));
        return out;
    }
    connected.fetch_add(1, Ordering::Relaxed);
    let mut resp = resp;
    let mut buf: Vec<u8> = Vec::new();
    let mut last_id = after;
    let mut event_name = String::new();
    loop {
        let chunk = tokio::select! {
            c = resp.chunk() => c,
            _ = stop.changed() => break,
        };
        let now = Instant::now();
        let chunk = match chunk {
            Ok(Some(c)) => c,
            Ok(None) => {
                out.error = Some("stream ended".into());
                break;
            }
            Err(e) => {
                out.error = Some(format!("read: {e:#}"));
                break;
            }
        };
        buf.extend_from_slice(&chunk);
        let mut from = 0;
        while let Some(nl) = buf[from..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&buf[from..from + nl]);
            let line = line.trim_end_matches('\r');
            from += nl + 1;
            if line.is_empty() {
                event_name.clear();
            } else if let Some(v) = line.strip_prefix("id:") {
                let id: u64 = v.trim().parse().unwrap_or(0);
                if id != last_id + 1 {
                    out.seq_breaks += 1;
                }
                last_id = id;
            } else if let Some(v) = line.strip_prefix("event:") {
                event_name = v.trim().to_string();
                if event_name == "gap" {
                    out.gaps += 1;
                }
            } else if let Some(v) = line.strip_prefix("data:") {
                if event_name == "gap" {
                    continue;
                }
                out.events += 1;
                let Ok(e) = serde_json::from_str::<Value>(v.trim_start()) else {
                    out.error.get_or_insert_with(|| format!("data line not JSON: {v}"));
                    continue;
                };
                if e["type"] == "message-queued" {
                    let id = e["id"].as_str().unwrap_or("").to_string();
                    out.queued.push((id, now));
                    if out.queued.len() == 1 {
                        probe_seen.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        buf.drain(..from);
        if out.queued.len() >= want {
            done.fetch_add(1, Ordering::Relaxed);
            // Keep the connection open until told to stop, so "during"
            // measurements see every subscriber connected.
            let _ = stop.changed().await;
            break;
        }
    }
    out
}

/// Results of the fan-out test.
struct Fanout {
    subscribers: usize,
    k: usize,
    expected: usize,
    delivered: usize,
    /// Delivery delays (enqueue send → subscriber read), all pairs.
    delivery: Vec<Duration>,
    /// Per event: last subscriber's arrival minus the first's.
    spread: Vec<Duration>,
    /// First enqueue sent → last delivery.
    drain: Duration,
    /// The K enqueues' own round trips, with and without subscribers.
    enqueue_with: Vec<Duration>,
    enqueue_without: Vec<Duration>,
    /// Time to connect every subscriber (headers received).
    connect: Duration,
    rss_before: u64,
    rss_connected: u64,
    rss_peak: u64,
    rss_after: u64,
    procs: Vec<(String, f64)>,
    threads: Vec<(String, f64)>,
    bench_threads: Vec<(String, f64)>,
    /// Busy CPU seconds of the whole machine over the same interval.
    machine: f64,
    problems: Vec<String>,
}

/// `k` sequential enqueues into `name`: (id, send instant, round trip).
async fn sequential(
    d: &Daemon,
    http: &reqwest::Client,
    name: &str,
    k: usize,
    tag: &str,
) -> Result<Vec<(String, Instant, Duration)>> {
    let url = d.url(&format!("/sessions/{name}/messages"));
    let mut out = Vec::with_capacity(k);
    for i in 0..k {
        let t = Instant::now();
        let id = enqueue_one(http, &url, &d.token, &format!("echo {tag}{i}"))
            .await
            .with_context(|| format!("enqueue {tag}{i}"))?;
        out.push((id, t, t.elapsed()));
    }
    Ok(out)
}

async fn fanout(bin: &Path, a: &QueueArgs, limit: Duration) -> Result<Fanout> {
    const NAME: &str = "fan";
    step!("fan-out: starting a daemon (durability normal), session `{NAME}` busy with `{BUSY}`");
    let d = busy_daemon(bin, "normal", NAME, limit).await?;
    let http = client()?;
    let k = a.fanout_events;
    let s = a.subscribers;
    step!("fan-out: {k} enqueues with no subscriber");
    let without = sequential(&d, &http, NAME, k, "c").await?;
    let after = state(&d, NAME).await?["lastEventSeq"]
        .as_u64()
        .context("lastEventSeq")?;
    let rss_before = rss_kib(d.pid).context("daemon VmRSS")?;

    // RSS sampler: peak while the sampler runs.
    let peak = Arc::new(AtomicU64::new(rss_before));
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = {
        let (peak, mut stop, pid) = (peak.clone(), stop_rx.clone(), d.pid);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Some(r) = rss_kib(pid) {
                            peak.fetch_max(r, Ordering::Relaxed);
                        }
                    }
                    _ = stop.changed() => break,
                }
            }
        })
    };

    step!("fan-out: connecting {s} SSE subscribers after event {after}");
    let connected = Arc::new(AtomicUsize::new(0));
    let probe_seen = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let sub_http = reqwest::Client::builder().no_proxy().tcp_nodelay(true).build()?;
    let url = d.url(&format!("/sessions/{NAME}/events?after={after}"));
    let t_connect = Instant::now();
    let tasks: Vec<_> = (0..s)
        .map(|_| {
            tokio::spawn(subscriber(
                sub_http.clone(),
                url.clone(),
                d.token.clone(),
                after,
                k + 1,
                connected.clone(),
                probe_seen.clone(),
                done.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    let finish = |problem: String| -> Result<Fanout> {
        let _ = stop_tx.send(true);
        bail!("fan-out: {problem}; daemon log:\n{}", d.log_tail())
    };
    let deadline = Instant::now() + limit;
    while connected.load(Ordering::Relaxed) < s {
        if Instant::now() > deadline || tasks.iter().any(|t| t.is_finished()) {
            let n = connected.load(Ordering::Relaxed);
            let mut first = None;
            for t in tasks {
                if t.is_finished() {
                    first = t.await.ok().and_then(|o| o.error);
                    if first.is_some() {
                        break;
                    }
                }
            }
            return finish(format!("only {n} of {s} subscribers connected; first error: {first:?}"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let connect = t_connect.elapsed();

    // A probe message proves every subscriber is live before timing starts.
    let probe = sequential(&d, &http, NAME, 1, "probe").await?;
    while probe_seen.load(Ordering::Relaxed) < s {
        if Instant::now() > deadline {
            let n = probe_seen.load(Ordering::Relaxed);
            return finish(format!("only {n} of {s} subscribers received the probe event"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rss_connected = rss_kib(d.pid).unwrap_or(0);

    step!("fan-out: {k} enqueues, each to be delivered to {s} subscribers");
    let procs0 = cpu::Snapshot::take();
    let threads0 = thread_ticks(d.pid);
    let bench0 = thread_ticks(std::process::id() as i32);
    let busy0 = machine_busy();
    let sent = sequential(&d, &http, NAME, k, "f").await?;
    // Subscribers that got everything wait for `stop`; any that finished
    // early ended with an error, so stop waiting once none is left reading.
    while done.load(Ordering::Relaxed) < s && Instant::now() < deadline {
        if done.load(Ordering::Relaxed) + tasks.iter().filter(|t| t.is_finished()).count() >= s {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let busy1 = machine_busy();
    let procs1 = cpu::Snapshot::take();
    let threads1 = thread_ticks(d.pid);
    let bench1 = thread_ticks(std::process::id() as i32);
    let rss_after = rss_kib(d.pid).unwrap_or(0);
    let _ = stop_tx.send(true);
    let _ = sampler.await;
    let outs: Vec<SubOut> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|e| SubOut {
                error: Some(format!("task: {e}")),
                ..SubOut::default()
            })
        })
        .collect();

    // Match arrivals to sends.
    let send: HashMap<&str, Instant> = sent.iter().map(|(id, t, _)| (id.as_str(), *t)).collect();
    let probe_id = probe[0].0.as_str();
    let mut delivery = Vec::with_capacity(s * k);
    let mut per_event: HashMap<&str, (Instant, Instant)> = HashMap::new();
    let mut problems = Vec::new();
    let (mut unexpected, mut dups, mut short, mut errors, mut seq_breaks, mut gaps) = (0, 0, 0, 0, 0u64, 0u64);
    let mut first_error = None;
    for o in &outs {
        let mut seen = HashSet::new();
        for (id, at) in &o.queued {
            if id == probe_id {
                continue;
            }
            let Some(t) = send.get(id.as_str()) else {
                unexpected += 1;
                continue;
            };
            if !seen.insert(id.as_str()) {
                dups += 1;
                continue;
            }
            delivery.push(at.saturating_duration_since(*t));
            let e = per_event.entry(id.as_str()).or_insert((*at, *at));
            e.0 = e.0.min(*at);
            e.1 = e.1.max(*at);
        }
        if seen.len() < k {
            short += 1;
        }
        if let Some(e) = &o.error {
            errors += 1;
            first_error.get_or_insert_with(|| e.clone());
        }
        seq_breaks += o.seq_breaks;
        gaps += o.gaps;
    }
    if short > 0 {
        problems.push(format!("{short} subscribers missed some of the {k} events"));
    }
    if unexpected > 0 {
        problems.push(format!("{unexpected} message-queued events with ids never sent"));
    }
    if dups > 0 {
        problems.push(format!("{dups} duplicate deliveries"));
    }
    if errors > 0 {
        problems.push(format!(
            "{errors} subscribers ended with an error, e.g. {}",
            first_error.unwrap_or_default()
        ));
    }
    if seq_breaks > 0 {
        problems.push(format!("{seq_breaks} non-consecutive SSE ids"));
    }
    if gaps > 0 {
        problems.push(format!("{gaps} `gap` records"));
    }
    let first_send = sent.first().map(|x| x.1).context("no sends")?;
    let last_arrival = per_event.values().map(|x| x.1).max().unwrap_or(first_send);
    Ok(Fanout {
        subscribers: s,
        k,
        expected: s * k,
        delivered: delivery.len(),
        delivery,
        spread: per_event.values().map(|(a, b)| *b - *a).collect(),
        drain: last_arrival - first_send,
        enqueue_with: sent.iter().map(|x| x.2).collect(),
        enqueue_without: without.iter().map(|x| x.2).collect(),
        connect,
        rss_before,
        rss_connected,
        rss_peak: peak.load(Ordering::Relaxed),
        rss_after,
        procs: cpu::delta(&procs0, &procs1, &[std::process::id() as i32, d.pid]),
        threads: thread_delta(&threads0, &threads1),
        bench_threads: thread_delta(&bench0, &bench1),
        machine: busy1 - busy0,
        problems,
    })
}

// ---------------------------------------------------------------------------
// The command

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `wasmux-bench queue`.
pub async fn run(bin: &Path, a: &QueueArgs) -> Result<()> {
    if a.clients == 0 || a.requests == 0 || a.subscribers == 0 || a.fanout_events == 0 {
        bail!("--clients, --requests, --subscribers and --fanout-events must be at least 1");
    }
    raise_nofile();
    let limit = Duration::from_secs(a.timeout_secs);
    let started = Instant::now();
    let mut facts = crate::machine_facts(bin).await;
    let tmp = std::env::temp_dir();
    facts.push(format!("state dirs under {}: {}", tmp.display(), filesystem_of(&tmp)));
    let fsync = tokio::task::block_in_place(|| fsync_probe(100)).context("fsync probe")?;
    facts.push(format!(
        "same filesystem, append 4 KiB + fdatasync ×100: p50 {:.2} ms, p99 {:.2} ms",
        fsync.p50, fsync.p99
    ));
    let me = std::process::id() as i32;
    let load_start = loadavg();

    // (a) hello-world.
    step!(
        "axum hello-world: {} clients × ({} warm-up + {} timed requests in all)",
        a.clients,
        a.clients,
        a.requests
    );
    let hello = Hello::start()?;
    let hello_run = load(
        &Target {
            base: format!("http://{}", hello.addr),
            token: "unused".into(),
        },
        a,
        me,
        &[me],
        limit,
    )
    .await
    .context("axum hello-world load")?;
    drop(hello);

    // (b), (c) the daemon.
    let (normal, vn) = daemon_load(bin, "normal", a, limit).await?;
    let (full, vf) = daemon_load(bin, "full", a, limit).await?;

    // 2. fan-out.
    let f = fanout(bin, a, limit).await?;

    // Report.
    println!("## wasmux-bench queue\n");
    println!("- command: `{}`", std::env::args().collect::<Vec<_>>().join(" "));
    for x in &facts {
        println!("- {x}");
    }
    println!(
        "- load: {} concurrent clients, each its own reqwest client with one keep-alive HTTP/1.1 connection; \
         one untimed warm-up request per client, then {} timed `POST /sessions/{SESSION}/messages {{\"text\":\"echo <i>\"}}` \
         shared among them; wasmux's session is busy running `{BUSY}`, so every message stays queued",
        a.clients, a.requests
    );
    println!(
        "- daemon config: `[limits] queue_cap = 1000000`, `[store] durability` as shown; a fresh daemon and state dir per row"
    );
    println!();
    println!(
        "### 1. Enqueue throughput and latency ({} clients, {} requests)\n",
        a.clients, a.requests
    );
    println!(
        "| target | req/s | p50 ms | p99 ms | max ms | first 10% → last 10%: req/s, p50 ms | CPU s during the load (% of one core) | other processes' CPU (noise) |"
    );
    println!("|---|---:|---:|---:|---:|---|---|---:|");
    let rows: [(&str, &LoadRun); 3] = [
        ("(a) axum hello-world, in-process (same client code)", &hello_run),
        ("(b) wasmux, durability `normal`", &normal),
        ("(c) wasmux, durability `full` (fsync per commit)", &full),
    ];
    for (name, r) in rows {
        let l = r.latency();
        let ((fr, fp), (lr, lp)) = r.ends(0.1);
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {fr:.0}, {fp:.2} → {lr:.0}, {lp:.2} | {} | {:.2}s ({:.0}%) |",
            r.rate(),
            l.p50,
            l.p99,
            l.max,
            cpu::format(&r.procs, r.wall.as_secs_f64()),
            others(r.machine, &r.procs),
            100.0 * others(r.machine, &r.procs) / r.wall.as_secs_f64().max(1e-9)
        );
    }
    println!();
    println!(
        "(b)/(a) throughput = **{:.3}** · (c)/(b) = {:.3} · (c)/(a) = {:.3}",
        normal.rate() / hello_run.rate(),
        full.rate() / normal.rate(),
        full.rate() / hello_run.rate()
    );
    println!();
    println!("Server-side breakdown of the same runs:\n");
    println!(
        "| target | wall s | server threads: CPU s (% of one core) | server CPU µs / request | disk write bytes / request |"
    );
    println!("|---|---:|---|---:|---:|");
    for (name, r) in [
        ("(a) hello-world (bench process threads)", &hello_run),
        ("(b) wasmux `normal` (daemon threads)", &normal),
        ("(c) wasmux `full` (daemon threads)", &full),
    ] {
        let server_cpu: f64 = if name.starts_with("(a)") {
            r.threads
                .iter()
                .filter(|(n, _)| n.starts_with("hello-server"))
                .map(|x| x.1)
                .sum()
        } else {
            r.threads.iter().map(|x| x.1).sum()
        };
        println!(
            "| {name} | {:.2} | {} | {:.0} | {} |",
            r.wall.as_secs_f64(),
            cpu::format(&r.threads, r.wall.as_secs_f64()),
            server_cpu * 1e6 / r.samples.len() as f64,
            r.disk_bytes
                .map_or("n/a".into(), |b| format!("{:.0}", b as f64 / r.samples.len() as f64))
        );
    }
    println!();
    for (name, v) in [("normal", &vn), ("full", &vf)] {
        let types: Vec<String> = v.by_type.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!(
            "Checked (`{name}`): every acknowledged id distinct, in `GET /sessions/{SESSION}/state` (queue length {}; that GET took {:.0} ms for {:.1} MB) \
             and in exactly one `message-queued` event; events since the start: lastEventSeq +{}, {} stored: {}.",
            v.queued,
            v.state_ms,
            v.state_bytes as f64 / 1e6,
            v.new_events,
            v.stored,
            types.join(", ")
        );
    }
    println!();
    println!(
        "### 2. SSE fan-out: {} subscribers to `/sessions/fan/events`, {} enqueues\n",
        f.subscribers, f.k
    );
    let dl = Latency::of(&f.delivery);
    let sp = Latency::of(&f.spread);
    let ew = Latency::of(&f.enqueue_with);
    let eo = Latency::of(&f.enqueue_without);
    println!(
        "| subscribers × events | delivered | delivery p50 ms | p99 ms | max ms | per-event spread first→last subscriber p50 / max ms | first send → last delivery | enqueue round trip p50 / p99 ms: no subscribers → {} subscribers |",
        f.subscribers
    );
    println!("|---|---:|---:|---:|---:|---|---:|---|");
    println!(
        "| {} × {} = {} | {}{} | {:.2} | {:.2} | {:.2} | {:.2} / {:.2} | {:.2} s | {:.2} / {:.2} → {:.2} / {:.2} |",
        f.subscribers,
        f.k,
        f.expected,
        f.delivered,
        if f.delivered == f.expected { " ✓" } else { " ✗" },
        dl.p50,
        dl.p99,
        dl.max,
        sp.p50,
        sp.max,
        f.drain.as_secs_f64(),
        eo.p50,
        eo.p99,
        ew.p50,
        ew.p99
    );
    println!();
    println!("| daemon VmRSS | MiB |");
    println!("|---|---:|");
    println!("| before subscribers | {:.1} |", mib(f.rss_before));
    println!(
        "| {} subscribers connected, idle | {:.1} |",
        f.subscribers,
        mib(f.rss_connected)
    );
    println!(
        "| peak while connecting and during the {} events (20 ms samples) | {:.1} |",
        f.k,
        mib(f.rss_peak)
    );
    println!("| after the last delivery, still connected | {:.1} |", mib(f.rss_after));
    println!();
    let wall = f.drain.as_secs_f64();
    println!(
        "Connecting {} subscribers took {:.0} ms. CPU from the first enqueue to the last delivery ({wall:.2} s): {}; daemon threads: {}; bench threads: {}; other processes {:.2}s ({:.0}%).",
        f.subscribers,
        f.connect.as_secs_f64() * 1e3,
        cpu::format(&f.procs, wall),
        cpu::format(&f.threads, wall),
        cpu::format(&f.bench_threads, wall),
        others(f.machine, &f.procs),
        100.0 * others(f.machine, &f.procs) / wall.max(1e-9)
    );
    println!(
        "\nTotal bench time {:.0} s. Load average (1, 5, 15 min) at start {load_start}, at end {}.",
        started.elapsed().as_secs_f64(),
        loadavg()
    );
    if f.delivered != f.expected || !f.problems.is_empty() {
        bail!(
            "SSE fan-out delivered {} of {} events ({} subscribers × {}): {}",
            f.delivered,
            f.expected,
            f.subscribers,
            f.k,
            if f.problems.is_empty() {
                "no further detail".into()
            } else {
                f.problems.join("; ")
            }
        );
    }
    Ok(())
}
