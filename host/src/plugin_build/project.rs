//! A plugin project on disk: its manifest, its language, and the files
//! whose content decides whether a build is up to date.

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

use crate::plugins::Manifest;

/// The language a project is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust with the wasmux SDK (`Cargo.toml`), built by cargo.
    Rust,
    /// Python (`app.py`), built by componentize-py.
    Python,
    /// JavaScript (`app.js`), built by componentize-js.
    Js,
}

impl Lang {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }
}

/// A project: directory, manifest and language.
pub struct Project {
    /// The project directory.
    pub dir: PathBuf,
    /// Path of the manifest (`<name>.toml`).
    pub manifest_path: PathBuf,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// Its language.
    pub lang: Lang,
}

/// Directories never hashed or searched: build output and installed tools.
const SKIP_DIRS: &[&str] = &["dist", "target", "node_modules", "__pycache__", "wit"];

impl Project {
    /// Open the project in `dir`: exactly one `*.toml` there that is a
    /// plugin manifest, and `Cargo.toml`, `app.py` or `app.js` beside it.
    pub fn open(dir: &Path) -> Result<Project> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if !name.ends_with(".toml") || name == "Cargo.toml" || name == "pyproject.toml" {
                continue;
            }
            let text = std::fs::read_to_string(&path)?;
            // A TOML file with `kind` and `wit` is meant as a manifest: report its errors.
            let parsed: Option<toml::Table> = toml::from_str(&text).ok();
            if parsed
                .as_ref()
                .is_some_and(|t| t.contains_key("kind") && t.contains_key("wit"))
            {
                let manifest = Manifest::parse(&text, &path.display().to_string())?;
                found.push((path, manifest));
            }
        }
        let (manifest_path, manifest) = match found.len() {
            1 => found.remove(0),
            0 => bail!(
                "{} has no plugin manifest (`<name>.toml` with name, kind, version, wit); `wasmux plugin new` makes one",
                dir.display()
            ),
            _ => bail!(
                "{} has several plugin manifests ({}); keep one per project",
                dir.display(),
                found
                    .iter()
                    .map(|(p, _)| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let lang = if dir.join("Cargo.toml").exists() {
            Lang::Rust
        } else if dir.join("app.py").exists() {
            Lang::Python
        } else if dir.join("app.js").exists() {
            Lang::Js
        } else {
            bail!(
                "cannot tell the language of {}: expected Cargo.toml (Rust), app.py (Python) or app.js (JavaScript)",
                dir.display()
            );
        };
        Ok(Project {
            dir: dir.to_path_buf(),
            manifest_path,
            manifest,
            lang,
        })
    }

    /// SHA-256 over every source file (relative path and content), skipping
    /// build output, tools and hidden entries.
    pub fn source_hash(&self, hasher: &mut Sha256) -> Result<()> {
        let mut files = Vec::new();
        collect(&self.dir, &self.dir, &mut files)?;
        files.sort();
        for rel in files {
            hasher.update(rel.to_string_lossy().as_bytes());
            hasher.update([0]);
            hasher.update(std::fs::read(self.dir.join(&rel))?);
            hasher.update([0]);
        }
        Ok(())
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let ty = entry.file_type()?;
        if ty.is_dir() {
            if !SKIP_DIRS.contains(&name.as_str()) {
                collect(root, &path, out)?;
            }
        } else if ty.is_file() {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}
