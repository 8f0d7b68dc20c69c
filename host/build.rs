//! Builds every wasm plugin of the `plugins/` workspace (first-party plugins
//! and the test plugins under `tests/plugins/`) for `wasm32-wasip2` with a
//! nested cargo into `target/wasm-plugins`, then copies each `.wasm` and its
//! manifest into `OUT_DIR/plugins/` for embedding and tests.
//!
//! Each plugin is built by its own cargo invocation: building them together
//! would unify the SDK's world features across plugins.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// (cargo package, manifest path relative to the repo root, output name).
const PLUGINS: &[(&str, &str, &str)] = &[
    ("wasmux-shell", "plugins/shell/shell.toml", "shell"),
    ("wasmux-demo", "plugins/demo/demo.toml", "demo"),
    ("wasmux-pi", "plugins/pi/pi.toml", "pi"),
    ("wasmux-acp", "plugins/acp/acp.toml", "acp"),
    (
        "wasmux-webhook-generic",
        "plugins/webhook-generic/generic.toml",
        "generic",
    ),
    ("wasmux-webhook-github", "plugins/webhook-github/github.toml", "github"),
    ("wasmux-webhook-slack", "plugins/webhook-slack/slack.toml", "slack"),
    (
        "wasmux-adapter-vercel-ai",
        "plugins/adapter-vercel-ai/vercel-ai.toml",
        "vercel-ai",
    ),
    ("wasmux-adapter-jsonl", "plugins/adapter-jsonl/jsonl.toml", "jsonl"),
    (
        "wasmux-claude-code",
        "plugins/claude-code/claude-code.toml",
        "claude-code",
    ),
    ("wasmux-codex", "plugins/codex/codex.toml", "codex"),
    ("hostile", "tests/plugins/hostile/hostile.toml", "hostile"),
    ("greedy", "tests/plugins/greedy/greedy.toml", "greedy"),
    ("trapper", "tests/plugins/trapper/trapper.toml", "trapper"),
];

fn main() -> Result<()> {
    let host_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = host_dir.parent().context("host/ has a parent")?.to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?).join("plugins");
    std::fs::create_dir_all(&out_dir)?;
    for watched in ["wit", "plugins", "tests/plugins"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    check_wasm_target()?;
    // A target dir of its own, stable across build-script reruns, so plugin
    // builds are incremental and never wait on the outer cargo's lock.
    let target_dir = target_root(&out_dir).join("wasm-plugins");
    for (package, manifest, name) in PLUGINS {
        build_plugin(&root, &target_dir, package)?;
        let wasm = target_dir
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", package.replace('-', "_")));
        copy_if_changed(&wasm, &out_dir.join(format!("{name}.wasm")))?;
        copy_if_changed(&root.join(manifest), &out_dir.join(format!("{name}.toml")))?;
    }
    println!("cargo:rustc-env=BUILT_WASMUX_PLUGINS={}", out_dir.display());
    Ok(())
}

/// `target/` of the outer build, found from `OUT_DIR`
/// (`target/<profile>/build/<pkg>-<hash>/out/plugins`).
fn target_root(out_dir: &Path) -> PathBuf {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    out_dir
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(|build| build.parent())
        .and_then(|profile| profile.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out_dir.join("target"))
}

/// Makes sure `wasm32-wasip2` is installed for the toolchain in use.
///
/// rustup adds `rust-toolchain.toml`'s targets only when it installs a
/// toolchain, not to one already installed, so a fresh clone on a machine
/// with stable Rust lacks the target. When rustup is there we add it (and
/// say so); otherwise we stop with the install hint.
fn check_wasm_target() -> Result<()> {
    if wasm_target_installed()? {
        return Ok(());
    }
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").ok();
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", "wasm32-wasip2"]).stdout(std::io::stderr());
    if let Some(tc) = &toolchain {
        cmd.args(["--toolchain", tc]);
    }
    eprintln!("wasmux build: installing the Rust target wasm32-wasip2 through rustup");
    let added = cmd.status().map(|s| s.success()).unwrap_or(false);
    if added && wasm_target_installed()? {
        println!(
            "cargo:warning=the Rust target `wasm32-wasip2` was not installed: added it with `rustup target add wasm32-wasip2`"
        );
        return Ok(());
    }
    bail!(
        "the Rust target `wasm32-wasip2` is not installed and could not be added through rustup; \
         wasmux builds its plugins for it.\n\
         Add it with:  rustup target add wasm32-wasip2"
    );
}

fn wasm_target_installed() -> Result<bool> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc).args(["--print", "sysroot"]).output()?;
    let sysroot = String::from_utf8(sysroot.stdout)?.trim().to_string();
    Ok(Path::new(&sysroot).join("lib/rustlib/wasm32-wasip2").exists())
}

fn build_plugin(root: &Path, target_dir: &Path, package: &str) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root.join("plugins"))
        .args(["build", "--release", "--target", "wasm32-wasip2", "-p", package])
        .arg("--target-dir")
        .arg(target_dir);
    // Don't leak the outer build's settings into the wasm build.
    for (key, _) in std::env::vars() {
        let leaks = key.starts_with("CARGO_") && key != "CARGO_HOME"
            || key == "RUSTFLAGS"
            || key == "RUSTC_WRAPPER"
            || key == "RUSTC_WORKSPACE_WRAPPER"
            || key == "RUSTC";
        if leaks {
            cmd.env_remove(key);
        }
    }
    let status = cmd
        .status()
        .with_context(|| format!("running cargo to build plugin `{package}`"))?;
    if !status.success() {
        bail!("building plugin `{package}` for wasm32-wasip2 failed (see the cargo output above)");
    }
    Ok(())
}

fn copy_if_changed(from: &Path, to: &Path) -> Result<()> {
    let new = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    if std::fs::read(to).ok().as_deref() != Some(&new[..]) {
        std::fs::write(to, new).with_context(|| format!("writing {}", to.display()))?;
    }
    Ok(())
}
