//! `wasmux-bench events`: how far provider events lag behind the terminal
//! bytes under a burst. Starts a daemon (the test kit's harness) in a temporary state
//! dir, runs a shell session that prints N MB, and measures on the same
//! clock when the last byte reaches a WebSocket client and when the shell
//! provider's `task-complete` event (parsed from those bytes by the wasm
//! plugin, off the byte path) reaches an SSE client. `--plugin` drops a
//! provider built in another language into the daemon's plugins folder and
//! `--prompt` sends the burst through the queue, so the same measurement
//! covers Python and JavaScript providers.

use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wasmux_testkit::TestDaemon;

const END: &[u8] = b"END-MARK7f3a";

/// Options of `wasmux-bench events`.
#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// Megabytes printed by the pane.
    #[arg(long, default_value_t = 10)]
    pub mb: usize,
    /// Provider of the session (must report task-complete, e.g. shell).
    #[arg(long, default_value = "shell")]
    pub provider: String,
    /// A plugin to drop into the daemon's plugins folder first
    /// (`X.wasm` with `X.toml` beside it), e.g. a Python or JS provider.
    #[arg(long)]
    pub plugin: Option<PathBuf>,
    /// Send the burst as a queued message with this text (`{data}` is the
    /// data file's path) instead of typing a shell command into the pane;
    /// it must print the data and then `END-MARK7f3a` (built so that the
    /// echo of the text does not contain it).
    #[arg(long)]
    pub prompt: Option<String>,
}

/// Run the benchmark against `bin`.
pub async fn run(bin: &Path, opts: &EventsArgs) -> Result<()> {
    let work = tempfile::tempdir()?;
    let spawned = Instant::now();
    let plugin = opts.plugin.clone();
    let d = TestDaemon::launch(bin.to_path_buf(), "", "warn", Vec::new(), |state| {
        if let Some(wasm) = &plugin {
            let plugins = state.join("plugins");
            std::fs::create_dir_all(&plugins)?;
            let name = wasm.file_stem().context("plugin file name")?;
            let manifest = wasm.with_extension("toml");
            std::fs::copy(&manifest, plugins.join(name).with_extension("toml"))
                .with_context(|| format!("copying {}", manifest.display()))?;
            std::fs::copy(wasm, plugins.join(name).with_extension("wasm"))
                .with_context(|| format!("copying {}", wasm.display()))?;
        }
        Ok(())
    })
    .await?;
    measure(&d, work.path(), opts, spawned).await
}

/// Wait until `GET /plugins` lists `name` as loaded; returns how long
/// after `started` (the daemon's spawn) that was.
async fn plugin_ready(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    name: &str,
    started: Instant,
) -> Result<Duration> {
    loop {
        let list: serde_json::Value = http.get(url).bearer_auth(token).send().await?.json().await?;
        let found = list["plugins"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == name);
        if found {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(900) {
            bail!("plugin {name} did not load within 900 s: {list}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn measure(d: &TestDaemon, work: &Path, opts: &EventsArgs, spawned: Instant) -> Result<()> {
    let (mb, provider) = (opts.mb, opts.provider.as_str());
    let addr = d.addr.to_string();
    let token = d.token.clone();
    let http = d.http.clone();
    let url = |p: &str| format!("http://{addr}{p}");
    let load = plugin_ready(&http, &url("/plugins"), &token, provider, spawned).await?;
    // Data: `mb` MB of text lines.
    let line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz012\n";
    let data = line.repeat(mb * 1_000_000 / line.len());
    std::fs::write(work.join("data.txt"), &data)?;
    std::fs::write(
        work.join("burst.sh"),
        "stty raw -echo\ncat \"$1\"\nA=END; printf '%s-%s\\n' \"$A\" MARK7f3a\nstty sane\n",
    )?;
    let r = http
        .post(url("/sessions"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "lag", "provider": provider, "cwd": work}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("creating the session failed: {}", r.text().await?);
    }
    loop {
        let s: serde_json::Value = http
            .get(url("/sessions/lag/state"))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        if s["state"]["value"].as_str() == Some("idle") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last_event: u64 = http
        .get(url("/sessions/lag/state"))
        .bearer_auth(&token)
        .send()
        .await?
        .json::<serde_json::Value>()
        .await?["lastEventSeq"]
        .as_u64()
        .unwrap_or(0);
    // SSE follower.
    let sse = http
        .get(url("/sessions/lag/events"))
        .bearer_auth(&token)
        .header("last-event-id", last_event.to_string())
        .send()
        .await?;
    let t0 = Instant::now();
    let events = tokio::spawn(async move {
        let mut body = sse.bytes_stream();
        let mut buf = String::new();
        let mut first_output = None;
        let mut outputs = 0usize;
        while let Some(Ok(chunk)) = body.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(i) = buf.find("\n\n") {
                let rec: String = buf.drain(..i + 2).collect();
                if rec.contains("\"type\":\"terminal-output\"") {
                    outputs += 1;
                    first_output.get_or_insert(t0.elapsed());
                }
                if rec.contains("\"type\":\"task-complete\"") {
                    return Some((t0.elapsed(), first_output, outputs));
                }
            }
        }
        None
    });
    // WebSocket client.
    let mut req = format!("ws://{addr}/sessions/lag/stream").into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    ws.send(Message::Text(
        serde_json::json!({"type": "resume", "lastSeq": null})
            .to_string()
            .into(),
    ))
    .await?;
    let data_path = work.join("data.txt").display().to_string();
    if let Some(prompt) = &opts.prompt {
        let r = http
            .post(url("/sessions/lag/messages"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"text": prompt.replace("{data}", &data_path)}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("enqueueing the burst failed: {}", r.text().await?);
        }
    } else {
        let cmd = format!("sh {}/burst.sh {data_path}\r", work.display());
        ws.send(Message::Text(
            serde_json::json!({"type": "input", "data": cmd}).to_string().into(),
        ))
        .await?;
    }
    let mut tail: Vec<u8> = Vec::new();
    let mut bytes = 0usize;
    let mut first_byte = None;
    let bytes_done = loop {
        match tokio::time::timeout(Duration::from_secs(300), ws.next()).await? {
            Some(Ok(Message::Binary(b))) => {
                bytes += b.len() - 8;
                first_byte.get_or_insert(t0.elapsed());
                tail.extend_from_slice(&b[8..]);
                if memchr::memmem::find(&tail, END).is_some() {
                    break t0.elapsed();
                }
                let keep = tail.len().saturating_sub(END.len());
                tail.drain(..keep);
            }
            Some(Ok(_)) => {}
            other => bail!("stream ended: {other:?}"),
        }
    };
    let (event_done, first_event, outputs) = tokio::time::timeout(Duration::from_secs(300), events)
        .await??
        .context("the event stream ended before task-complete")?;
    let secs = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "wasmux-bench events — provider `{provider}`, {mb} MB burst ({} bytes on the wire)",
        bytes
    );
    println!(
        "plugin `{provider}` listed in GET /plugins {:.1} s after the daemon was spawned (first compile included)",
        load.as_secs_f64()
    );
    println!();
    println!("| measurement | ms after the command was typed |");
    println!("|---|---:|");
    println!(
        "| first terminal byte at the WebSocket client | {:.1} |",
        secs(first_byte.unwrap_or_default())
    );
    println!(
        "| first `terminal-output` event at the SSE client | {:.1} |",
        secs(first_event.unwrap_or_default())
    );
    println!(
        "| last terminal byte (END marker) at the WebSocket client | {:.1} |",
        secs(bytes_done)
    );
    println!("| `task-complete` event at the SSE client | {:.1} |", secs(event_done));
    println!();
    println!(
        "events lag behind bytes at the end of the burst by {:.1} ms; {outputs} terminal-output events for {:.1} MB (coalesced provider calls)",
        secs(event_done.saturating_sub(bytes_done)),
        bytes as f64 / 1e6
    );
    Ok(())
}
