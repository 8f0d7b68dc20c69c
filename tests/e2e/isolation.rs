//! Every session's input reaches only its own pane. Forty sessions (shell
//! and demo agents), twenty created concurrently and twenty one after
//! another, then a SIGTERM restart and a SIGKILL restart: after each phase a
//! distinct marker typed into every session over its stream appears in that
//! session's pane, log and snapshot only, and an abort reaches only its own
//! agent.

use anyhow::{Result, bail};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::harness::TestDaemon;
use crate::queue::{idle, wait_done};
use crate::ws_client::{Frame, StreamClient};

/// Sessions per creation mode.
const PER_MODE: usize = 20;

fn provider(i: usize) -> &'static str {
    if i.is_multiple_of(2) { "shell" } else { "demo" }
}

async fn create(d: &TestDaemon, name: &str, provider: &str, cwd: &std::path::Path) -> Result<()> {
    let (status, body) = d
        .post(
            "/sessions",
            json!({"name": name, "provider": provider, "cwd": cwd, "env": {"DEMO_AGENT_SPEED_MS": "1"}}),
        )
        .await?;
    assert_eq!(status, 201, "creating {name}: {body}");
    Ok(())
}

/// The pane as tmux shows it (the test names its target explicitly).
fn pane_text(d: &TestDaemon, name: &str) -> Result<String> {
    let target = format!("={name}:");
    crate::harness::tmux(&d.tmux_socket(), &["capture-pane", "-p", "-J", "-t", &target])
}

/// Every logged byte of `name` (replay from the start, up to the seq the
/// server reported at connect) and a snapshot taken on the same connection.
async fn log_and_snapshot(d: &TestDaemon, name: &str) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut c = StreamClient::connect(d, name).await?;
    let last = c.meta["lastSeq"].as_u64().unwrap_or(0);
    c.resume(None).await?;
    let mut log = Vec::new();
    let mut seq = 0;
    while seq < last {
        match c.next(Duration::from_secs(60)).await? {
            Frame::Chunk(s, data) => {
                seq = s;
                log.extend(data);
            }
            Frame::Json(_) => {}
            Frame::Closed(code) => bail!("stream of {name} closed ({code:?})"),
        }
    }
    c.send(json!({"type": "snapshot-request"})).await?;
    let snap = c.json_of("snapshot").await?;
    c.close().await;
    use base64::Engine;
    let screen = base64::engine::general_purpose::STANDARD.decode(snap["data"].as_str().unwrap_or(""))?;
    Ok((log, screen))
}

fn has(hay: &[u8], needle: &str) -> bool {
    memchr::memmem::find(hay, needle.as_bytes()).is_some()
}

/// Type `<phase>-<name>` into every session, then check where it landed.
async fn markers_land_only_in_their_own_session(d: &TestDaemon, names: &[String], phase: &str) -> Result<()> {
    let marker = |name: &str| format!("{phase}x{}", name.replace('-', ""));
    for name in names {
        let mut c = StreamClient::connect(d, name).await?;
        c.resume(Some(c.meta["lastSeq"].as_u64().unwrap_or(0))).await?;
        // A shell runs it as a comment; the demo agent keeps it on its
        // input line.
        let data = if name.contains("-sh") {
            format!("# {}\r", marker(name))
        } else {
            marker(name)
        };
        c.send(json!({"type": "input", "data": data})).await?;
        c.close().await;
    }
    // Each marker reaches its own pane (the echo of the typed line).
    for name in names {
        let mine = marker(name);
        d.wait_for(
            Duration::from_secs(120),
            &format!("{mine} in the pane of {name}"),
            || async { Ok(pane_text(d, name)?.contains(&mine).then_some(())) },
        )
        .await?;
    }
    let mut seen: BTreeMap<&str, (Vec<u8>, Vec<u8>, String)> = BTreeMap::new();
    for name in names {
        let mine = marker(name);
        // The log catches up with the pane.
        let (log, screen) = d
            .wait_for(
                Duration::from_secs(120),
                &format!("{mine} in the log of {name}"),
                || async {
                    let (log, screen) = log_and_snapshot(d, name).await?;
                    Ok((has(&log, &mine) && has(&screen, &mine)).then_some((log, screen)))
                },
            )
            .await?;
        seen.insert(name, (log, screen, pane_text(d, name)?));
    }
    for (name, (log, screen, pane)) in &seen {
        for other in names.iter().filter(|o| o != name) {
            let theirs = marker(other);
            assert!(
                !pane.contains(&theirs),
                "{theirs} (for {other}) reached the pane of {name}:\n{pane}"
            );
            assert!(!has(log, &theirs), "{theirs} (for {other}) is in the log of {name}");
            assert!(
                !has(screen, &theirs),
                "{theirs} (for {other}) is in the snapshot of {name}"
            );
        }
    }
    Ok(())
}

/// Start a long command in every shell session, abort one, check that
/// only that one was interrupted, then abort the others.
async fn an_abort_reaches_only_its_own_agent(d: &TestDaemon, names: &[String]) -> Result<()> {
    let shells: Vec<&String> = names.iter().filter(|n| n.contains("-sh")).collect();
    let mut ids = BTreeMap::new();
    for name in &shells {
        idle(d, name).await?;
        let (status, r) = d
            .post(&format!("/sessions/{name}/messages"), json!({"text": "sleep 600"}))
            .await?;
        assert_eq!(status, 202, "{r}");
        ids.insert(name.as_str(), r["id"].as_str().unwrap().to_string());
    }
    for name in &shells {
        d.wait_for(Duration::from_secs(120), &format!("{name} running sleep"), || async {
            let (_, s) = d.get(&format!("/sessions/{name}/state")).await?;
            Ok((s["state"]["value"] == "working" && s["turn"]["id"] == ids[name.as_str()].as_str()).then_some(()))
        })
        .await?;
    }
    let interrupts = |name: &str| -> Result<usize> { Ok(pane_text(d, name)?.matches("^C").count()) };
    let mut before = BTreeMap::new();
    for name in &shells {
        before.insert(name.as_str(), interrupts(name)?);
    }
    let (victim, others) = shells.split_first().expect("shell sessions");
    let (status, r) = d.post(&format!("/sessions/{victim}/abort"), json!({})).await?;
    assert_eq!(
        (status.as_u16(), r["aborted"].as_str()),
        (200, Some(ids[victim.as_str()].as_str())),
        "{r}"
    );
    assert_eq!(wait_done(d, victim, &ids[victim.as_str()]).await?["status"], "aborted");
    // The victim's shell got the C-c: its prompt is back.
    idle(d, victim).await?;
    for name in others {
        let (_, s) = d.get(&format!("/sessions/{name}/state")).await?;
        assert_eq!(
            s["state"]["value"], "working",
            "{name} was interrupted by the abort of {victim}: {s}"
        );
        let (_, m) = d
            .get(&format!("/sessions/{name}/messages/{}", ids[name.as_str()]))
            .await?;
        assert_eq!(m["status"], "running", "{name}: {m}");
        assert_eq!(
            interrupts(name)?,
            before[name.as_str()],
            "{name} saw a C-c:\n{}",
            pane_text(d, name)?
        );
    }
    for name in others {
        let (status, r) = d.post(&format!("/sessions/{name}/abort"), json!({})).await?;
        assert_eq!(
            (status.as_u16(), r["aborted"].as_str()),
            (200, Some(ids[name.as_str()].as_str())),
            "{r}"
        );
        idle(d, name).await?;
    }
    Ok(())
}

#[tokio::test]
async fn forty_sessions_each_get_only_their_own_input_across_restarts() -> Result<()> {
    let mut d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    let mut names = Vec::new();
    // Twenty at once.
    let mut tasks = Vec::new();
    for i in 0..PER_MODE {
        let name = format!("c{i}-{}", if provider(i) == "shell" { "sh" } else { "demo" });
        names.push(name.clone());
        let (url, token, http, cwd) = (
            d.url("/sessions"),
            d.token.clone(),
            d.http.clone(),
            dir.path().to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({"name": name, "provider": provider(i), "cwd": cwd, "env": {"DEMO_AGENT_SPEED_MS": "1"}}))
                .send()
                .await?;
            anyhow::Ok((r.status(), r.text().await?))
        }));
    }
    for t in tasks {
        let (status, body) = t.await??;
        assert_eq!(status, 201, "{body}");
    }
    // Twenty one after another.
    for i in 0..PER_MODE {
        let name = format!("s{i}-{}", if provider(i) == "shell" { "sh" } else { "demo" });
        create(&d, &name, provider(i), dir.path()).await?;
        names.push(name);
    }
    for name in &names {
        idle(&d, name).await?;
    }
    markers_land_only_in_their_own_session(&d, &names, "first").await?;
    an_abort_reaches_only_its_own_agent(&d, &names).await?;

    d.terminate();
    d.restart().await?;
    for name in &names {
        idle(&d, name).await?;
    }
    markers_land_only_in_their_own_session(&d, &names, "afterterm").await?;
    an_abort_reaches_only_its_own_agent(&d, &names).await?;

    d.kill9();
    d.restart().await?;
    for name in &names {
        idle(&d, name).await?;
    }
    markers_land_only_in_their_own_session(&d, &names, "afterkill").await?;
    an_abort_reaches_only_its_own_agent(&d, &names).await?;
    Ok(())
}
