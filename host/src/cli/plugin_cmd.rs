//! `wasmux plugin …`: tools for plugin authors. `new` writes a buildable
//! project (Rust, Python or JavaScript; provider, webhook or adapter),
//! `build` turns a project into `<name>.wasm` + `<name>.toml`, and `test`
//! replays a transcript, protocol log or raw terminal output through a
//! provider without a daemon and prints the events the daemon would publish
//! (`--bench N` also times the calls).

use clap::Subcommand;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::CliError;
use crate::events::{Envelope, Event, StateInfo};
use crate::plugin_build::{self, Lang, templates};
use crate::plugins::cache::CompileCache;
use crate::plugins::engine::PluginEngine;
use crate::plugins::loader::{self, Grant, PluginLimits};
use crate::plugins::provider_instance::{self, LaunchRequest, ProviderInstance, Update};
use crate::plugins::{Kind, PluginError};
use crate::store::Store;

/// Plugin author commands.
#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// Replay input through a provider and print its events (JSON lines).
    Test(TestArgs),
    /// Write a new plugin project: `wasmux plugin new NAME --kind K --lang L`.
    New(NewArgs),
    /// Build the project in DIR (default `.`) into DIR/dist/<name>.wasm.
    Build(BuildArgs),
}

/// Options of `wasmux plugin new`.
#[derive(clap::Args, Debug)]
pub struct NewArgs {
    /// Plugin name (`[a-z0-9-]{1,64}`); also the project folder's default name.
    pub name: String,
    /// provider, webhook or adapter.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// rust, python or js.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// Project folder (default: ./NAME); must be new or empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The Rust SDK to depend on by path (it is not published; default: the
    /// `plugins/sdk` of the checkout this binary was built from).
    #[arg(long)]
    pub sdk: Option<PathBuf>,
}

/// Options of `wasmux plugin build`.
#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// The project folder (with `<name>.toml` and Cargo.toml, app.py or app.js).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Where `<name>.wasm` and `<name>.toml` go (default DIR/dist).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The wasmux:plugin WIT folder (Python/JS; default DIR/wit, else the host's own copy).
    #[arg(long)]
    pub wit: Option<PathBuf>,
    /// Where componentize-py/-js are installed (default $WASMUX_PLUGIN_TOOLS
    /// or ~/.cache/wasmux/plugin-tools).
    #[arg(long)]
    pub tools: Option<PathBuf>,
    /// Cargo target folder for Rust projects (default DIR/target).
    #[arg(long)]
    pub cargo_target_dir: Option<PathBuf>,
    /// Rebuild even when sources, WIT and tools are unchanged.
    #[arg(long)]
    pub force: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `wasmux plugin test`.
#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// The provider component.
    pub plugin: PathBuf,
    /// Its manifest (default: the same path with `.toml`).
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// Transcript lines to feed (`feed-transcript`).
    #[arg(long)]
    pub transcript: Option<PathBuf>,
    /// Protocol lines to feed (`feed-protocol`).
    #[arg(long)]
    pub protocol: Option<PathBuf>,
    /// Raw terminal output to feed (`feed-output`, 4 KiB at a time).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Also show what `encode-prompt` types for this text.
    #[arg(long)]
    pub prompt: Option<String>,
    /// Call `process-exited` with this status at the end.
    #[arg(long)]
    pub exit: Option<i32>,
    /// Config values `KEY=VALUE` (as the operator would set them).
    #[arg(long = "config")]
    pub config: Vec<String>,
    /// Session name in the launch request.
    #[arg(long, default_value = "test")]
    pub session: String,
    /// Working directory in the launch request.
    #[arg(long, default_value = "/tmp")]
    pub cwd: String,
    /// Session UUID in the launch request.
    #[arg(long, default_value = "00000000-0000-4000-8000-000000000000")]
    pub uuid: String,
    /// Print only events (no launch spec, actions or states as separate lines).
    #[arg(long)]
    pub events_only: bool,
    /// After the replay, time N more `feed-output` calls with the `--output`
    /// file's first 4 KiB (and N `encode-prompt` calls) and print the stats.
    #[arg(long, value_name = "N")]
    pub bench: Option<usize>,
}

/// Run a plugin command.
pub async fn run(cmd: PluginCommand) -> Result<ExitCode, CliError> {
    match cmd {
        PluginCommand::Test(a) => test(a).await.map_err(|e| CliError::Other(e.to_string())),
        PluginCommand::New(a) => new(a),
        PluginCommand::Build(a) => build(a).await,
    }
}

fn new(a: NewArgs) -> Result<ExitCode, CliError> {
    let dir = a.dir.unwrap_or_else(|| PathBuf::from(&a.name));
    let opts = templates::NewOptions {
        name: a.name,
        kind: a.kind,
        lang: a.lang,
        dir: dir.clone(),
        sdk: a.sdk.unwrap_or_else(templates::default_sdk),
    };
    let files = templates::new_project(&opts).map_err(|e| CliError::Other(format!("{e:#}")))?;
    println!(
        "created {} ({} {} plugin):",
        dir.display(),
        a.lang.as_str(),
        a.kind.as_str()
    );
    for f in files {
        println!("  {f}");
    }
    println!("next: wasmux plugin build {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

async fn build(a: BuildArgs) -> Result<ExitCode, CliError> {
    let opts = plugin_build::BuildOptions {
        dir: a.dir,
        out: a.out,
        wit: a.wit,
        tools: a.tools,
        cargo_target_dir: a.cargo_target_dir,
        force: a.force,
    };
    let outcome = tokio::task::spawn_blocking(move || plugin_build::build(&opts))
        .await
        .map_err(|e| CliError::Other(e.to_string()))?
        .map_err(|e| CliError::Other(format!("build failed: {e:#}")))?;
    if a.json {
        println!(
            "{}",
            json!({"name": outcome.name, "lang": outcome.lang.as_str(), "wasm": outcome.wasm,
                   "manifest": outcome.manifest, "size": outcome.size, "built": outcome.built,
                   "ms": outcome.elapsed.as_millis() as u64})
        );
    } else {
        println!(
            "{} {} ({} bytes, {}) in {} ms",
            if outcome.built { "built" } else { "up to date:" },
            outcome.wasm.display(),
            outcome.size,
            outcome.lang.as_str(),
            outcome.elapsed.as_millis()
        );
    }
    Ok(ExitCode::SUCCESS)
}

struct Printer {
    session: String,
    seq: u64,
    events_only: bool,
}

impl Printer {
    fn event(&mut self, event: Event) {
        self.seq += 1;
        println!("{}", Envelope::new(&self.session, self.seq, 0, event).json());
    }

    fn note(&self, v: Value) {
        if !self.events_only {
            println!("{v}");
        }
    }

    fn update(&mut self, u: Update) {
        for e in &u.events {
            self.event(Event::from(e));
        }
        if let Some(s) = &u.state {
            self.event(Event::state(&StateInfo::from(s)));
        }
        if !u.actions.is_empty() {
            self.note(json!({"actions": format!("{:?}", u.actions)}));
        }
    }
}

async fn test(a: TestArgs) -> Result<ExitCode, PluginError> {
    let mut input = loader::read_files(&a.plugin).or_else(|e| match &a.manifest {
        Some(_) => Ok(loader::LoadInput {
            wasm: std::fs::read(&a.plugin)
                .map_err(|e| PluginError::Io(format!("reading {}: {e}", a.plugin.display())))?,
            manifest: String::new(),
            source: loader::Source::File(a.plugin.clone()),
        }),
        None => Err(e),
    })?;
    if let Some(m) = &a.manifest {
        input.manifest =
            std::fs::read_to_string(m).map_err(|e| PluginError::Io(format!("reading {}: {e}", m.display())))?;
    }
    let manifest = loader::parse_manifest(&input)?;
    if manifest.kind != Kind::Provider {
        return Err(PluginError::Io(format!(
            "`plugin test` replays providers; {} is a {}",
            manifest.name,
            manifest.kind.as_str()
        )));
    }
    let mut grant = Grant {
        capabilities: manifest.capabilities.clone(),
        ..Grant::default()
    };
    for kv in &a.config {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| PluginError::Io(format!("--config {kv:?} must be KEY=VALUE")))?;
        grant.config.insert(k.into(), v.into());
    }
    let engine = PluginEngine::new().map_err(|e| PluginError::Io(e.to_string()))?;
    let cache_dir = dirs::cache_dir().map(|d| d.join("wasmux/components"));
    let cache = CompileCache::new(cache_dir, engine.fingerprint()).map_err(|e| PluginError::Io(e.to_string()))?;
    let store = Arc::new(Store::in_memory().map_err(|e| PluginError::Io(e.to_string()))?);
    let limits = PluginLimits {
        deadline: std::time::Duration::from_millis(1000),
        memory_bytes: 64 << 20,
    };
    let plugin = Arc::new(tokio::task::block_in_place(|| {
        loader::load(&engine.engine, &cache, store, input, manifest, grant, limits)
    })?);
    let req = LaunchRequest {
        session: a.session.clone(),
        cwd: a.cwd.clone(),
        args: vec![],
        env: vec![],
        cols: 120,
        rows: 40,
        session_uuid: a.uuid.clone(),
    };
    let mut out = Printer {
        session: a.session.clone(),
        seq: 0,
        events_only: a.events_only,
    };
    match provider_instance::launch(&plugin, &req).await {
        Ok(spec) => out.note(json!({"launch": {
            "command": spec.command, "env": spec.env, "bridge": spec.bridge,
            "transcript": spec.transcript.map(|t| t.pattern), "screenPollMs": spec.screen_poll_ms,
            "startup": format!("{:?}", spec.startup)}})),
        Err(e) => out.note(json!({"launchError": e.to_string()})),
    }
    let mut p = ProviderInstance::new(plugin, req).await?;
    if let Some(text) = &a.prompt {
        match p.encode_prompt(text).await? {
            Ok(actions) => out.note(json!({"prompt": format!("{actions:?}")})),
            Err(e) => out.note(json!({"promptError": e.message})),
        }
    }
    let read =
        |path: &PathBuf| std::fs::read(path).map_err(|e| PluginError::Io(format!("reading {}: {e}", path.display())));
    if let Some(path) = &a.output {
        for chunk in read(path)?.chunks(4096) {
            out.update(p.feed_output(chunk).await?);
        }
    }
    for (path, protocol) in [(&a.transcript, false), (&a.protocol, true)] {
        let Some(path) = path else { continue };
        for line in String::from_utf8_lossy(&read(path)?)
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let u = if protocol {
                p.feed_protocol(line).await?
            } else {
                p.feed_transcript(line).await?
            };
            out.update(u);
        }
    }
    if let Some(code) = a.exit {
        out.update(p.process_exited(Some(code)).await?);
    }
    if let Some(n) = a.bench {
        let sample = match &a.output {
            Some(path) => read(path)?.into_iter().take(4096).collect(),
            None => b"bench".to_vec(),
        };
        bench(&mut p, &sample, a.prompt.as_deref().unwrap_or("bench"), n.max(1)).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Time `n` `feed-output` and `encode-prompt` calls; print one JSON line.
async fn bench(p: &mut ProviderInstance, sample: &[u8], prompt: &str, n: usize) -> Result<(), PluginError> {
    fn stats(mut us: Vec<f64>) -> Value {
        us.sort_by(|a, b| a.total_cmp(b));
        let mean = us.iter().sum::<f64>() / us.len() as f64;
        let at = |q: f64| us[((us.len() - 1) as f64 * q).round() as usize];
        json!({"meanUs": (mean * 10.0).round() / 10.0, "p50Us": at(0.5), "p99Us": at(0.99)})
    }
    let (mut feed, mut encode) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let t = std::time::Instant::now();
        let _ = p.encode_prompt(prompt).await?;
        encode.push(t.elapsed().as_secs_f64() * 1e6);
        let t = std::time::Instant::now();
        p.feed_output(sample).await?;
        feed.push(t.elapsed().as_secs_f64() * 1e6);
    }
    println!(
        "{}",
        json!({"bench": {"calls": n, "bytes": sample.len(), "feedOutput": stats(feed), "encodePrompt": stats(encode)}})
    );
    Ok(())
}
