//! Plugins for a test daemon's plugins folder.

use anyhow::Result;
use std::path::{Path, PathBuf};

/// Directory of every plugin built by host/build.rs.
pub fn built_plugins() -> PathBuf {
    PathBuf::from(wasmux::plugins::embedded::BUILT_PLUGINS_DIR)
}

/// Copy built plugin `built` into `dir` as `name`, rewriting its manifest's
/// name and appending `extra` TOML (e.g. a `[config]` table).
pub fn install_plugin(dir: &Path, built: &str, name: &str, extra: &str) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let src = built_plugins();
    let manifest = std::fs::read_to_string(src.join(format!("{built}.toml")))?;
    let mut out = String::new();
    for line in manifest.lines() {
        if line.starts_with("name =") {
            out.push_str(&format!("name = \"{name}\"\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(extra);
    // Manifest first, then the wasm: the daemon picks the pair up whole.
    std::fs::write(dir.join(format!("{name}.toml")), out)?;
    let tmp = dir.join(format!(".{name}.wasm.tmp"));
    std::fs::copy(src.join(format!("{built}.wasm")), &tmp)?;
    std::fs::rename(tmp, dir.join(format!("{name}.wasm")))?;
    Ok(())
}
