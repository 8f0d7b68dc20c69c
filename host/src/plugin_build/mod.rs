//! Building plugin projects into components: `wasmux plugin build` and
//! `wasmux plugin new`. Rust projects are built with cargo for
//! `wasm32-wasip2`, Python ones with componentize-py and JavaScript ones with
//! componentize-js, each tool installed privately (see [`tools`]). The
//! result is `<out>/<name>.wasm` with its manifest as `<out>/<name>.toml`, a
//! pair ready to drop into a plugins folder.
//!
//! Python and JavaScript builds are slow (tens of seconds), so a stamp
//! (`<out>/.<name>.stamp`, a hash of the sources, the WIT, the manifest and
//! the tool versions) skips a build whose inputs did not change; cargo keeps
//! its own fingerprints for Rust.

pub mod project;
pub mod templates;
pub mod tools;
pub mod world;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub use project::{Lang, Project};

/// What to build and where.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The project directory.
    pub dir: PathBuf,
    /// Output directory (default `<dir>/dist`).
    pub out: Option<PathBuf>,
    /// The `wasmux:plugin` WIT directory (default `<dir>/wit` if present,
    /// else the host's embedded copy). Python and JavaScript only.
    pub wit: Option<PathBuf>,
    /// Where build tools are installed (default [`tools::default_dir`]).
    pub tools: Option<PathBuf>,
    /// Cargo target directory for Rust projects (default `<dir>/target`).
    pub cargo_target_dir: Option<PathBuf>,
    /// Build even if the stamp says the output is up to date.
    pub force: bool,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildOutcome {
    /// Plugin name.
    pub name: String,
    /// Language.
    pub lang: Lang,
    /// The component.
    pub wasm: PathBuf,
    /// Its manifest beside it.
    pub manifest: PathBuf,
    /// Component size in bytes.
    pub size: u64,
    /// False when the stamp matched and nothing was built.
    pub built: bool,
    /// Wall-clock time of the build (or the up-to-date check).
    pub elapsed: Duration,
}

/// Build the project in `opts.dir`.
pub fn build(opts: &BuildOptions) -> Result<BuildOutcome> {
    let started = Instant::now();
    // Tools run in other directories: make every path absolute first.
    let abs = |p: &Path| std::path::absolute(p).with_context(|| format!("resolving {}", p.display()));
    let opts = &BuildOptions {
        dir: abs(&opts.dir)?,
        out: opts.out.as_deref().map(abs).transpose()?,
        wit: opts.wit.as_deref().map(abs).transpose()?,
        tools: opts.tools.as_deref().map(abs).transpose()?,
        cargo_target_dir: opts.cargo_target_dir.as_deref().map(abs).transpose()?,
        force: opts.force,
    };
    let project = Project::open(&opts.dir)?;
    let name = project.manifest.name.clone();
    let out = opts.out.clone().unwrap_or_else(|| opts.dir.join("dist"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let wasm = out.join(format!("{name}.wasm"));
    let manifest = out.join(format!("{name}.toml"));
    let built = match project.lang {
        Lang::Rust => {
            build_rust(&project, opts, &wasm)?;
            true
        }
        Lang::Python | Lang::Js => build_componentized(&project, opts, &out, &wasm)?,
    };
    std::fs::copy(&project.manifest_path, &manifest)
        .with_context(|| format!("copying the manifest to {}", manifest.display()))?;
    let size = std::fs::metadata(&wasm)?.len();
    Ok(BuildOutcome {
        name,
        lang: project.lang,
        wasm,
        manifest,
        size,
        built,
        elapsed: started.elapsed(),
    })
}

fn wit_dir(project: &Project, opts: &BuildOptions) -> Option<PathBuf> {
    opts.wit.clone().or_else(|| {
        let own = project.dir.join("wit");
        own.is_dir().then_some(own)
    })
}

/// Python or JavaScript: generated world, stamp check, tool run.
fn build_componentized(project: &Project, opts: &BuildOptions, out: &Path, wasm: &Path) -> Result<bool> {
    let name = &project.manifest.name;
    let tools_dir = opts.tools.clone().unwrap_or_else(tools::default_dir);
    let wit_files = world::package_files(wit_dir(project, opts).as_deref())?;
    let (tool_version, python, js) = match project.lang {
        Lang::Python => {
            let p = tools::python(&tools_dir)?;
            (p.version.clone(), Some(p), None)
        }
        _ => {
            let j = tools::js(&tools_dir)?;
            (j.version.clone(), None, Some(j))
        }
    };
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "wasmux plugin build v1\0{}\0{tool_version}\0",
        project.lang.as_str()
    ));
    for (file, text) in &wit_files {
        hasher.update(format!("{file}\0{text}\0"));
    }
    project.source_hash(&mut hasher)?;
    let stamp_value = hex::encode(hasher.finalize());
    let stamp = out.join(format!(".{name}.stamp"));
    if !opts.force && wasm.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(stamp_value.as_str()) {
        return Ok(false);
    }
    let work = out.join(format!(".{name}.build"));
    let world_dir = world::write(&work.join("wit"), &project.manifest, &wit_files)?;
    let tmp = out.join(format!(".{name}.wasm.tmp"));
    let _ = std::fs::remove_file(&stamp);
    if let Some(python) = python {
        tools::run(
            python
                .command()
                .arg("-q")
                .arg("-d")
                .arg(&world_dir)
                .args(["-w", world::WORLD, "componentize", "-p"])
                .arg(&project.dir)
                .arg("app")
                .arg("-o")
                .arg(&tmp)
                .env("PYTHONPYCACHEPREFIX", work.join("pycache")),
            "componentize-py",
        )?;
    } else if let Some(js) = js {
        tools::run(
            Command::new("node")
                .arg(&js.cli)
                .arg(project.dir.join("app.js"))
                .arg("--wit")
                .arg(&world_dir)
                .args(["-n", world::WORLD, "-o"])
                .arg(&tmp)
                .current_dir(&work),
            "componentize-js",
        )?;
    }
    std::fs::rename(&tmp, wasm)?;
    std::fs::write(&stamp, stamp_value)?;
    Ok(true)
}

/// Rust: `cargo build --release --target wasm32-wasip2` in the project.
fn build_rust(project: &Project, opts: &BuildOptions, wasm: &Path) -> Result<()> {
    let cargo_toml: toml::Table =
        toml::from_str(&std::fs::read_to_string(project.dir.join("Cargo.toml"))?).context("parsing Cargo.toml")?;
    let krate = cargo_toml
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .context("Cargo.toml has no [package] name")?
        .replace('-', "_");
    let target_dir = opts
        .cargo_target_dir
        .clone()
        .unwrap_or_else(|| project.dir.join("target"));
    let mut cmd = Command::new(std::env::var("WASMUX_CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&project.dir)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(&target_dir);
    // A build started from inside another cargo run (tests, build scripts)
    // must not inherit that run's settings.
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_") && key != "CARGO_HOME"
            || ["RUSTFLAGS", "RUSTC", "RUSTC_WRAPPER"].contains(&key.as_str())
        {
            cmd.env_remove(key);
        }
    }
    let status = cmd
        .status()
        .context("running cargo (is Rust installed? https://rustup.rs)")?;
    if !status.success() {
        bail!("cargo build failed (see above); the target needs `rustup target add wasm32-wasip2`");
    }
    let built = target_dir.join("wasm32-wasip2/release").join(format!("{krate}.wasm"));
    std::fs::copy(&built, wasm).with_context(|| format!("copying {}", built.display()))?;
    Ok(())
}
