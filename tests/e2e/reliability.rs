//! Faults lose nothing (issue 13): a daemon SIGKILLed while it types a
//! prompt never leaves the text without its Enter for the next prompt to
//! be appended to; a damaged output log segment costs only its damaged
//! span, under a new epoch, never the daemon.

use anyhow::Result;
use serde_json::json;

use crate::harness::TestDaemon;
use crate::queue::{idle, send_wait};
use crate::stream::shell_session;

#[tokio::test]
async fn sigkill_while_typing_never_merges_the_prompt_with_the_next() -> Result<()> {
    let mut d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    shell_session(&d, "typing", dir.path()).await?;
    idle(&d, "typing").await?;
    // Long enough to take several tmux commands when typed piecewise.
    let filler = "x".repeat(3900);
    let first = format!("echo FIRST-{filler}-END");
    let (status, body) = d.post("/sessions/typing/messages", json!({"text": first})).await?;
    assert_eq!(status, 202, "{body}");
    // Kill the daemon the moment the pane shows the prompt's first bytes.
    d.wait_raw("typing", "the first typed bytes", |_, raw| {
        memchr::memmem::find(raw, b"echo FIRST-").is_some()
    })
    .await?;
    d.kill9();
    d.restart().await?;
    idle(&d, "typing").await?;
    let (status, w) = d
        .post("/sessions/typing/messages?wait=true", json!({"text": "echo SECOND-ok"}))
        .await?;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["response"], "SECOND-ok", "the second prompt ran on its own: {w}");
    let mut raw = Vec::new();
    for (_, path) in wasmux::tmux::sink::raw_files(&d.raw_dir("typing"))? {
        raw.extend(std::fs::read(path)?);
    }
    let text = String::from_utf8_lossy(&raw);
    assert!(
        !text.contains("xecho SECOND") && !text.contains("xxecho"),
        "the second prompt was appended to the unfinished first one"
    );
    Ok(())
}

#[tokio::test]
async fn a_flipped_byte_in_a_sealed_segment_header_does_not_stop_the_daemon() -> Result<()> {
    // 1 MiB retention: 128 KiB segments.
    let mut d = TestDaemon::start_with("[stream]\nretention_bytes = 1048576\n", |_| Ok(())).await?;
    let dir = tempfile::tempdir()?;
    for name in ["rot", "fine"] {
        shell_session(&d, name, dir.path()).await?;
        idle(&d, name).await?;
    }
    // ~230 KB of pane output: at least two segments.
    let w = send_wait(&d, "rot", "seq 1 40000").await?;
    assert_eq!(w["ok"], true, "{}", w["error"]);
    let (_, before) = d.get("/sessions/rot").await?;
    let log = d.state_dir().join("sessions/rot/log");
    let mut segs: Vec<_> = std::fs::read_dir(&log)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segs.sort();
    assert!(segs.len() >= 2, "need a sealed segment: {segs:?}");
    d.kill9();
    // Flip a byte in the length field of the second record's header.
    let mut bytes = std::fs::read(&segs[0])?;
    let first_len = u32::from_le_bytes(bytes[2..6].try_into()?) as usize;
    bytes[26 + first_len + 3] ^= 0x40;
    std::fs::write(&segs[0], &bytes)?;
    d.restart().await?;
    let (status, s) = d.get("/sessions/rot").await?;
    assert_eq!(status, 200, "{s}");
    assert_ne!(
        s["epoch"], before["epoch"],
        "numbering changed under the same epoch: {s}"
    );
    assert!(s["logDamage"].as_str().is_some_and(|m| m.contains("quarantine")), "{s}");
    assert_eq!(s["status"], "running", "{s}");
    let (_, fine) = d.get("/sessions/fine").await?;
    assert!(fine.get("logDamage").is_none(), "{fine}");
    // The session serves what is intact (rebuilt log's replay is checked
    // record by record in outlog's unit tests).
    assert!(s["lastSeq"].as_u64().is_some_and(|n| n > 2), "{s}");
    // And it still works.
    assert_eq!(send_wait(&d, "rot", "echo after-rot").await?["response"], "after-rot");
    Ok(())
}
