//! Session and queue commands over the HTTP API: `ls`, `new`, `send`,
//! `steer`, `abort`, `reset`, `rm`, `state`, `permit`, `attach`.

use clap::Args;
use reqwest::Method;
use serde_json::{Value, json};
use std::process::ExitCode;

use super::{CliError, Client};
use crate::agent::SteerMode;

/// `wasmux new`.
#[derive(Args, Debug)]
pub struct NewArgs {
    /// Session name.
    pub name: String,
    /// Provider plugin (e.g. demo, shell, claude-code).
    #[arg(long, short)]
    pub provider: String,
    /// Working directory (default: the current directory).
    #[arg(long)]
    pub cwd: Option<std::path::PathBuf>,
    /// Environment variables, `KEY=VALUE` (repeatable).
    #[arg(long = "env", short = 'e')]
    pub env: Vec<String>,
    /// Terminal width.
    #[arg(long)]
    pub cols: Option<u16>,
    /// Terminal height.
    #[arg(long)]
    pub rows: Option<u16>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Arguments for the agent (after `--`).
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// `wasmux send`.
#[derive(Args, Debug)]
pub struct SendArgs {
    /// Session name.
    pub name: String,
    /// The message text; `-` reads it from standard input.
    pub text: String,
    /// Wait for the turn and print the response (exit 6 if it did not complete).
    #[arg(long)]
    pub wait: bool,
    /// Dedupe key: the same key returns the same message.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// `wasmux ls`.
pub async fn ls(client: &Client, json: bool) -> Result<ExitCode, CliError> {
    let list = client.get("/sessions").await?;
    if json {
        print_json(&list);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:<12} {:<8} {:>4} {:<28} {:>9}  CREATED",
        "NAME", "PROVIDER", "STATUS", "EXIT", "STATE", "OUTPUT"
    );
    for s in list.as_array().into_iter().flatten() {
        println!(
            "{:<20} {:<12} {:<8} {:>4} {:<28} {:>9}  {}",
            s["name"].as_str().unwrap_or(""),
            s["provider"].as_str().unwrap_or(""),
            s["status"].as_str().unwrap_or(""),
            s["exitCode"]
                .as_i64()
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
            format!(
                "{} ({})",
                s["state"]["value"].as_str().unwrap_or(""),
                s["state"]["source"].as_str().unwrap_or("")
            ),
            human_bytes(s["outputBytes"].as_u64().unwrap_or(0)),
            s["createdAt"].as_str().unwrap_or("")
        );
        let status = serde_json::from_value::<crate::store::SessionStatus>(s["status"].clone());
        if status.is_ok_and(|st| st == crate::store::SessionStatus::Exited) {
            for line in s["lastOutput"].as_array().into_iter().flatten().rev().take(1) {
                println!("{:<20} └ {}", "", line.as_str().unwrap_or(""));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `wasmux deliveries`: the outbox, newest first.
pub async fn deliveries(
    client: &Client,
    status: Option<crate::store::DeliveryStatus>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let path = match status {
        Some(s) => format!("/deliveries?status={}", s.as_str()),
        None => "/deliveries".to_string(),
    };
    let list = client.get(&path).await?;
    if json {
        print_json(&list);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>5} {:<10} {:<12} {:<10} {:>3} {:>4}  {:<22} URL / LAST ERROR",
        "ID", "STATUS", "PLUGIN", "KEY", "TRY", "HTTP", "MESSAGE"
    );
    for d in list.as_array().into_iter().flatten() {
        println!(
            "{:>5} {:<10} {:<12} {:<10} {:>3} {:>4}  {:<22} {} {}",
            d["id"].as_i64().unwrap_or(0),
            d["status"].as_str().unwrap_or(""),
            d["plugin"].as_str().unwrap_or(""),
            d["key"].as_str().unwrap_or(""),
            d["attempts"].as_u64().unwrap_or(0),
            d["lastStatus"]
                .as_u64()
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
            d["messageId"].as_str().unwrap_or(""),
            d["method"].as_str().unwrap_or(""),
            d["url"].as_str().unwrap_or("")
        );
        if let Some(e) = d["lastError"].as_str() {
            println!("{:>5} └ {e}", "");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `1234` → `1.2K` style sizes for tables.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["K", "M", "G", "T"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1}{}", UNITS[unit])
}

/// `wasmux new`.
pub async fn new(client: &Client, a: NewArgs) -> Result<ExitCode, CliError> {
    let cwd = match a.cwd {
        Some(c) => std::fs::canonicalize(&c).map_err(|e| CliError::Other(format!("--cwd {}: {e}", c.display())))?,
        None => std::env::current_dir().map_err(|e| CliError::Other(e.to_string()))?,
    };
    let mut env = serde_json::Map::new();
    for kv in &a.env {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| CliError::Other(format!("--env {kv:?} must be KEY=VALUE")))?;
        env.insert(k.to_string(), json!(v));
    }
    let body = json!({"name": a.name, "provider": a.provider, "cwd": cwd, "args": a.args, "env": env, "cols": a.cols, "rows": a.rows});
    let s = client.post("/sessions", &body).await?;
    if a.json {
        print_json(&s);
    } else {
        println!(
            "created {} ({})",
            s["name"].as_str().unwrap_or(""),
            s["provider"].as_str().unwrap_or("")
        );
        println!("attach: {}", s["attach"].as_str().unwrap_or(""));
    }
    Ok(ExitCode::SUCCESS)
}

/// `wasmux send`.
pub async fn send(client: &Client, a: SendArgs) -> Result<ExitCode, CliError> {
    let path = format!(
        "/sessions/{}/messages{}",
        a.name,
        if a.wait { "?wait=true" } else { "" }
    );
    let text = if a.text == "-" {
        let mut t = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
            .map_err(|e| CliError::Other(format!("reading the message from standard input: {e}")))?;
        t
    } else {
        a.text
    };
    let mut rb = client.request(Method::POST, &path).json(&json!({ "text": text }));
    if let Some(k) = &a.idempotency_key {
        rb = rb.header("idempotency-key", k);
    }
    let r = client.send(rb).await?;
    if a.json {
        print_json(&r);
    } else if a.wait {
        match r["response"].as_str() {
            Some(resp) if !resp.is_empty() => println!("{resp}"),
            _ => {}
        }
    } else {
        println!(
            "{} queued at position {}",
            r["id"].as_str().unwrap_or(""),
            r["position"]
        );
    }
    if a.wait && r["ok"] != true {
        return Err(CliError::TurnFailed(format!(
            "message {} ended {}: {}",
            r["id"].as_str().unwrap_or(""),
            r["status"].as_str().unwrap_or("?"),
            r["error"].as_str().unwrap_or("")
        )));
    }
    Ok(ExitCode::SUCCESS)
}

/// `wasmux steer`.
pub async fn steer(client: &Client, name: &str, text: &str, json: bool) -> Result<ExitCode, CliError> {
    let r = client
        .post(&format!("/sessions/{name}/steer"), &json!({"text": text}))
        .await?;
    if json {
        print_json(&r);
    } else if serde_json::from_value::<SteerMode>(r["mode"].clone()).is_ok_and(|m| m == SteerMode::Steer) {
        println!("typed into the running turn");
    } else {
        println!("no turn running; queued as {}", r["id"].as_str().unwrap_or(""));
    }
    Ok(ExitCode::SUCCESS)
}

/// `wasmux abort`, `wasmux reset`, `wasmux rm`.
pub async fn simple(
    client: &Client,
    method: Method,
    path: &str,
    json: bool,
    say: impl Fn(&Value) -> String,
) -> Result<ExitCode, CliError> {
    let r = client.send(client.request(method, path)).await?;
    if json {
        print_json(&r);
    } else {
        println!("{}", say(&r));
    }
    Ok(ExitCode::SUCCESS)
}

/// `wasmux state`.
pub async fn state(client: &Client, name: &str, json: bool) -> Result<ExitCode, CliError> {
    let s = client.get(&format!("/sessions/{name}/state")).await?;
    if json {
        print_json(&s);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "state: {} (source: {})",
        s["state"]["value"].as_str().unwrap_or(""),
        s["state"]["source"].as_str().unwrap_or("")
    );
    if let Some(code) = s["exitCode"].as_i64() {
        println!("exit code: {code}");
    }
    if let Some(lines) = s["lastOutput"].as_array().filter(|l| !l.is_empty()) {
        println!("last output:");
        for l in lines {
            println!("  {}", l.as_str().unwrap_or(""));
        }
    }
    if let Some(e) = s["providerError"].as_str() {
        println!("provider error: {e}");
    }
    if let Some(t) = s["turn"].as_object() {
        println!(
            "running: {} {:?}",
            t["id"].as_str().unwrap_or(""),
            t["text"].as_str().unwrap_or("")
        );
    }
    for (i, m) in s["queue"].as_array().into_iter().flatten().enumerate() {
        println!(
            "queued {}: {} {:?}",
            i + 1,
            m["id"].as_str().unwrap_or(""),
            m["text"].as_str().unwrap_or("")
        );
    }
    for p in s["permissions"].as_array().into_iter().flatten() {
        println!(
            "permission {}: {} — {}",
            p["permissionId"].as_str().unwrap_or(""),
            p["toolName"].as_str().unwrap_or(""),
            p["description"].as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `wasmux attach`: run tmux on the daemon's socket (or print the command).
pub fn attach(state_dir: &std::path::Path, name: &str, print: bool) -> Result<ExitCode, CliError> {
    crate::tmux::validate_session_name(name).map_err(CliError::Other)?;
    let socket = state_dir.join("tmux.sock");
    let cmd = format!(
        "tmux -S {} attach -t ={name}",
        crate::tmux::shell_quote(&socket.to_string_lossy())
    );
    if print {
        println!("{cmd}");
        return Ok(ExitCode::SUCCESS);
    }
    if !socket.exists() {
        return Err(CliError::Unreachable {
            url: socket.display().to_string(),
            reason: format!(
                "no wasmux tmux server for the state dir {} (is the daemon's state dir right?)",
                state_dir.display()
            ),
        });
    }
    let target = format!("={name}");
    let found = std::process::Command::new("tmux")
        .arg("-S")
        .arg(&socket)
        .args(["has-session", "-t", &target])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| CliError::Other(format!("running tmux: {e} (is tmux installed?)")))?;
    if !found.success() {
        return Err(CliError::NotFound(format!(
            "no running session named `{name}` (see `wasmux ls`; an exited session starts again with `wasmux restart {name}`)"
        )));
    }
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new("tmux")
        .arg("-S")
        .arg(&socket)
        .args(["attach", "-t", &target])
        .exec();
    Err(CliError::Other(format!("running tmux: {err}")))
}
