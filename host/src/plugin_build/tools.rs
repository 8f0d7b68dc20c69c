//! The build tools for Python and JavaScript plugins, installed once per
//! pinned version into a tools directory (never globally): componentize-py
//! with `pip --target`, componentize-js with `npm ci` from the checked-in
//! lock file. A missing interpreter is an error that says how to install it.

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The pip requirements installed for Python plugins.
pub const PY_REQUIREMENTS: &str = include_str!("../../../examples/python/requirements.txt");
/// The npm manifest installed for JavaScript plugins.
pub const JS_PACKAGE: &str = include_str!("../../../examples/javascript/package.json");
/// Its lock file (`npm ci` installs exactly this).
pub const JS_LOCK: &str = include_str!("../../../examples/javascript/package-lock.json");

/// Where tools go by default: `$WASMUX_PLUGIN_TOOLS`, else
/// `~/.cache/wasmux/plugin-tools`.
pub fn default_dir() -> PathBuf {
    std::env::var_os("WASMUX_PLUGIN_TOOLS")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("wasmux/plugin-tools")))
        .unwrap_or_else(|| PathBuf::from(".wasmux-plugin-tools"))
}

/// An installed componentize-py.
pub struct Python {
    /// The interpreter that runs it.
    pub python: String,
    /// The `pip --target` directory holding `componentize_py`.
    pub site: PathBuf,
    /// What the build stamp records about it.
    pub version: String,
}

/// An installed componentize-js.
pub struct Js {
    /// Its CLI script (run with `node`).
    pub cli: PathBuf,
    /// What the build stamp records about it.
    pub version: String,
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..8])
}

/// Run `cmd`, failing with its output if it fails; `what` names it.
pub fn run(cmd: &mut Command, what: &str) -> Result<Output> {
    let out = cmd.output().with_context(|| format!("starting {what}"))?;
    if !out.status.success() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = text.lines().collect();
        bail!(
            "{what} failed ({}):\n{}",
            out.status,
            lines[lines.len().saturating_sub(40)..].join("\n")
        );
    }
    Ok(out)
}

fn version_of(program: &str, args: &[&str], missing: &str) -> Result<String> {
    match Command::new(program).args(args).output() {
        Ok(o) if o.status.success() => {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            Ok(text.trim().to_string())
        }
        Ok(o) => bail!(
            "{missing}\n(`{program} {}` failed: {})",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => bail!("{missing}\n(`{program}`: {e})"),
    }
}

/// An exclusive lock on `path` for the life of the returned file, so
/// concurrent builds (test threads, two terminals) install tools once.
pub fn lock(path: &Path) -> Result<std::fs::File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening lock {}", path.display()))?;
    // Released when `file` closes.
    file.lock().with_context(|| format!("locking {}", path.display()))?;
    Ok(file)
}

/// componentize-py from [`PY_REQUIREMENTS`] in `tools/python-<hash>`.
pub fn python(tools: &Path) -> Result<Python> {
    let python = std::env::var("WASMUX_PYTHON").unwrap_or_else(|_| "python3".into());
    let version = version_of(
        &python,
        &["--version"],
        "Python 3 is needed to build Python plugins (componentize-py runs on it): \
         install it, e.g. `apt-get install python3 python3-pip`, or set WASMUX_PYTHON",
    )?;
    let site = tools.join(format!("python-{}", short_hash(&[PY_REQUIREMENTS, &version])));
    let _guard = lock(&tools.join("python.lock"))?;
    let done = site.join(".installed");
    if !done.exists() {
        version_of(
            &python,
            &["-m", "pip", "--version"],
            "pip is needed to install componentize-py (into a private directory, never system-wide): \
             install it, e.g. `apt-get install python3-pip`",
        )?;
        let tmp = site.with_extension("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        let req = tools.join("requirements.txt");
        std::fs::write(&req, PY_REQUIREMENTS)?;
        eprintln!("installing componentize-py into {}", site.display());
        run(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-warn-script-location",
                ])
                .arg("--target")
                .arg(&tmp)
                .arg("-r")
                .arg(&req),
            "pip install componentize-py",
        )?;
        let _ = std::fs::remove_dir_all(&site);
        std::fs::rename(&tmp, &site)?;
        std::fs::write(&done, PY_REQUIREMENTS)?;
    }
    Ok(Python {
        python,
        site,
        version: format!(
            "{version}; {}",
            PY_REQUIREMENTS
                .lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    })
}

impl Python {
    /// A command running `componentize-py ARGS`.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.arg("-c")
            .arg("import sys; sys.path.insert(0, sys.argv[1]); del sys.argv[1]; sys.argv[0] = 'componentize-py'; from componentize_py import script; sys.exit(script())")
            .arg(&self.site)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("VIRTUAL_ENV");
        cmd
    }
}

/// componentize-js from [`JS_PACKAGE`]/[`JS_LOCK`] in `tools/js-<hash>`.
pub fn js(tools: &Path) -> Result<Js> {
    let node = version_of(
        "node",
        &["--version"],
        "Node.js 18+ is needed to build JavaScript plugins (componentize-js runs on it): \
         install it, e.g. `apt-get install nodejs npm`",
    )?;
    version_of(
        "npm",
        &["--version"],
        "npm is needed to install componentize-js (into a private directory, never globally): \
         install it, e.g. `apt-get install npm`",
    )?;
    let dir = tools.join(format!("js-{}", short_hash(&[JS_PACKAGE, JS_LOCK])));
    let _guard = lock(&tools.join("js.lock"))?;
    let done = dir.join(".installed");
    if !done.exists() {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("package.json"), JS_PACKAGE)?;
        std::fs::write(dir.join("package-lock.json"), JS_LOCK)?;
        eprintln!("installing componentize-js into {} (npm ci)", dir.display());
        let ci = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .output()
            .context("starting npm ci")?;
        if !ci.status.success() {
            // npm 10/11 reject a lock without entries for optional packages
            // of other platforms that a registry did not list ("Missing: …
            // from lock file"); `npm install` still installs the locked
            // versions and only rewrites this private copy of the lock.
            eprintln!("npm ci refused the lock; installing the locked versions with npm install");
            run(
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(&dir),
                "npm install (componentize-js)",
            )?;
        }
        std::fs::write(&done, JS_LOCK)?;
    }
    let cli = dir.join("node_modules/@bytecodealliance/componentize-js/src/cli.js");
    if !cli.exists() {
        bail!(
            "{} is missing after npm ci; delete {} and build again",
            cli.display(),
            dir.display()
        );
    }
    Ok(Js {
        cli,
        version: format!("node {node}; componentize-js lock {}", short_hash(&[JS_LOCK])),
    })
}
