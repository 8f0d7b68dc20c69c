//! `wasmux plugin new`: a buildable project for any kind and language — a
//! manifest, source with every function of the world filled in with a
//! small working example, a fixture to test it with, the WIT it builds
//! against, and a README with the build and test commands.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

use super::project::Lang;
use super::world;
use crate::plugins::Kind;
use crate::plugins::manifest::valid_name;

/// Files of one template: path in the project and text with placeholders.
type Files = &'static [(&'static str, &'static str)];

macro_rules! t {
    ($path:literal) => {
        include_str!(concat!("../../templates/", $path))
    };
}

/// A worked example under `examples/` that doubles as a template: one
/// source, generalised by [`from_example`] before the placeholders are filled.
macro_rules! example {
    ($path:literal) => {
        include_str!(concat!("../../../examples/", $path))
    };
}

/// The example webhooks' own names and build paths, and the WIT version in
/// their imports, as template placeholders.
fn from_example(text: &str) -> String {
    text.replace("hmac-py", "{{name}}")
        .replace("hmac-js", "{{name}}")
        .replace(" examples/python/webhook`", "`")
        .replace(" examples/javascript/webhook`", "`")
        .replace(&format!("@{}\"", crate::plugins::loader::WIT_VERSION), "@{{wit}}\"")
}

fn files(lang: Lang, kind: Kind) -> Files {
    match (lang, kind) {
        (Lang::Rust, Kind::Provider) => &[
            ("Cargo.toml", t!("rust/Cargo.toml")),
            ("src/lib.rs", t!("rust/provider/lib.rs")),
        ],
        (Lang::Rust, Kind::Webhook) => &[
            ("Cargo.toml", t!("rust/Cargo.toml")),
            ("src/lib.rs", t!("rust/webhook/lib.rs")),
        ],
        (Lang::Rust, Kind::Adapter) => &[
            ("Cargo.toml", t!("rust/Cargo.toml")),
            ("src/lib.rs", t!("rust/adapter/lib.rs")),
        ],
        (Lang::Python, Kind::Provider) => &[
            ("app.py", t!("python/provider/app.py")),
            ("agent_provider.py", t!("python/provider/agent_provider.py")),
        ],
        (Lang::Python, Kind::Webhook) => &[("app.py", example!("python/webhook/app.py"))],
        (Lang::Python, Kind::Adapter) => &[
            ("app.py", t!("python/adapter/app.py")),
            ("event_adapter.py", t!("python/adapter/event_adapter.py")),
        ],
        (Lang::Js, Kind::Provider) => &[("app.js", t!("js/provider/app.js"))],
        (Lang::Js, Kind::Webhook) => &[("app.js", example!("javascript/webhook/app.js"))],
        (Lang::Js, Kind::Adapter) => &[("app.js", t!("js/adapter/app.js"))],
    }
}

fn manifest(kind: Kind) -> &'static str {
    match kind {
        Kind::Provider => t!("manifest-provider.toml"),
        Kind::Webhook => t!("manifest-webhook.toml"),
        Kind::Adapter => t!("manifest-adapter.toml"),
    }
}

fn fixture(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Provider => ("fixtures/sample-output.raw", t!("sample-output.raw")),
        Kind::Webhook => ("fixtures/request.json", t!("webhook-request.json")),
        Kind::Adapter => ("fixtures/request.json", t!("adapter-request.json")),
    }
}

/// The SDK directory of the wasmux checkout this binary was built from.
pub fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk")
}

/// What `new` needs.
pub struct NewOptions {
    /// Plugin name (`[a-z0-9-]{1,64}`).
    pub name: String,
    /// Kind.
    pub kind: Kind,
    /// Language.
    pub lang: Lang,
    /// Project directory (must not exist or be empty).
    pub dir: PathBuf,
    /// The Rust SDK (Rust projects only).
    pub sdk: PathBuf,
}

/// Write a new project; returns the files written (relative paths).
pub fn new_project(opts: &NewOptions) -> Result<Vec<String>> {
    if !valid_name(&opts.name) {
        bail!("plugin name `{}` must be 1-64 characters of a-z, 0-9 and -", opts.name);
    }
    if opts.dir.exists() && std::fs::read_dir(&opts.dir)?.next().is_some() {
        bail!("{} exists and is not empty", opts.dir.display());
    }
    let sdk = if opts.lang == Lang::Rust {
        let sdk = opts.sdk.canonicalize().with_context(|| {
            format!(
                "the Rust SDK is not at {} (it is not on crates.io; pass --sdk <wasmux checkout>/plugins/sdk)",
                opts.sdk.display()
            )
        })?;
        sdk.display().to_string()
    } else {
        String::new()
    };
    let wit = world::package_version(&world::package_files(None)?)?;
    let fill = |text: &str| {
        text.replace("{{name}}", &opts.name)
            .replace("{{kind}}", opts.kind.as_str())
            .replace("{{sdk}}", &sdk)
            .replace("{{wit}}", &wit)
    };
    let mut written = Vec::new();
    let mut write = |rel: &str, text: String| -> Result<()> {
        let path = opts.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(rel.to_string());
        Ok(())
    };
    write(&format!("{}.toml", opts.name), fill(manifest(opts.kind)))?;
    for (rel, text) in files(opts.lang, opts.kind) {
        write(rel, fill(&from_example(text)))?;
    }
    let (rel, text) = fixture(opts.kind);
    write(rel, text.to_string())?;
    if opts.lang != Lang::Rust {
        for (file, text) in world::EMBEDDED_WIT {
            write(&format!("wit/{file}"), text.to_string())?;
        }
    }
    write("README.md", readme(opts))?;
    write(".gitignore", "dist/\ntarget/\n__pycache__/\nnode_modules/\n".into())?;
    Ok(written)
}

fn readme(opts: &NewOptions) -> String {
    let name = &opts.name;
    let (lang, tool) = match opts.lang {
        Lang::Rust => (
            "Rust",
            "cargo for `wasm32-wasip2` (`rustup target add wasm32-wasip2`), with the wasmux SDK by path",
        ),
        Lang::Python => (
            "Python",
            "componentize-py, which `wasmux plugin build` installs privately with pip (needs python3 and pip)",
        ),
        Lang::Js => (
            "JavaScript",
            "componentize-js, which `wasmux plugin build` installs privately with npm ci (needs node 18+ and npm)",
        ),
    };
    let try_it = match opts.kind {
        Kind::Provider => format!(
            "Replay the fixture through it (no daemon):\n\n```sh\nwasmux plugin test dist/{name}.wasm --prompt hello --output fixtures/sample-output.raw\n```\n\n\
             Then drop it in and start a session: `wasmux new s1 --provider {name}` and `wasmux send s1 hi --wait`."
        ),
        Kind::Webhook => format!(
            "Grant it and give it its secret in the daemon's config:\n\n```toml\n[plugins.{name}]\ngrants = [\"crypto\", \"enqueue\"]\nsecrets = {{ signing = \"env:{upper}_SECRET\" }}\n```\n\n\
             Then send a signed request:\n\n```sh\nsig=$(openssl dgst -sha256 -hmac \"$SECRET\" < fixtures/request.json | sed 's/.* //')\n\
             curl -s -X POST localhost:7420/webhooks/{name} -H \"X-Signature: sha256=$sig\" --data-binary @fixtures/request.json\n```",
            upper = name.to_uppercase().replace('-', "_")
        ),
        Kind::Adapter => format!(
            "Read a session's events through it: `curl -s -H \"Authorization: Bearer $TOKEN\" \"localhost:7420/sessions/s1/events?format={name}&follow=false\"`."
        ),
    };
    format!(
        "# {name}\n\nA wasmux {kind} plugin in {lang}, generated by `wasmux plugin new`.\n\n\
         ## Build\n\n```sh\nwasmux plugin build      # -> dist/{name}.wasm + dist/{name}.toml\nwasmux plugins check dist/{name}.wasm\n```\n\n\
         The build uses {tool}. {wit}\n\n## Try it\n\n{try_it}\n\n\
         Install: copy `dist/{name}.wasm` and `dist/{name}.toml` into the daemon's plugins folder\n\
         (`~/.local/state/wasmux/plugins/`); it loads within a second. Plugin logs: `RUST_LOG=info,plugin=debug`.\n\
         See docs/plugins.md in the wasmux repository for the worlds, capabilities and limits.\n",
        kind = opts.kind.as_str(),
        wit = if opts.lang == Lang::Rust {
            "The SDK path is in `Cargo.toml` (the SDK is not published)."
        } else {
            "`wit/` is the `wasmux:plugin` package it builds against; the build generates a world importing only the interfaces the manifest's `capabilities` name."
        },
    )
}
