//! The terminal stream through a real daemon, real tmux and a real
//! WebSocket client: fan-out, gapless resume under random disconnects and a
//! SIGKILL'd daemon, retention gaps, snapshots, hostile input.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::TestDaemon;
use crate::ws_client::{Collected, Frame, StreamClient};

const BEGIN: &[u8] = b"BEGIN-MARK7f3a\n";
const END: &[u8] = b"END-MARK7f3a\n";

/// Create a shell session named `name` in `cwd`; wait for its first prompt.
pub async fn shell_session(d: &TestDaemon, name: &str, cwd: &Path) -> Result<()> {
    let (status, body) = d
        .post("/sessions", json!({"name": name, "provider": "shell", "cwd": cwd}))
        .await?;
    assert_eq!(status, 201, "{body}");
    d.wait_for(Duration::from_secs(20), "first output", || async {
        let (_, s) = d.get(&format!("/sessions/{name}")).await?;
        Ok((s["lastSeq"].as_u64().unwrap_or(0) >= 1).then_some(()))
    })
    .await
}

/// Write `mb` MB of base64 text and a script printing it between markers
/// with output post-processing off (so the pane bytes equal the file).
fn burst_files(dir: &Path, mb: usize) -> Result<(String, Vec<u8>)> {
    use base64::Engine;
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut raw = vec![0u8; mb * 1_000_000 * 3 / 4];
    for b in raw.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
    let mut data = Vec::with_capacity(b64.len() + b64.len() / 76);
    for line in b64.as_bytes().chunks(76) {
        data.extend_from_slice(line);
        data.push(b'\n');
    }
    std::fs::write(dir.join("data.txt"), &data)?;
    std::fs::write(
        dir.join("burst.sh"),
        "stty raw -echo\nA=BEGIN; printf '%s-%s\\n' \"$A\" MARK7f3a\ncat \"$1\"\nA=END; printf '%s-%s\\n' \"$A\" MARK7f3a\nstty sane\n",
    )?;
    let cmd = format!("sh {}/burst.sh {}/data.txt\r", dir.display(), dir.display());
    Ok((cmd, data))
}

/// The bytes between the markers, if both arrived.
fn between_markers(bytes: &[u8]) -> Option<&[u8]> {
    let start = memchr::memmem::find(bytes, BEGIN)? + BEGIN.len();
    let end = memchr::memmem::find(&bytes[start..], END)? + start;
    Some(&bytes[start..end])
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Read frames into `out` until `done(out)` or `max_frames`.
async fn read_until(
    c: &mut StreamClient,
    out: &mut Collected,
    max_frames: usize,
    done: impl Fn(&Collected) -> bool,
) -> Result<bool> {
    // One deadline for the whole wait: state messages must not extend it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    for _ in 0..max_frames {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = c.next(left).await.with_context(|| {
            let tail = &out.bytes[out.bytes.len().saturating_sub(600)..];
            format!(
                "waiting for output; the last bytes were {:?}",
                String::from_utf8_lossy(tail)
            )
        })?;
        match frame {
            Frame::Chunk(seq, data) => {
                out.push(seq, data);
                if done(out) {
                    return Ok(true);
                }
            }
            Frame::Json(v) if v["type"] == "state" => {}
            Frame::Json(v) => bail!("unexpected message {v}"),
            Frame::Closed(code) => bail!("closed {code:?}"),
        }
    }
    Ok(false)
}

fn has_end(c: &Collected) -> bool {
    c.bytes.len() >= END.len()
        && memchr::memmem::rfind(&c.bytes[c.bytes.len().saturating_sub(1 << 20)..], END).is_some()
}

#[tokio::test]
async fn two_clients_see_identical_chunks() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "fan", dir.path()).await?;
    let mut a = StreamClient::connect(&d, "fan").await?;
    let mut b = StreamClient::connect(&d, "fan").await?;
    assert_eq!(a.meta["epoch"], b.meta["epoch"]);
    a.resume(None).await?;
    b.resume(None).await?;
    a.send(json!({"type": "input", "data": "seq 1 30000; echo D-O-N-E\r"}))
        .await?;
    let done = |c: &Collected| c.contains(b"\n30000\r\n") && c.contains(b"D-O-N-E\r\n");
    let (mut ca, mut cb) = (Collected::default(), Collected::default());
    assert!(read_until(&mut a, &mut ca, 100_000, done).await?);
    assert!(read_until(&mut b, &mut cb, 100_000, done).await?);
    let common = ca.last.unwrap().min(cb.last.unwrap());
    let pick = |c: &Collected| {
        c.chunks
            .iter()
            .filter(|(s, _)| *s <= common)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(pick(&ca), pick(&cb), "both clients got identical (seq, bytes)");
    assert_eq!(ca.chunks[0].0, 1, "replay starts at seq 1");
    Ok(())
}

#[tokio::test]
async fn random_disconnects_during_a_50mb_burst_lose_and_repeat_nothing() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    let (cmd, data) = burst_files(dir.path(), 50)?;
    shell_session(&d, "burst", dir.path()).await?;
    let mut c = StreamClient::connect(&d, "burst").await?;
    c.resume(None).await?;
    c.send(json!({"type": "input", "data": cmd})).await?;
    let mut got = Collected::default();
    let mut rng: u64 = 12345;
    let mut reconnects = 0;
    let started = Instant::now();
    loop {
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let frames = 5 + (rng >> 33) as usize % 60;
        if read_until(&mut c, &mut got, frames, has_end).await? {
            break;
        }
        c.close().await;
        reconnects += 1;
        c = StreamClient::connect(&d, "burst").await?;
        c.resume(got.last).await?;
        assert!(started.elapsed() < Duration::from_secs(600), "burst did not finish");
    }
    let body = between_markers(&got.bytes).expect("markers");
    eprintln!(
        "50 MB burst: {reconnects} reconnects, {} chunks, {:?}",
        got.chunks.len(),
        started.elapsed()
    );
    assert!(reconnects >= 5, "exercised reconnects: {reconnects}");
    assert_eq!(body.len(), data.len());
    assert_eq!(sha(body), sha(&data), "reassembled bytes equal the file");
    Ok(())
}

#[tokio::test]
async fn sigkill_during_a_burst_loses_nothing_and_seq_continues() -> Result<()> {
    let mut d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    let (cmd, data) = burst_files(dir.path(), 20)?;
    shell_session(&d, "crash", dir.path()).await?;
    let mut c = StreamClient::connect(&d, "crash").await?;
    let epoch = c.meta["epoch"].clone();
    c.resume(None).await?;
    c.send(json!({"type": "input", "data": cmd})).await?;
    let mut got = Collected::default();
    read_until(&mut c, &mut got, 1_000_000, |c| c.bytes.len() > 2_000_000).await?;
    d.kill9();
    // The pane keeps printing while the daemon is down.
    let at_kill = wasmux::tmux::sink::end_offset(&d.raw_dir("crash"))?;
    d.wait_raw("crash", "a megabyte more output", |end, _| end > at_kill + (1 << 20))
        .await?;
    d.restart().await?;
    let mut c = StreamClient::connect(&d, "crash").await?;
    assert_eq!(c.meta["epoch"], epoch, "same log after restart");
    c.resume(got.last).await?;
    assert!(read_until(&mut c, &mut got, 10_000_000, has_end).await?);
    let body = between_markers(&got.bytes).expect("markers");
    assert_eq!(sha(body), sha(&data), "no byte lost or duplicated across SIGKILL");
    Ok(())
}

#[tokio::test]
async fn retention_produces_a_gap() -> Result<()> {
    let d = TestDaemon::start_with("[stream]\nretention_bytes = 1048576\n", |_| Ok(())).await?;
    let dir = tempfile::tempdir()?;
    let (cmd, _) = burst_files(dir.path(), 4)?;
    shell_session(&d, "ret", dir.path()).await?;
    let mut c = StreamClient::connect(&d, "ret").await?;
    c.resume(None).await?;
    c.send(json!({"type": "input", "data": cmd})).await?;
    // Until the burst has ended. A live client that falls behind the 1 MiB
    // retention (a loaded machine) is sent a gap too: that is this very
    // behaviour, not a failure.
    let mut got = Collected::default();
    while !has_end(&got) {
        match c.next(Duration::from_secs(60)).await? {
            Frame::Chunk(seq, data) => got.push(seq, data),
            Frame::Json(v) if v["type"] == "state" || v["type"] == "gap" => {}
            f => bail!("unexpected {f:?}"),
        }
    }
    c.close().await;
    let (_, s) = d.get("/sessions/ret").await?;
    let first = s["firstSeq"].as_u64().unwrap();
    assert!(first > 1, "retention dropped old chunks: {s}");
    let mut c = StreamClient::connect(&d, "ret").await?;
    c.resume(Some(0)).await?;
    // Retention may go on trimming while the replay runs (the prompt after
    // the burst is still being written): further gaps must then continue
    // the first one exactly, and the first chunk follows the last gap.
    let mut expect_from = 1;
    loop {
        match c.next(Duration::from_secs(10)).await? {
            Frame::Json(v) if v["type"] == "state" => {}
            Frame::Json(gap) => {
                assert_eq!(gap["type"], "gap", "{gap}");
                assert_eq!(gap["from"].as_u64(), Some(expect_from), "{gap}");
                let to = gap["to"].as_u64().unwrap();
                assert!(
                    to + 1 >= first,
                    "the gap covers what was trimmed: {gap}, firstSeq {first}"
                );
                expect_from = to + 1;
            }
            Frame::Chunk(seq, _) => {
                assert!(expect_from > 1, "a gap came before the first retained chunk");
                assert_eq!(seq, expect_from, "the first chunk follows the last gap");
                break;
            }
            f => bail!("expected a gap or the first retained chunk, got {f:?}"),
        }
    }
    Ok(())
}

#[tokio::test]
async fn snapshot_resize_keys_and_a_person_attached() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "snap", dir.path()).await?;
    let mut c = StreamClient::connect(&d, "snap").await?;
    c.resume(None).await?;
    c.send(json!({"type": "input", "data": "echo snap-$((40+2))\r"}))
        .await?;
    let mut got = Collected::default();
    // The prompt after the command: output is quiet from there on.
    read_until(&mut c, &mut got, 10_000, |c| {
        memchr::memmem::find(&c.bytes, b"snap-42\r\n")
            .is_some_and(|at| memchr::memmem::find(&c.bytes[at..], b"\x1b]133;B\x07").is_some())
    })
    .await?;
    c.send(json!({"type": "snapshot-request"})).await?;
    let snap = c.json_of("snapshot").await?;
    let screen = base64_decode(&snap["data"]);
    assert!(
        memchr::memmem::find(&screen, b"snap-42").is_some(),
        "{}",
        String::from_utf8_lossy(&screen)
    );
    assert_eq!((snap["cols"].as_u64(), snap["rows"].as_u64()), (Some(120), Some(40)));
    assert_eq!(snap["alternate"], false);
    assert!(snap["cursor"]["y"].as_u64().unwrap() >= 1);
    let seq = snap["seq"].as_u64().unwrap();
    assert!(seq >= 1, "{snap}");
    assert_eq!(snap["exact"], true, "aligned snapshot: {snap}");

    // Messages on one connection are handled in order: the snapshot after
    // the resize sees the new size.
    c.send(json!({"type": "resize", "cols": 100, "rows": 30})).await?;
    c.send(json!({"type": "snapshot-request"})).await?;
    let snap = c.json_of("snapshot").await?;
    assert_eq!((snap["cols"].as_u64(), snap["rows"].as_u64()), (Some(100), Some(30)));

    // Keys: start a command, interrupt it once it runs (bash's PS0 prints
    // `133;C` when the command starts).
    let started = memchr::memmem::find_iter(&got.bytes, b"\x1b]133;C").count();
    c.send(json!({"type": "input", "data": "sleep 30\r"})).await?;
    read_until(&mut c, &mut got, 10_000, |c| {
        memchr::memmem::find_iter(&c.bytes, b"\x1b]133;C").count() > started
    })
    .await?;
    // PS0 prints `133;C` before bash forks; until `sleep` holds the
    // terminal's foreground group, a C-c reaches bash alone, which waits out
    // the sleep (status 0, never 130). Wait for the foreground to be sleep.
    let sock = d.tmux_socket();
    d.wait_for(Duration::from_secs(30), "sleep in the foreground", || async {
        let cmd = crate::harness::tmux(&sock, &["display", "-p", "-t", "=snap:", "#{pane_current_command}"])?;
        Ok((cmd.trim() == "sleep").then_some(()))
    })
    .await?;
    c.send(json!({"type": "keys", "keys": ["C-c"]})).await?;
    read_until(&mut c, &mut got, 10_000, |c| c.contains(b"133;D;130")).await?;

    // A person at the terminal (same socket) drives the session too.
    crate::harness::tmux(&sock, &["send-keys", "-t", "=snap:", "echo from-a-person", "Enter"])?;
    read_until(&mut c, &mut got, 10_000, |c| c.contains(b"from-a-person\r\n")).await?;
    let (_, s) = d.get("/sessions/snap").await?;
    assert!(s["attach"].as_str().unwrap().contains(&sock.display().to_string()));
    Ok(())
}

fn base64_decode(v: &Value) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

#[tokio::test]
async fn hostile_messages_get_errors_and_the_connection_stays() -> Result<()> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "host", dir.path()).await?;
    let mut c = StreamClient::connect(&d, "host").await?;
    let expect_error = async |c: &mut StreamClient, send: Value, code: &str| -> Result<()> {
        c.send(send.clone()).await?;
        let e = c.json_of("error").await?;
        assert_eq!(e["code"], code, "{send} -> {e}");
        Ok(())
    };
    c.send_text("{not json").await?;
    assert_eq!(c.json_of("error").await?["code"], "bad_message");
    c.send_binary(vec![1, 2, 3]).await?;
    assert_eq!(c.json_of("error").await?["code"], "bad_message");
    expect_error(&mut c, json!({"type": "launch-missiles"}), "bad_message").await?;
    expect_error(&mut c, json!({"type": "resize", "cols": 0, "rows": 5}), "resize_failed").await?;
    expect_error(&mut c, json!({"type": "resize", "cols": "wide"}), "bad_message").await?;
    expect_error(
        &mut c,
        json!({"type": "keys", "keys": ["Enter ; kill-server"]}),
        "keys_failed",
    )
    .await?;
    expect_error(&mut c, json!({"type": "keys", "keys": []}), "bad_message").await?;
    expect_error(
        &mut c,
        json!({"type": "input", "data": "x".repeat(70_000)}),
        "bad_message",
    )
    .await?;
    expect_error(&mut c, json!({"type": "resume", "lastSeq": 999_999}), "bad_cursor").await?;
    // bad_cursor replays from the first retained chunk.
    match c.next(Duration::from_secs(10)).await? {
        Frame::Chunk(seq, _) => assert_eq!(seq, 1),
        f => bail!("expected replay after bad_cursor, got {f:?}"),
    }
    expect_error(&mut c, json!({"type": "resume", "lastSeq": null}), "bad_message").await?;
    // Still serving: a command runs and its output arrives.
    c.send(json!({"type": "input", "data": "echo still-$((1+1))\r"}))
        .await?;
    let mut got = Collected {
        last: Some(1),
        ..Default::default()
    };
    read_until(&mut c, &mut got, 10_000, |c| c.contains(b"still-2\r\n")).await?;
    let (_, h) = d.send(d.http.get(d.url("/health"))).await?;
    assert_eq!(h["ok"], true);
    Ok(())
}

#[tokio::test]
async fn stream_auth_tickets_origins_and_names() -> Result<()> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let d = TestDaemon::start_with("[stream]\nallowed_origins = [\"https://ok.example\"]\n", |_| Ok(())).await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "auth", dir.path()).await?;
    let url = format!("ws://{}/sessions/auth/stream", d.addr);
    let status_of = |e: anyhow::Error| -> u16 {
        match e.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
            Some(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
            _ => 0,
        }
    };
    // No credentials; the token in the URL is not accepted.
    let e = StreamClient::connect_request(url.clone().into_client_request()?)
        .await
        .err()
        .unwrap();
    assert_eq!(status_of(e), 401);
    let e = StreamClient::connect_request(format!("{url}?token={}", d.token).into_client_request()?)
        .await
        .err()
        .unwrap();
    assert_eq!(status_of(e), 401);
    // A ticket works once.
    let (_, t) = d.post("/auth/ticket", json!({})).await?;
    let ticket = t["ticket"].as_str().unwrap();
    let ok = StreamClient::connect_request(format!("{url}?ticket={ticket}").into_client_request()?).await?;
    ok.close().await;
    let e = StreamClient::connect_request(format!("{url}?ticket={ticket}").into_client_request()?)
        .await
        .err()
        .unwrap();
    assert_eq!(status_of(e), 401, "tickets are single use");
    // Cross-origin upgrades are refused unless configured.
    let mut req = url.clone().into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {}", d.token).parse()?);
    req.headers_mut().insert("origin", "https://evil.example".parse()?);
    let e = StreamClient::connect_request(req).await.err().unwrap();
    assert_eq!(status_of(e), 403);
    let mut req = url.clone().into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {}", d.token).parse()?);
    req.headers_mut().insert("origin", "https://ok.example".parse()?);
    StreamClient::connect_request(req).await?.close().await;
    // Unknown session.
    let mut req = format!("ws://{}/sessions/nope/stream", d.addr).into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {}", d.token).parse()?);
    let e = StreamClient::connect_request(req).await.err().unwrap();
    assert_eq!(status_of(e), 404);
    // Hostile names.
    for bad in ["a:1.2", "../etc", "x y", "", "a;kill-server", &"n".repeat(65)] {
        let (status, body) = d.post("/sessions", json!({"name": bad, "provider": "shell"})).await?;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert!(body["error"].as_str().unwrap().contains("session name"), "{body}");
    }
    let (status, body) = d
        .post("/sessions", json!({"name": "auth", "provider": "shell"}))
        .await?;
    assert_eq!((status.as_u16(), body["code"].as_str()), (409, Some("session_exists")));
    let (status, body) = d.post("/sessions", json!({"name": "p", "provider": "nope"})).await?;
    assert_eq!(status, 400, "{body}");
    let (status, _) = d.get("/sessions/nope").await?;
    assert_eq!(status, 404);
    Ok(())
}

#[tokio::test]
async fn restart_reattaches_live_sessions_and_marks_vanished_ones_exited() -> Result<()> {
    let mut d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "keep", dir.path()).await?;
    shell_session(&d, "gone", dir.path()).await?;
    let (_, before) = d.get("/sessions/keep").await?;
    d.terminate();
    // While the daemon is down: one session's tmux session vanishes, the
    // other prints something.
    let sock = d.tmux_socket();
    crate::harness::tmux(&sock, &["kill-session", "-t", "=gone"])?;
    crate::harness::tmux(&sock, &["send-keys", "-t", "=keep:", "echo while-down", "Enter"])?;
    d.wait_raw("keep", "the echo", |_, raw| {
        memchr::memmem::find(raw, b"while-down\r\n").is_some()
    })
    .await?;
    d.restart().await?;
    let (_, keep) = d.get("/sessions/keep").await?;
    assert_eq!(keep["status"], "running");
    assert_eq!(keep["epoch"], before["epoch"]);
    let (_, gone) = d.get("/sessions/gone").await?;
    assert_eq!(gone["status"], "exited", "{gone}");
    let mut c = StreamClient::connect(&d, "keep").await?;
    c.resume(before["lastSeq"].as_u64()).await?;
    let mut got = Collected::default();
    read_until(&mut c, &mut got, 10_000, |c| c.contains(b"while-down\r\n")).await?;
    assert_eq!(
        got.chunks[0].0,
        before["lastSeq"].as_u64().unwrap() + 1,
        "seq continues"
    );
    // An exited session replays and then says exit.
    let mut g = StreamClient::connect(&d, "gone").await?;
    g.resume(None).await?;
    loop {
        match g.next(Duration::from_secs(10)).await? {
            Frame::Chunk(..) => continue,
            Frame::Json(v) if v["type"] == "exit" => break,
            Frame::Json(_) => continue,
            Frame::Closed(c) => bail!("closed before exit message ({c:?})"),
        }
    }
    assert_eq!(g.next(Duration::from_secs(5)).await?.closed_code(), Some(1000));
    Ok(())
}
