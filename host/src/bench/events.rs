//! `wasmux bench events`: how far provider events lag behind the terminal
//! bytes under a burst. Starts a daemon (this binary) in a temporary state
//! dir, runs a shell session that prints N MB, and measures on the same
//! clock when the last byte reaches a WebSocket client and when the shell
//! provider's `task-complete` event (parsed from those bytes by the wasm
//! plugin, off the byte path) reaches an SSE client.

use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const END: &[u8] = b"END-MARK7f3a";

pub(super) async fn run(mb: usize, provider: &str) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(&state)
        .env("RUST_LOG", "warn")
        .spawn()?;
    let result = measure(&state, dir.path(), mb, provider).await;
    let _ = std::process::Command::new("tmux")
        .arg("-S")
        .arg(state.join("tmux.sock"))
        .arg("kill-server")
        .status();
    let _ = child.kill();
    let _ = child.wait();
    result
}

async fn measure(state: &std::path::Path, work: &std::path::Path, mb: usize, provider: &str) -> Result<()> {
    let info = state.join("daemon.json");
    let started = Instant::now();
    while !info.exists() {
        if started.elapsed() > Duration::from_secs(120) {
            bail!("daemon did not start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let addr: serde_json::Value = serde_json::from_slice(&std::fs::read(&info)?)?;
    let addr = addr["addr"].as_str().context("addr")?.to_string();
    let token = std::fs::read_to_string(state.join("token"))?.trim().to_string();
    let http = reqwest::Client::new();
    let url = |p: &str| format!("http://{addr}{p}");
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
        if s["state"]["value"] == "idle" {
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
    let cmd = format!("sh {}/burst.sh {}/data.txt\r", work.display(), work.display());
    ws.send(Message::Text(
        serde_json::json!({"type": "input", "data": cmd}).to_string().into(),
    ))
    .await?;
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
        "wasmux bench events — provider `{provider}`, {mb} MB burst ({} bytes on the wire)",
        bytes
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
