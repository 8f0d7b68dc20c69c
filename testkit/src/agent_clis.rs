//! The pinned agent CLIs, installed privately under `target/agent-clis`.
//!
//! `tests/agents/package.json` and its `package-lock.json` pin the exact
//! versions; [`bin_dir`] copies both into `target/agent-clis` and runs
//! `npm ci` there, once: a stamp file holds the lock file's hash and a later
//! call with the same lock does nothing. Node.js and npm must be installed;
//! without them the call fails with the install hint (the tests fail, they
//! never skip).
//!
//! OpenCode is pinned as its `opencode-linux-x64` binary package (the
//! `opencode-ai` wrapper's lock needs every platform's package, which the
//! registry mirror here lacks), so these tests run on Linux x86-64.

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One install at a time within a test binary.
static INSTALL: Mutex<()> = Mutex::new(());

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `target/` (or `$CARGO_TARGET_DIR`).
pub fn target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
}

/// Where the CLIs are installed.
pub fn install_dir() -> PathBuf {
    target().join("agent-clis")
}

/// The checked-in `package.json` + lock file.
pub fn manifest_dir() -> PathBuf {
    repo().join("tests/agents")
}

/// The pinned version of npm package `package` (from the lock file).
pub fn pinned_version(package: &str) -> Result<String> {
    let lock: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest_dir().join("package-lock.json"))?)?;
    lock["packages"][format!("node_modules/{package}")]["version"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("{package} is not in tests/agents/package-lock.json"))
}

/// The commands [`bin_dir`] provides.
pub const PROGRAMS: [&str; 5] = ["claude", "codex", "gemini", "opencode", "pi"];

/// `target/agent-clis/node_modules/.bin` with the pinned CLIs installed
/// ([`PROGRAMS`]), installing them first if the lock file changed.
pub fn bin_dir() -> Result<PathBuf> {
    let _one = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = install_dir();
    let bin = dir.join("node_modules/.bin");
    let src = manifest_dir();
    let lock = std::fs::read(src.join("package-lock.json")).context("reading tests/agents/package-lock.json")?;
    let manifest = std::fs::read(src.join("package.json")).context("reading tests/agents/package.json")?;
    let mut h = Sha256::new();
    h.update(&manifest);
    h.update(&lock);
    let hash = hex::encode(h.finalize());
    let stamp = dir.join("installed.stamp");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == hash) && bin.is_dir() {
        return Ok(bin);
    }
    let node = Command::new("node").arg("--version").output();
    let npm = Command::new("npm").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) || !npm.is_ok_and(|o| o.status.success()) {
        bail!(
            "node and npm are needed to install the agent CLIs the provider tests run \
             (Node.js 20+ with npm: apt-get install nodejs npm, or https://nodejs.org)"
        );
    }
    std::fs::create_dir_all(&dir)?;
    let _ = std::fs::remove_file(&stamp);
    std::fs::write(dir.join("package.json"), &manifest)?;
    std::fs::write(dir.join("package-lock.json"), &lock)?;
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .env("npm_config_update_notifier", "false")
        .output()
        .context("running npm ci in target/agent-clis (is npm installed?)")?;
    if !out.status.success() {
        bail!(
            "npm ci in {} failed:\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // OpenCode's platform package ships the binary without a `bin` entry
    // (its `opencode-ai` wrapper links it at postinstall).
    let opencode = bin.join("opencode");
    let _ = std::fs::remove_file(&opencode);
    std::os::unix::fs::symlink("../opencode-linux-x64/bin/opencode", &opencode)
        .context("linking node_modules/.bin/opencode")?;
    for program in PROGRAMS {
        let path = bin.join(program);
        // A scratch HOME: some CLIs write their config dir on any start.
        let ok = Command::new(&path)
            .arg("--version")
            .env("HOME", dir.join("version-home"))
            .output();
        if !ok.as_ref().is_ok_and(|o| o.status.success()) {
            bail!("{} --version failed after npm ci: {ok:?}", path.display());
        }
    }
    std::fs::write(&stamp, &hash)?;
    Ok(bin)
}

/// SIGKILL every process whose command line names a path under `dir`
/// (e.g. the `codex app-server --managed-daemon` a test's `CODEX_HOME`
/// started, which outlives the CLI); how many were signalled.
pub fn kill_processes_under(dir: &Path) -> usize {
    let needle = dir.display().to_string();
    let mut killed = 0;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmd.contains(&needle) && pid != std::process::id() as i32 {
            // SAFETY: signalling a process the test's own agent started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed += 1;
        }
    }
    killed
}
