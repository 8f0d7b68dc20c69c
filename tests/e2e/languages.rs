//! Plugins in other languages, built from this test on first use and
//! driven through real daemons: the Python and JavaScript example providers
//! (a `python3 -i` REPL as the agent) and webhooks (HMAC-signed requests),
//! every `wasmux plugin new` template built and loaded, and the refusal of
//! plugins built against another WIT version.
//!
//! Builds go through `wasmux plugin build` with the tools installed into
//! `target/plugin-tools` (pip --target, npm) and the components into
//! `target/plugin-builds`; a hash stamp skips unchanged builds. Python and
//! JavaScript components take tens of seconds to compile in wasmtime, so the
//! daemons here share one compile cache (`target/plugin-builds/xdg/wasmux/
//! components`, copied into each daemon's state dir before it starts and back
//! after it loaded) and there is one daemon per language. Missing python3,
//! pip, node or npm fail these tests with the install hint from the build.

use anyhow::{Context, Result, bail};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

use crate::harness::TestDaemon;
use crate::queue::{events, wait_done};

/// One build at a time across test threads (they share tools and CPU).
static BUILDS: Mutex<()> = Mutex::new(());

/// How long a daemon may take to compile Python/JS plugins on a cold cache.
const LOAD_TIMEOUT: Duration = Duration::from_secs(600);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
}

fn builds() -> PathBuf {
    target().join("plugin-builds")
}

/// `$XDG_CACHE_HOME` for the CLI: `plugin test` caches compiled code in
/// `<it>/wasmux/components`, the same directory the daemons here share.
fn xdg_cache() -> PathBuf {
    builds().join("xdg")
}

fn shared_cache() -> PathBuf {
    xdg_cache().join("wasmux/components")
}

/// Run the `wasmux` binary with `args`; fail with its output unless it succeeds.
fn wasmux(args: &[&str]) -> Result<Output> {
    let out = wasmux_raw(args)?;
    if !out.status.success() {
        bail!(
            "`wasmux {}` failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

fn wasmux_raw(args: &[&str]) -> Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_wasmux"))
        .args(args)
        .env("XDG_CACHE_HOME", xdg_cache())
        .env("RUST_LOG", "warn")
        .output()
        .context("running wasmux")
}

/// A built plugin: its `.wasm` (manifest beside it) and the build report.
struct Built {
    wasm: PathBuf,
    report: Value,
}

/// `wasmux plugin build DIR --out OUT` with the shared tools and target dirs.
fn build(dir: &Path, out: &Path, wit: Option<&Path>) -> Result<Built> {
    let _one = BUILDS.lock().unwrap_or_else(|p| p.into_inner());
    let (dir_s, out_s) = (dir.display().to_string(), out.display().to_string());
    let tools = target().join("plugin-tools").display().to_string();
    let cargo_target = builds().join("rust-target").display().to_string();
    let wit_s = wit.map(|w| w.display().to_string());
    let mut args = vec![
        "plugin",
        "build",
        &dir_s,
        "--out",
        &out_s,
        "--tools",
        &tools,
        "--cargo-target-dir",
        &cargo_target,
        "--json",
    ];
    if let Some(w) = &wit_s {
        args.extend(["--wit", w.as_str()]);
    }
    let out = wasmux(&args)?;
    let report: Value = serde_json::from_slice(
        out.stdout
            .split(|b| *b == b'\n')
            .find(|l| l.starts_with(b"{"))
            .unwrap_or(b"{}"),
    )?;
    eprintln!("plugin build {}: {report}", dir.display());
    Ok(Built {
        wasm: PathBuf::from(report["wasm"].as_str().context("wasm path")?),
        report,
    })
}

/// Copy the shared compile cache into `state/cache/components` (created
/// 0700, as the daemon would).
fn seed_cache(state: &Path) -> Result<()> {
    let cache = state.join("cache/components");
    wasmux::util::create_private_dir(&cache)?;
    if let Ok(entries) = std::fs::read_dir(shared_cache()) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "cwasm") {
                std::fs::copy(e.path(), cache.join(e.file_name()))?;
            }
        }
    }
    Ok(())
}

/// Drop `p` into `dir`: manifest first, then the component by rename.
fn install(dir: &Path, p: &Built) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let name = p.wasm.file_name().context("file name")?;
    std::fs::copy(p.wasm.with_extension("toml"), dir.join(name).with_extension("toml"))?;
    let tmp = dir.join(".incoming.tmp");
    std::fs::copy(&p.wasm, &tmp)?;
    std::fs::rename(tmp, dir.join(name))?;
    Ok(())
}

/// Copy compiled code the daemon produced back into the shared cache.
fn save_cache(d: &TestDaemon) -> Result<()> {
    std::fs::create_dir_all(shared_cache())?;
    for e in std::fs::read_dir(d.state_dir().join("cache/components"))?.flatten() {
        let dest = shared_cache().join(e.file_name());
        if e.path().extension().is_some_and(|x| x == "cwasm") && !dest.exists() {
            let tmp = dest.with_extension("tmp");
            std::fs::copy(e.path(), &tmp)?;
            std::fs::rename(tmp, dest)?;
        }
    }
    Ok(())
}

/// Start a daemon, then drop `plugins` in (so a cold compile of several
/// large components does not hold up its start) and wait until each is
/// loaded, saving compiled code to the shared cache as it appears.
async fn daemon_with(config: &str, plugins: &[&Built]) -> Result<TestDaemon> {
    let d = TestDaemon::start_with(config, seed_cache).await?;
    for p in plugins {
        install(&d.plugins_dir(), p)?;
    }
    for p in plugins {
        let name = p.report["name"].as_str().context("name")?.to_string();
        let row = d
            .wait_for(LOAD_TIMEOUT, &format!("plugin {name} to load"), || async {
                let (_, list) = d.get("/plugins").await?;
                if let Some(err) = list["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|e| e["name"] == name.as_str())
                {
                    bail!("{name} failed to load: {err}");
                }
                d.plugin(&name).await
            })
            .await?;
        assert_eq!(row["health"], "ok", "{row}");
        save_cache(&d)?;
    }
    Ok(d)
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POST `body` to `/webhooks/{route}` with `X-Signature: sig` (if any).
async fn hook(d: &TestDaemon, route: &str, sig: Option<String>, body: &Value) -> Result<(u16, Value, Option<String>)> {
    let bytes = body.to_string().into_bytes();
    let mut rb = d
        .http
        .request(Method::POST, d.url(&format!("/webhooks/{route}")))
        .body(bytes);
    if let Some(s) = sig {
        rb = rb.header("x-signature", s);
    }
    let resp = rb.send().await?;
    let status = resp.status().as_u16();
    let id = resp
        .headers()
        .get("x-wasmux-messages")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let v = serde_json::from_slice(&resp.bytes().await?).unwrap_or(Value::Null);
    Ok((status, v, id))
}

/// Create session `name` with `provider` and wait until it is idle.
async fn idle_session(d: &TestDaemon, name: &str, provider: &str) -> Result<()> {
    let cwd = std::env::temp_dir();
    let (s, b) = d
        .post("/sessions", json!({"name": name, "provider": provider, "cwd": cwd}))
        .await?;
    assert_eq!(s, 201, "{b}");
    d.wait_for(Duration::from_secs(30), &format!("{name} idle"), || async {
        let (_, s) = d.get(&format!("/sessions/{name}/state")).await?;
        Ok((s["state"]["value"] == "idle").then_some(()))
    })
    .await
}

/// `POST /sessions/{name}/messages?wait=true`; the wait result.
async fn turn(d: &TestDaemon, name: &str, text: &str) -> Result<Value> {
    let (s, r) = d
        .post(&format!("/sessions/{name}/messages?wait=true"), json!({"text": text}))
        .await?;
    assert_eq!(s, 200, "{r}");
    Ok(r)
}

/// The examples of `lang` (`python` or `javascript`), built.
fn examples(lang: &str) -> Result<(Built, Built)> {
    let out = builds().join(lang);
    let wit = repo().join("wit");
    let provider = build(&repo().join(format!("examples/{lang}/provider")), &out, Some(&wit))?;
    let webhook = build(&repo().join(format!("examples/{lang}/webhook")), &out, Some(&wit))?;
    Ok((provider, webhook))
}

/// The REPL provider `provider` and HMAC webhook `route` end to end.
async fn repl_and_webhook(lang: &str, provider: &str, route: &str) -> Result<()> {
    let (p, w) = examples(lang)?;
    let config = format!(
        "[plugins.{route}]\ngrants = [\"crypto\", \"enqueue\"]\nsecrets = {{ signing = \"{route}-secret\" }}\n"
    );
    let d = daemon_with(&config, &[&p, &w]).await?;
    let (_, list) = d.get("/plugins").await?;
    assert_eq!(
        (list["witVersion"].as_str(), list["accepts"].is_string()),
        (Some("0.1.1"), true),
        "{list}"
    );
    let s = "repl";
    idle_session(&d, s, provider).await?;

    let r = turn(&d, s, "print(6*7)").await?;
    assert_eq!(
        (r["status"].as_str(), r["response"].as_str()),
        (Some("done"), Some("42")),
        "{r}"
    );
    let r = turn(&d, s, "1/0").await?;
    assert_eq!(r["status"], "done", "an error still ends the turn: {r}");
    // A compound one-liner waits at `...`; the provider answers with Enter.
    let r = turn(&d, s, "for i in range(3): print(i)").await?;
    assert_eq!(r["response"].as_str(), Some("0\n1\n2"), "{r}");
    // Several lines run as a script.
    let r = turn(&d, s, "x = 5\nprint(x * 2)").await?;
    assert_eq!(r["response"].as_str(), Some("10"), "{r}");

    let evs = events(&d, s, None).await?;
    let of = |kind: &str| {
        evs.iter()
            .filter(|(_, e)| e["type"] == kind)
            .map(|(_, e)| e.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(of("message")[0]["message"], "42");
    let errors: Vec<Value> = of("tool-result").into_iter().filter(|e| e["isError"] == true).collect();
    assert_eq!(errors.len(), 1, "one failing input: {errors:?}");
    assert!(
        errors[0]["output"]
            .as_str()
            .unwrap()
            .contains("ZeroDivisionError: division by zero"),
        "{}",
        errors[0]
    );
    assert_eq!(of("task-started").len(), 4);
    let ends: Vec<Value> = of("task-complete").iter().map(|e| e["exitCode"].clone()).collect();
    assert_eq!(ends, [json!(0), json!(1), json!(0), json!(0)]);
    assert_eq!(of("tool-call")[0]["input"]["code"], "print(6*7)");

    // The webhook: a signed request queues a message, a bad one is a 401.
    let body = json!({"text": "print('via hook')", "session": s});
    let (st, v, id) = hook(
        &d,
        route,
        Some(sign(&format!("{route}-secret"), body.to_string().as_bytes())),
        &body,
    )
    .await?;
    assert_eq!((st, v["queued"].as_bool()), (202, Some(true)), "{v}");
    let m = wait_done(&d, s, &id.context("x-wasmux-messages header")?).await?;
    assert_eq!(
        (m["response"].as_str(), m["source"].as_str()),
        (Some("via hook"), Some(format!("webhook:{route}").as_str())),
        "{m}"
    );
    assert_eq!(m["metadata"]["via"], route);
    let (st, v, _) = hook(
        &d,
        route,
        Some(sign("wrong-secret", body.to_string().as_bytes())),
        &body,
    )
    .await?;
    assert_eq!((st, v["code"].as_str()), (401, Some("unauthorized")), "{v}");
    let (st, _, _) = hook(&d, route, None, &body).await?;
    assert_eq!(st, 401);
    let bad = json!({"text": 5});
    let (st, v, _) = hook(
        &d,
        route,
        Some(sign(&format!("{route}-secret"), bad.to_string().as_bytes())),
        &bad,
    )
    .await?;
    assert_eq!((st, v["code"].as_str()), (400, Some("invalid_input")), "{v}");
    let (_, hist) = d.get(&format!("/sessions/{s}/history")).await?;
    assert_eq!(
        hist.as_array().map(Vec::len),
        Some(5),
        "four turns and the hook's: {hist}"
    );
    Ok(())
}

#[tokio::test]
async fn python_provider_and_webhook_in_a_daemon() -> Result<()> {
    repl_and_webhook("python", "repl-py", "hmac-py").await
}

#[tokio::test]
async fn javascript_provider_and_webhook_in_a_daemon() -> Result<()> {
    repl_and_webhook("javascript", "repl-js", "hmac-js").await
}

/// `wasmux plugin new` + `plugin build` for `lang`/`kind` under target/.
fn template(lang: &str, kind: &str) -> Result<Built> {
    let name = format!("t-{lang}-{kind}");
    let dir = builds().join("templates").join(&name);
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.display().to_string();
    wasmux(&["plugin", "new", &name, "--kind", kind, "--lang", lang, "--dir", &dir_s])?;
    for f in [format!("{name}.toml"), "README.md".into()] {
        assert!(dir.join(&f).exists(), "{f} missing");
    }
    build(&dir, &builds().join("templates-out"), None)
}

#[tokio::test]
async fn every_template_builds_and_loads() -> Result<()> {
    let kinds = ["provider", "webhook", "adapter"];
    // Rust: `plugins check` (compiles in well under a second).
    for kind in kinds {
        let b = template("rust", kind)?;
        let out = wasmux(&["plugins", "check", b.wasm.to_str().unwrap(), "--json"])?;
        let report: Value = serde_json::from_slice(&out.stdout)?;
        assert_eq!(report["kind"], kind, "{report}");
    }
    // Every language's three templates in a daemon of their own (one
    // session per daemon), with the shared compile cache: `plugins check`
    // would compile each 12-18 MB Python/JS component again on every run
    // (25-70 s apiece on two cores).
    for lang in ["rust", "python", "js"] {
        let built: Vec<Built> = kinds.iter().map(|k| template(lang, k)).collect::<Result<_>>()?;
        let config = format!(
            "[plugins.t-{lang}-webhook]\ngrants = [\"crypto\", \"enqueue\"]\nsecrets = {{ signing = \"k\" }}\n"
        );
        let d = daemon_with(&config, &built.iter().collect::<Vec<_>>()).await?;
        // The provider template: its echo agent answers a turn.
        let s = format!("s-{lang}");
        idle_session(&d, &s, &format!("t-{lang}-provider")).await?;
        let r = turn(&d, &s, "hello").await?;
        assert_eq!(r["response"].as_str(), Some("you said: hello"), "{lang}: {r}");
        // The webhook template: signed requests queue, others are refused.
        let body = json!({"text": "from the hook", "session": s});
        let (st, _, id) = hook(
            &d,
            &format!("t-{lang}-webhook"),
            Some(sign("k", body.to_string().as_bytes())),
            &body,
        )
        .await?;
        assert_eq!(st, 202, "{lang}");
        let m = wait_done(&d, &s, &id.context("message id")?).await?;
        assert_eq!(m["response"].as_str(), Some("you said: from the hook"), "{lang}: {m}");
        let (st, _, _) = hook(&d, &format!("t-{lang}-webhook"), Some(sign("x", b"{}")), &body).await?;
        assert_eq!(st, 401, "{lang}");
        // The adapter template: the session's messages as text lines.
        let text = d
            .req(
                Method::GET,
                &format!("/sessions/{s}/events?format=t-{lang}-adapter&follow=false"),
            )
            .send()
            .await?
            .text()
            .await?;
        assert_eq!(text, "you said: hello\nyou said: from the hook\n", "{lang}");
        // `plugin test` replays the provider template's fixture.
        let fixture = builds().join(format!("templates/t-{lang}-provider/fixtures/sample-output.raw"));
        let wasm = built[0].wasm.display().to_string();
        let out = wasmux(&[
            "plugin",
            "test",
            &wasm,
            "--prompt",
            "hello",
            "--output",
            fixture.to_str().unwrap(),
            "--events-only",
        ])?;
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(r#""message":"you said: hello""#) && text.contains("task-complete"),
            "{lang}: {text}"
        );
    }
    Ok(())
}

/// A Rust adapter built with wit-bindgen against the WIT in `wit` (a copy of
/// the repository's with its version changed to `version`).
fn compat_plugin(version: &str) -> Result<PathBuf> {
    let dir = builds().join(format!("compat-{version}"));
    let wit = dir.join("wit");
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::create_dir_all(&wit)?;
    for (file, text) in wasmux::plugin_build::world::EMBEDDED_WIT {
        std::fs::write(
            wit.join(file),
            text.replace(
                &format!("wasmux:plugin@{}", wasmux::plugins::loader::WIT_VERSION),
                &format!("wasmux:plugin@{version}"),
            ),
        )?;
    }
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"compat-{}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n\
             [dependencies]\nwit-bindgen = \"0.63\"\n\n[profile.release]\nopt-level = \"s\"\nstrip = true\n\n[workspace]\n",
            version.replace('.', "-")
        ),
    )?;
    std::fs::write(dir.join("src/lib.rs"), COMPAT_SRC)?;
    std::fs::write(
        dir.join("compat.toml"),
        format!("name = \"compat\"\nkind = \"adapter\"\nversion = \"0.1.0\"\nwit = \"{version}\"\ncapabilities = []\n"),
    )?;
    Ok(build(&dir, &dir.join("dist"), None)?.wasm)
}

const COMPAT_SRC: &str = r#"//! The smallest adapter: refuses requests, encodes nothing.
wit_bindgen::generate!({ path: "wit", world: "wasmux:plugin/adapter" });
use exports::wasmux::plugin::event_adapter::{Chunk, Guest, GuestEncoder, Inbound, StreamEvent};
use wasmux::plugin::types::{ErrorKind, HttpRequest, PluginError};
struct Plugin;
impl Guest for Plugin {
    type Encoder = Plugin;
    fn decode_request(_: HttpRequest) -> Result<Inbound, PluginError> {
        Err(PluginError { kind: ErrorKind::Unsupported, message: "compat".into() })
    }
}
impl GuestEncoder for Plugin {
    fn new(_: String, _: Option<String>) -> Self { Plugin }
    fn headers(&self) -> Vec<(String, String)> { Vec::new() }
    fn begin(&self) -> Vec<u8> { Vec::new() }
    fn encode(&self, _: StreamEvent) -> Chunk { Chunk { bytes: Vec::new(), done: false } }
    fn finish(&self, _: Option<String>) -> Vec<u8> { Vec::new() }
}
export!(Plugin);
"#;

/// `wasmux plugins check` on `wasm` with its manifest's `wit` set to `wit`.
fn check_as(wasm: &Path, wit: &str) -> Result<(bool, String)> {
    let manifest = wasm.with_extension("toml");
    let text = std::fs::read_to_string(&manifest)?;
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("wit =") {
                format!("wit = \"{wit}\"\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&manifest, text)?;
    let out = wasmux_raw(&["plugins", "check", wasm.to_str().unwrap()])?;
    Ok((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

#[tokio::test]
async fn plugins_built_against_another_wit_version_are_refused_by_name() -> Result<()> {
    let current = compat_plugin("0.1.1")?;
    let (ok, text) = check_as(&current, "0.1.1")?;
    assert!(ok, "the current version loads: {text}");
    assert!(text.contains("wasmux:plugin/event-adapter@0.1.1"), "{text}");

    // Plugins built against 0.1.0 keep loading on the 0.1.1 host: the
    // imports and exports named @0.1.0 resolve on the @0.1 track.
    let older = compat_plugin("0.1.0")?;
    let (ok, text) = check_as(&older, "0.1.0")?;
    assert!(ok, "a 0.1.0 plugin loads: {text}");
    assert!(text.contains("wasmux:plugin/event-adapter@0.1.0"), "{text}");

    let newer = compat_plugin("0.2.0")?;
    let (ok, text) = check_as(&newer, "0.2.0")?;
    assert!(
        !ok && text.contains("wasmux:plugin@0.2.0") && text.contains("accepts wasmux:plugin@0.1.0"),
        "manifest says 0.2.0: {text}"
    );
    // A manifest claiming 0.1.1 does not help: the imports name 0.2.0.
    let (ok, text) = check_as(&newer, "0.1.1")?;
    assert!(
        !ok && text.contains("wasmux:plugin@0.2.0") && text.contains("accepts wasmux:plugin@0.1.0"),
        "imports say 0.2.0: {text}"
    );

    // A later patch of the same minor is refused by this (older) host too:
    // the plugin may call functions 0.1.1 lacks.
    let patch = compat_plugin("0.1.2")?;
    let (ok, text) = check_as(&patch, "0.1.2")?;
    assert!(
        !ok && text.contains("wasmux:plugin@0.1.2") && text.contains("through @0.1.1"),
        "{text}"
    );
    Ok(())
}
