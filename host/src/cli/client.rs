//! HTTP client for the CLI: finds the daemon and its token in the state dir.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::path::{Path, PathBuf};

use crate::config::default_state_dir;
use crate::server::{DaemonInfo, info_path};

/// A CLI failure, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The daemon could not be reached.
    #[error("cannot reach the daemon at {url}: {reason}")]
    Unreachable {
        /// URL tried.
        url: String,
        /// Why.
        reason: String,
    },
    /// The daemon answered with an error.
    #[error("{message} ({status}, {code})")]
    Api {
        /// HTTP status.
        status: u16,
        /// Error slug.
        code: String,
        /// Message.
        message: String,
    },
    /// No such session (exit 4).
    #[error("{0}")]
    NotFound(String),
    /// A turn ended other than `done`.
    #[error("{0}")]
    TurnFailed(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Unreachable { .. } => 3,
            CliError::Api { status: 404, .. } | CliError::NotFound(_) => 4,
            CliError::Api { status: 409 | 429, .. } => 5,
            CliError::Api { .. } => 1,
            CliError::TurnFailed(_) => 6,
            CliError::Other(_) => 1,
        }
    }
}

/// A client of one daemon.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// Find the daemon: `url` if given, else the state dir's `daemon.json`
    /// (written by a running daemon; never a guess at another address). The
    /// token is `token` (`--token`/`WASMUX_TOKEN`) or the state dir's
    /// `token` file.
    pub fn discover(
        state_dir: Option<PathBuf>,
        url: Option<String>,
        token: Option<String>,
    ) -> Result<Client, CliError> {
        let dir = state_dir.unwrap_or_else(default_state_dir);
        let base = match url {
            Some(u) => u,
            None => match std::fs::read(info_path(&dir)) {
                Ok(bytes) => match serde_json::from_slice::<DaemonInfo>(&bytes) {
                    Ok(info) => format!("http://{}", info.addr),
                    Err(e) => {
                        return Err(CliError::Unreachable {
                            url: info_path(&dir).display().to_string(),
                            reason: format!("the daemon info file is unreadable ({e})"),
                        });
                    }
                },
                Err(_) => {
                    return Err(CliError::Unreachable {
                        url: dir.display().to_string(),
                        reason: format!(
                            "no daemon is running for this state dir ({} does not exist; start one with `wasmux serve --state-dir {}`, or name it with --url)",
                            info_path(&dir).display(),
                            dir.display()
                        ),
                    });
                }
            },
        };
        let token = token.or_else(|| read_token(&dir));
        Ok(Client::new(base, token))
    }

    /// A client of `base` using `token`.
    pub fn new(base: String, token: Option<String>) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            token,
            http: reqwest::Client::new(),
        }
    }

    /// Base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The token, if known.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// A request builder with auth set.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        rb
    }

    /// Send `rb` and decode a JSON answer, mapping errors.
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Result<Value, CliError> {
        let resp = rb.send().await.map_err(|e| CliError::Unreachable {
            url: self.base.clone(),
            reason: format!("{e} (is `wasmux serve` running?)"),
        })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| CliError::Other(e.to_string()))?;
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        Err(api_error(status, &value))
    }

    /// `GET path` as JSON.
    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.send(self.request(Method::GET, path)).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.send(self.request(Method::POST, path).json(body)).await
    }
}

/// Turn an error response into a [`CliError`].
pub fn api_error(status: StatusCode, value: &Value) -> CliError {
    CliError::Api {
        status: status.as_u16(),
        code: value["code"].as_str().unwrap_or("unknown").to_string(),
        message: value["error"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {status}")),
    }
}

fn read_token(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join("token"))
        .ok()
        .map(|t| t.trim().to_string())
}
