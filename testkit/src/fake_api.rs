//! A loopback stand-in for the HTTP APIs integrations answer to (GitHub,
//! Slack, ntfy): it records every request (method, path, headers, body)
//! and answers `201 {}` unless a scripted failure matches the path first.

use anyhow::Result;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request the fake received.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl ApiRequest {
    /// The value of header `name`, if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (Null if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

/// A scripted answer for the next request whose path starts with `prefix`
/// (its body echoes the request's `authorization` header).
struct Failure {
    prefix: String,
    status: u16,
    retry_after: Option<u64>,
}

#[derive(Default)]
struct Inner {
    failures: VecDeque<Failure>,
    requests: Vec<ApiRequest>,
}

/// The running fake (stopped on drop).
pub struct FakeApi {
    /// Bound loopback address.
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeApi {
    /// Start on a free loopback port.
    pub async fn start() -> Result<FakeApi> {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = inner.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move { answer(&state, method, uri, headers, body) }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeApi { addr, inner, task })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answer the next request under `prefix` with `status` (and
    /// `Retry-After: <secs>` if given) instead of 201; calls queue up.
    pub fn fail_next(&self, prefix: &str, status: u16, retry_after: Option<u64>) {
        self.inner.lock().unwrap().failures.push_back(Failure {
            prefix: prefix.to_string(),
            status,
            retry_after,
        });
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<ApiRequest> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Requests whose path starts with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<ApiRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
            .collect()
    }

    /// Wait (polling, up to `timeout`) until `n` requests went to `prefix`.
    pub async fn wait_for(&self, prefix: &str, n: usize, timeout: Duration) -> Result<Vec<ApiRequest>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.requests_to(prefix);
            if got.len() >= n {
                return Ok(got);
            }
            if tokio::time::Instant::now() > deadline {
                let all: Vec<String> = self
                    .requests()
                    .iter()
                    .map(|r| format!("{} {}", r.method, r.path))
                    .collect();
                anyhow::bail!(
                    "the fake API got {} requests to {prefix}, not {n}, within {timeout:?}: {all:?}",
                    got.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(inner: &Mutex<Inner>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let mut inner = inner.lock().unwrap();
    inner.requests.push(ApiRequest {
        method: method.to_string(),
        path: path.clone(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
        body: body.to_vec(),
        at: std::time::Instant::now(),
    });
    if let Some(i) = inner.failures.iter().position(|f| path.starts_with(&f.prefix)) {
        let f = inner.failures.remove(i).expect("found");
        // Echo the credential, as careless APIs do: the host must redact it.
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none");
        let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, format!("scripted failure; you sent authorization: {auth}")).into_response();
        if let Some(secs) = f.retry_after {
            resp.headers_mut().insert("retry-after", secs.into());
        }
        return resp;
    }
    (StatusCode::CREATED, [("content-type", "application/json")], "{}").into_response()
}
