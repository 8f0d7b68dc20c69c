//! The web console in a real headless Chromium (Debian's `chromium`),
//! driven over CDP by `playwright-core` (installed with `npm ci` under
//! `target/browser-tools` from `tests/browser`'s lock file on first use).
//! Each test runs one scenario of `tests/browser/console.mjs` against a real
//! daemon with a demo session and checks what it reports. Screenshots land
//! in `target/console-shots/`.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::harness::TestDaemon;

const INSTALL_HINT: &str =
    "the console tests need Chromium: apt-get install -y chromium (or set CHROMIUM=/path/to/chrome)";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The browser binary, or the install hint.
pub fn chromium() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Ok(PathBuf::from(p));
    }
    for p in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ] {
        if Path::new(p).exists() {
            return Ok(PathBuf::from(p));
        }
    }
    bail!("{INSTALL_HINT}")
}

static INSTALL: Mutex<()> = Mutex::new(());

/// `target/browser-tools` with playwright-core installed (npm ci, once).
pub fn browser_tools() -> Result<PathBuf> {
    let _one = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = root().join("target/browser-tools");
    if dir.join("node_modules/playwright-core/package.json").exists() {
        return Ok(dir);
    }
    if Command::new("node").arg("--version").output().is_err() {
        bail!("node is not installed; the console tests need Node.js 20+ and npm (apt-get install nodejs npm)");
    }
    std::fs::create_dir_all(&dir)?;
    for f in ["package.json", "package-lock.json"] {
        std::fs::copy(root().join("tests/browser").join(f), dir.join(f))?;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .context("running npm ci for the browser tools (is npm installed?)")?;
    if !out.status.success() {
        bail!(
            "npm ci in {} failed:\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(dir)
}

/// A daemon with an idle demo session `name` in a fresh directory.
pub async fn demo_daemon(name: &str) -> Result<(TestDaemon, tempfile::TempDir)> {
    let d = TestDaemon::start().await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("a.txt"), "x")?;
    let (s, b) = d
        .post(
            "/sessions",
            json!({"name": name, "provider": "demo", "cwd": dir.path(), "env": {"DEMO_AGENT_SPEED_MS": "1"}}),
        )
        .await?;
    assert_eq!(s, 201, "{b}");
    crate::queue::idle(&d, name).await?;
    Ok((d, dir))
}

/// Run scenario `name` of `tests/browser/console.mjs` against `d`'s session
/// `session`; its JSON report.
pub async fn scenario(d: &TestDaemon, session: &str, name: &str) -> Result<Value> {
    let browser = chromium()?;
    let tools = browser_tools()?;
    let shots = root().join("target/console-shots");
    std::fs::create_dir_all(&shots)?;
    let mut cmd = Command::new("node");
    cmd.arg(root().join("tests/browser/console.mjs"))
        .arg(name)
        .env("BASE", format!("http://{}", d.addr))
        .env("TOKEN", &d.token)
        .env("SESSION", session)
        .env("TMUX_SOCKET", d.tmux_socket())
        .env("TMUX_TARGET", format!("={session}:"))
        .env("SHOTS", &shots)
        .env("CHROMIUM", &browser)
        .env("PLAYWRIGHT", &tools);
    let out = tokio::task::spawn_blocking(move || cmd.output()).await??;
    if !out.status.success() {
        bail!(
            "browser scenario {name} failed:\n{}\n{}\ndaemon log tail:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            crate::harness::tail(&d.log_text(), 30)
        );
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("scenario {name} printed no JSON"))
}

#[tokio::test]
async fn browser_signs_in_once_with_a_one_time_url() -> Result<()> {
    let (d, _dir) = demo_daemon("demo").await?;
    let v = scenario(&d, "demo", "signin").await?;
    let cookie = &v["cookies"][0];
    assert_eq!(cookie["httpOnly"], true, "{v}");
    assert_eq!(cookie["sameSite"], "Strict", "{v}");
    assert_eq!(v["jsCookie"], "", "the page's script cannot read the cookie: {v}");
    assert!(v["refused"].as_str().unwrap().contains("already used"), "{v}");
    assert_eq!(v["afterSignOut"], 401, "{v}");
    Ok(())
}

#[tokio::test]
async fn browser_list_shows_state_changes_live() -> Result<()> {
    let (d, dir) = demo_daemon("demo").await?;
    let v = scenario(&d, "demo", "live").await?;
    assert_ne!(v["waitingState"], "idle", "{v}");
    assert!(v["preview"].as_str().unwrap().contains("write live.txt"), "{v}");
    assert!(v["donePreview"].as_str().unwrap().contains("done"), "{v}");
    assert_eq!(std::fs::read_to_string(dir.path().join("live.txt"))?, "from-the-list\n");
    Ok(())
}

#[tokio::test]
async fn browser_terminal_types_and_resumes_gaplessly_after_a_network_drop() -> Result<()> {
    let (d, _dir) = demo_daemon("demo").await?;
    let v = scenario(&d, "demo", "terminal").await?;
    let numbers: Vec<u64> = v["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        (1..=400).collect::<Vec<_>>(),
        "every line exactly once, in order: {v}"
    );
    assert_eq!(
        v["sawBurstOffline"], false,
        "the burst arrived only after the network came back: {v}"
    );
    assert_eq!(
        v["screenTail"].as_array().unwrap().last(),
        v["paneTail"].as_array().unwrap().last(),
        "{v}"
    );
    let (_, s) = d.get("/sessions/demo").await?;
    assert_eq!(
        (s["cols"].clone(), s["rows"].clone()),
        (v["size"]["cols"].clone(), v["size"]["rows"].clone()),
        "the pane was resized to fit the page"
    );
    Ok(())
}

#[tokio::test]
async fn browser_composer_message_shows_the_answer_bubble() -> Result<()> {
    let (d, _dir) = demo_daemon("demo").await?;
    let v = scenario(&d, "demo", "chat").await?;
    assert!(v["answer"].as_str().unwrap().contains("I listed 1 entr"), "{v}");
    assert!(v["tool"].as_str().unwrap().contains("list_files"), "{v}");
    Ok(())
}

#[tokio::test]
async fn browser_permission_allow_writes_and_resolves_in_a_second_tab() -> Result<()> {
    let (d, dir) = demo_daemon("demo").await?;
    let v = scenario(&d, "demo", "permission").await?;
    assert!(
        v["here"].as_str().unwrap().contains("allow · answered in this tab"),
        "{v}"
    );
    assert!(
        v["elsewhere"].as_str().unwrap().contains("allow · answered elsewhere"),
        "{v}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("perm.txt"))?,
        "approved-in-browser\n"
    );
    Ok(())
}

#[tokio::test]
async fn browser_cross_origin_request_with_the_cookie_is_refused() -> Result<()> {
    let (d, _dir) = demo_daemon("demo").await?;
    let v = scenario(&d, "demo", "crossorigin").await?;
    assert_eq!(v["own"], 200, "{v}");
    for k in ["get", "post"] {
        let r = v["result"][k].as_str().unwrap();
        assert!(
            r.starts_with("blocked") || r == "status 401" || r == "status 403",
            "{k}: {v}"
        );
    }
    // The browser's cookie itself, replayed with a foreign Origin: refused.
    let cookie = v["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().starts_with("wasmux_"))
        .context("cookie")?;
    let res = d
        .http
        .get(d.url("/overview"))
        .header(
            "cookie",
            format!(
                "{}={}",
                cookie["name"].as_str().unwrap(),
                cookie["value"].as_str().unwrap()
            ),
        )
        .header("origin", format!("http://localhost:{}", d.addr.port()))
        .send()
        .await?;
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<Value>().await?["code"], "cross_origin_refused");
    Ok(())
}
