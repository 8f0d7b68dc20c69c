//! The first-party plugins' own unit tests (parsers of transcripts, screens,
//! JSON-RPC, OSC marks, argv splitting). The plugins are a `wasm32-wasip2`
//! workspace that the host's build script compiles for wasm only, so their
//! `#[test]`s run here, compiled for the host, from the one test command.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Command;

/// Plugins with unit tests; all are providers (or the SDK), so building
/// them in one cargo invocation unifies no conflicting SDK features.
const PACKAGES: &[&str] = &[
    "wasmux-plugin-sdk",
    "wasmux-shell",
    "wasmux-pi",
    "wasmux-acp",
    "wasmux-claude-code",
    "wasmux-codex",
];

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> Result<String> {
    let out = Command::new("rustc").arg("-vV").output().context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .context("no `host:` line in `rustc -vV`")
}

#[test]
fn first_party_plugin_unit_tests_pass_on_the_host() -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("plugin-unit-tests");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.arg("test")
        .arg("--manifest-path")
        .arg(root.join("plugins/Cargo.toml"))
        .arg("--target")
        .arg(host_triple()?)
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS");
    for p in PACKAGES {
        cmd.args(["-p", p]);
    }
    let out = cmd.output().context("running cargo test for the plugins")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "plugin unit tests failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Every package ran some tests: a crate whose tests vanished is a failure too.
    let ran: usize = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(ran >= 25, "only {ran} plugin unit tests ran:\n{stdout}");
    Ok(())
}
