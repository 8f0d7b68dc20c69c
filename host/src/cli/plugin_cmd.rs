//! `wasmux plugin …`: tools for plugin authors. `test` replays a transcript,
//! protocol log or raw terminal output through a provider without a daemon
//! and prints the events the daemon would publish.

use clap::Subcommand;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::CliError;
use crate::events::{agent_event, event_json, state_event, state_names};
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
}

/// Run a plugin command.
pub async fn run(cmd: PluginCommand) -> Result<ExitCode, CliError> {
    match cmd {
        PluginCommand::Test(a) => test(a).await.map_err(|e| CliError::Other(e.to_string())),
    }
}

struct Printer {
    session: String,
    seq: u64,
    events_only: bool,
}

impl Printer {
    fn event(&mut self, kind: &str, fields: Value) {
        self.seq += 1;
        println!("{}", event_json(self.seq, &self.session, 0, kind, fields));
    }

    fn note(&self, v: Value) {
        if !self.events_only {
            println!("{v}");
        }
    }

    fn update(&mut self, u: Update) {
        for e in &u.events {
            let (k, f) = agent_event(e);
            self.event(k, f);
        }
        if let Some(s) = &u.state {
            let (value, source) = state_names(s);
            let (k, f) = state_event(&value, &source, s.tool.as_deref());
            self.event(k, f);
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
    Ok(ExitCode::SUCCESS)
}
