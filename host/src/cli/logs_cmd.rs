//! `wasmux logs`: a session's events (SSE), one line each or as JSON.

use clap::Args;
use futures::StreamExt;
use reqwest::Method;
use serde_json::Value;
use std::process::ExitCode;

use super::{CliError, Client};
use crate::events::{Event, Gap};

/// `wasmux logs`.
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Session name.
    pub name: String,
    /// Follow new events.
    #[arg(long, short)]
    pub follow: bool,
    /// Start after this event seq.
    #[arg(long, default_value_t = 0)]
    pub after: u64,
    /// Print each event as a JSON line.
    #[arg(long)]
    pub json: bool,
}

/// One line for a human: seq, type, and the event's gist.
pub fn render(v: &Value) -> String {
    let kind = v["type"].as_str().unwrap_or("?");
    let detail = match serde_json::from_value::<Event>(v.clone()) {
        Ok(e) => gist(&e),
        Err(_) => String::new(),
    };
    format!("{:>6} {:<19} {}", v["seq"], kind, detail)
}

fn gist(e: &Event) -> String {
    match e {
        Event::Message { message } | Event::Reasoning { message } => message.clone(),
        Event::Thinking { text } => text.clone(),
        Event::ToolCall { name, input, .. } => format!("{name} {input}"),
        Event::ToolResult { output, is_error, .. } => format!(
            "{}{}",
            if *is_error { "error: " } else { "" },
            output
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| output.to_string())
        ),
        Event::TerminalOutput { data, .. } => data.trim_end().to_string(),
        Event::FileEdit {
            file_path, description, ..
        } => format!("{file_path} — {description}"),
        Event::TaskComplete { exit_code, .. } => exit_code.map(|c| format!("exit {c}")).unwrap_or_default(),
        Event::PermissionRequest {
            permission_id,
            tool_name,
            description,
            ..
        } => format!("{permission_id} {tool_name}: {description}"),
        Event::PermissionResolved {
            permission_id,
            decision,
            ..
        } => format!("{permission_id} {decision}"),
        Event::TokenCount { input, output, .. } => format!("in {input} out {output}"),
        Event::State { value, source, .. } => format!("{} ({})", value.as_str(), source.as_str()),
        Event::MessageQueued { id, text, .. } => format!("{id} {text:?}"),
        Event::MessageStarted { id } => id.clone(),
        Event::MessageDone { id, response } => format!("{id} {response:?}"),
        Event::MessageFailed { id, status, error } => format!("{id} {}: {error}", status.as_str()),
        Event::Steer { text } => format!("{text:?}"),
        Event::OutputLost {
            after_seq,
            bytes,
            reason,
        } => match bytes {
            Some(n) => format!("{n} bytes after seq {after_seq}: {reason}"),
            None => format!("after seq {after_seq}: {reason}"),
        },
        Event::Extension { kind, .. } => kind.clone(),
        Event::TaskStarted | Event::TurnAborted | Event::Unknown => String::new(),
    }
}

/// `wasmux logs`: the event stream (SSE), printed.
pub async fn logs(client: &Client, a: LogsArgs) -> Result<ExitCode, CliError> {
    let path = format!("/sessions/{}/events?after={}&follow={}", a.name, a.after, a.follow);
    let resp = client
        .request(Method::GET, &path)
        .send()
        .await
        .map_err(|e| CliError::Unreachable {
            url: client.base().to_string(),
            reason: e.to_string(),
        })?;
    if !resp.status().is_success() {
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        return Err(super::client::api_error(status, &v));
    }
    let mut body = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| CliError::Other(e.to_string()))?;
        buf.extend_from_slice(&chunk);
        while let Some(i) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=i).collect();
            let line = String::from_utf8_lossy(&line);
            if let Some(data) = line.strip_prefix("data:") {
                let data = data.trim();
                let Ok(v) = serde_json::from_str::<Value>(data) else {
                    continue;
                };
                if a.json {
                    println!("{data}");
                } else if let Ok(Gap { from, to }) = serde_json::from_value::<Gap>(v.clone()) {
                    println!("(events {from}-{to} were dropped by retention)");
                } else {
                    println!("{}", render(&v));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
