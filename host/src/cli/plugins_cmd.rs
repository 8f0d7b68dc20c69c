//! `wasmux plugins ls | reload | check`.

use clap::Subcommand;
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;

use super::CliError;

/// Plugin subcommands.
#[derive(Subcommand, Debug)]
pub enum PluginsCommand {
    /// List loaded plugins (and files that failed to load).
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rescan the plugins folder and reload every file.
    Reload {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate a component against its manifest and world without a daemon.
    Check {
        /// The component (`.wasm`).
        file: PathBuf,
        /// Its manifest (default: the same path with `.toml`).
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run a plugins subcommand.
pub async fn run(cmd: PluginsCommand, daemon: &super::DaemonArgs) -> Result<ExitCode, CliError> {
    match cmd {
        PluginsCommand::Ls { json } => {
            let client = daemon.client()?;
            let list = client.get("/plugins").await?;
            print_list(&list, json);
            Ok(ExitCode::SUCCESS)
        }
        PluginsCommand::Reload { json } => {
            let client = daemon.client()?;
            let list = client.post("/plugins/reload", &Value::Null).await?;
            print_list(&list, json);
            Ok(ExitCode::SUCCESS)
        }
        PluginsCommand::Check { file, manifest, json } => {
            let report =
                tokio::task::spawn_blocking(move || crate::plugins::check::check_file(&file, manifest.as_deref()))
                    .await
                    .map_err(|e| CliError::Other(e.to_string()))?;
            match report {
                Ok(r) => {
                    if json {
                        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
                    } else {
                        println!(
                            "ok: {} {} ({}), built against wasmux:plugin@{}",
                            r.name, r.version, r.kind, r.wit
                        );
                        println!(
                            "  size        {} bytes, compiled in {} ms, instantiated in {} µs",
                            r.size, r.compile_ms, r.instantiate_us
                        );
                        println!(
                            "  capabilities {}",
                            if r.capabilities.is_empty() {
                                "-".into()
                            } else {
                                r.capabilities.join(", ")
                            }
                        );
                        println!("  imports     {}", r.imports.join(", "));
                        println!("  exports     {}", r.exports.join(", "));
                        if let Some(route) = r.route {
                            println!("  route       POST /webhooks/{route}");
                        }
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Err(CliError::Other(format!("check failed: {e}"))),
            }
        }
    }
}

fn print_list(list: &Value, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(list).unwrap_or_default());
        return;
    }
    println!(
        "{:<14} {:<9} {:<8} {:<14} {:>7} {:>8}  SOURCE",
        "NAME", "KIND", "VERSION", "HEALTH", "CALLS", "FAILURES"
    );
    for p in list["plugins"].as_array().into_iter().flatten() {
        println!(
            "{:<14} {:<9} {:<8} {:<14} {:>7} {:>8}  {}",
            p["name"].as_str().unwrap_or(""),
            p["kind"].as_str().unwrap_or(""),
            p["version"].as_str().unwrap_or(""),
            p["health"].as_str().unwrap_or(""),
            p["calls"].as_u64().unwrap_or(0),
            p["failures"].as_u64().unwrap_or(0),
            p["source"].as_str().unwrap_or("")
        );
        if let Some(e) = p["reloadError"].as_str() {
            println!("  reload failed: {e}");
        }
    }
    for e in list["errors"].as_array().into_iter().flatten() {
        println!(
            "error: {}: {}",
            e["source"].as_str().unwrap_or(""),
            e["error"].as_str().unwrap_or("")
        );
    }
    println!(
        "host WIT {} (accepts {})",
        list["witVersion"].as_str().unwrap_or(""),
        list["accepts"].as_str().unwrap_or("")
    );
}
