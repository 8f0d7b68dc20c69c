//! The first-party plugins' own unit tests (parsers of transcripts, screens,
//! JSON-RPC, OSC marks, argv splitting). The plugins are a `wasm32-wasip2`
//! workspace that the host's build script compiles for wasm only, so their
//! `#[test]`s run here, compiled for the host, from the one test command.

use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> Result<String> {
    let out = Command::new("rustc").arg("-vV").output().context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .context("no `host:` line in `rustc -vV`")
}

/// Whether any Rust file under `dir` holds a `#[test]`.
fn has_tests(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            has_tests(&p)
        } else {
            p.extension().is_some_and(|x| x == "rs") && std::fs::read_to_string(&p).is_ok_and(|s| s.contains("#[test]"))
        }
    })
}

/// The plugin workspace's first-party members (`plugins/Cargo.toml`, the
/// one list; not the test plugins under `../tests`) that have unit tests,
/// by the SDK feature they build with: one `cargo test` per feature, since
/// features unify within one build. The SDK itself (which needs a feature)
/// goes with the providers.
fn packages_with_tests(plugins: &Path) -> Result<BTreeMap<String, Vec<String>>> {
    let manifest = std::fs::read_to_string(plugins.join("Cargo.toml"))?;
    let members = manifest
        .split_once("members = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .context("no members list in plugins/Cargo.toml")?
        .0;
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for member in members.split(',').map(|m| m.trim().trim_matches('"')) {
        if member.is_empty() || member.starts_with("..") || !has_tests(&plugins.join(member).join("src")) {
            continue;
        }
        let cargo = std::fs::read_to_string(plugins.join(member).join("Cargo.toml"))?;
        let name = cargo
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|l| l.strip_suffix('"'))
            .with_context(|| format!("no package name in plugins/{member}/Cargo.toml"))?;
        let feature = cargo
            .lines()
            .find(|l| l.starts_with("wasmux-plugin-sdk"))
            .and_then(|l| l.split_once("features = [\"")?.1.split_once('"'))
            .map_or("provider", |(f, _)| f);
        groups.entry(feature.to_string()).or_default().push(name.to_string());
    }
    Ok(groups)
}

#[test]
fn first_party_plugin_unit_tests_pass_on_the_host() -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("plugin-unit-tests");
    let groups = packages_with_tests(&root.join("plugins"))?;
    let providers = groups.get("provider").map(Vec::as_slice).unwrap_or_default();
    for expected in ["wasmux-plugin-sdk", "wasmux-claude-code", "wasmux-codex", "wasmux-acp"] {
        assert!(
            providers.iter().any(|p| p == expected),
            "{expected} not found: {groups:?}"
        );
    }
    let mut ran = 0;
    let mut stdout_all = String::new();
    for packages in groups.values() {
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
        for p in packages {
            cmd.args(["-p", p]);
        }
        let out = cmd.output().context("running cargo test for the plugins")?;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if !out.status.success() {
            bail!(
                "plugin unit tests of {packages:?} failed ({}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        ran += stdout
            .lines()
            .filter_map(|l| l.strip_prefix("test result: ok. "))
            .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
            .sum::<usize>();
        stdout_all.push_str(&stdout);
    }
    // A crate whose tests vanished is a failure too.
    assert!(ran >= 25, "only {ran} plugin unit tests ran:\n{stdout_all}");
    Ok(())
}
