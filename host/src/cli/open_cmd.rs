//! `wasmux open [NAME]`: a one-time login URL for the web console, printed
//! and opened in a browser where one exists.

use std::process::{ExitCode, Stdio};

use super::client::{CliError, Client};

/// Mint the URL (for session `name`'s page, if given); print it; open it
/// with `xdg-open`/`open` unless `print_only` or no display is around.
pub async fn open(client: &Client, name: Option<&str>, print_only: bool) -> Result<ExitCode, CliError> {
    let path = match name {
        Some(n) => format!("/auth/login?session={}", encode(n)),
        None => "/auth/login".to_string(),
    };
    let r = client.post(&path, &serde_json::json!({})).await?;
    let url = r["url"]
        .as_str()
        .ok_or_else(|| CliError::Other(format!("the daemon answered without a url: {r}")))?;
    let secs = r["expiresInSecs"].as_u64().unwrap_or(0);
    println!("{url}");
    eprintln!(
        "This sign-in link works once, for {secs} s; it opens the console at {}.",
        client.base()
    );
    if !print_only && let Some(opener) = opener() {
        // The browser outlives us; its output is not ours to show.
        let spawned = std::process::Command::new(opener)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if spawned.is_err() {
            eprintln!("(could not run {opener}: open the link by hand)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The desktop's URL opener, when there is a desktop to open it on.
fn opener() -> Option<&'static str> {
    let has_display = std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    let on_path =
        |cmd: &str| std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()));
    if cfg!(target_os = "macos") && on_path("open") {
        return Some("open");
    }
    (has_display && on_path("xdg-open")).then_some("xdg-open")
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
