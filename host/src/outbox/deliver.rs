//! The delivery worker: sends what is due, one attempt at a time per
//! delivery, marked `attempting` in the store before the request leaves (a
//! daemon stopped mid-attempt gives it up instead of sending it twice).
//! The credential a request names is resolved from the plugin's granted
//! secrets here, only for a URL on the plugin's `http_allow` list, and its
//! value is redacted from every error that is stored or logged.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use base64::Engine;

use super::Outbox;
use crate::store::{CredentialSpec, DeliveryRow, DeliveryStatus};

/// Longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Longest wait the worker sleeps without looking (a delivery written by
/// another path wakes it sooner).
const MAX_SLEEP: Duration = Duration::from_secs(30);
/// Request headers a plugin may not set: credentials go through the
/// credential rule, hop-by-hop ones are the client's.
const REFUSED_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
];

/// How one attempt went.
enum Attempt {
    Delivered(u16),
    /// Try again after the delay (network error, 5xx, 429).
    Retry(Option<u16>, String, Option<Duration>),
    /// Give up.
    Failed(Option<u16>, String),
}

/// Whether `url` may be reached by `plugin` with allow-list `allow`:
/// `https` to a host on the list (`http` and loopback addresses only with
/// the test-only `outbox.unsafe_allow_loopback`).
pub fn url_allowed(url: &str, allow: &[String], unsafe_loopback: bool) -> Result<reqwest::Url, String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    let host = u
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    match u.scheme() {
        "https" => {}
        "http" if unsafe_loopback => {}
        s => return Err(format!("`{s}` URLs are refused: replies go over https")),
    }
    if !allow.iter().any(|a| a.eq_ignore_ascii_case(host)) {
        return Err(format!("host `{host}` is not on the plugin's http_allow list"));
    }
    let policy = crate::plugins::http_policy::HttpPolicy::new(String::new(), allow.to_vec());
    if !unsafe_loopback && !policy.permits(host) {
        return Err(format!("host `{host}` is a loopback or private address"));
    }
    Ok(u)
}

/// `text` with every secret value in `secrets` replaced by `[redacted]`.
pub fn redact<'a>(text: &str, secrets: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if let Ok(s) = std::str::from_utf8(s)
            && !s.is_empty()
        {
            out = out.replace(s, "[redacted]");
        }
    }
    out
}

/// `req` with the credential `c` filled in from `secret` (the HMAC kind
/// signs `body`).
fn inject(
    req: reqwest::RequestBuilder,
    c: &CredentialSpec,
    secret: &[u8],
    body: &[u8],
) -> Result<reqwest::RequestBuilder, String> {
    let value = String::from_utf8_lossy(secret).into_owned();
    Ok(match c {
        CredentialSpec::Bearer { .. } => req.bearer_auth(value),
        CredentialSpec::Basic { user, .. } => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{value}"));
            req.header("authorization", format!("Basic {b64}"))
        }
        CredentialSpec::Header { name, .. } => req.header(name, value),
        CredentialSpec::HmacSha256 { name, .. } => req.header(name, format!("sha256={}", hmac_hex(secret, body)?)),
    })
}

/// Hex HMAC-SHA256 of `body` keyed with `key`.
pub fn hmac_hex(key: &[u8], body: &[u8]) -> Result<String, String> {
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).map_err(|_| "the HMAC key is unusable".to_string())?;
    mac.update(body);
    Ok(hex::encode(mac.finalize().into_bytes()))
}

impl Outbox {
    pub(super) async fn run_deliveries(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let due = self
                .store
                .deliveries_due(crate::util::now_ms(), 16)
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "reading the outbox failed");
                    Vec::new()
                });
            for d in &due {
                self.attempt(d).await;
            }
            if !due.is_empty() {
                continue;
            }
            let sleep = match self.store.delivery_next_due() {
                Ok(Some(at)) => Duration::from_millis(at.saturating_sub(crate::util::now_ms())).min(MAX_SLEEP),
                _ => MAX_SLEEP,
            };
            tokio::select! {
                _ = self.wake_deliveries.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// One attempt of `d`, recorded before and after.
    async fn attempt(&self, d: &DeliveryRow) {
        match self.store.delivery_begin(d.id) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::error!(delivery = d.id, error = %e, "marking the attempt failed; not sent");
                return;
            }
        }
        self.stats.attempts.fetch_add(1, Relaxed);
        let secrets: Vec<Vec<u8>> = self
            .plugins
            .get(&d.plugin)
            .map(|p| p.ctx.secrets.values().cloned().collect())
            .unwrap_or_default();
        let outcome = self.send(d).await;
        let clean = |e: &str| redact(e, secrets.iter().map(Vec::as_slice));
        let attempts = d.attempts + 1;
        let (status, http, error, next) = match outcome {
            Attempt::Delivered(s) => (DeliveryStatus::Delivered, Some(s), None, None),
            Attempt::Retry(s, e, after) if attempts < self.config.outbox.max_attempts => {
                let backoff =
                    Duration::from_millis(self.config.outbox.retry_base_ms.saturating_mul(1 << attempts.min(20)) / 2);
                let wait = after.unwrap_or(backoff).min(MAX_BACKOFF);
                let next = crate::util::now_ms() + wait.as_millis() as u64;
                (DeliveryStatus::Pending, s, Some(clean(&e)), Some(next))
            }
            Attempt::Retry(s, e, _) => (
                DeliveryStatus::Failed,
                s,
                Some(format!("{} (gave up after {attempts} attempts)", clean(&e))),
                None,
            ),
            Attempt::Failed(s, e) => (DeliveryStatus::Failed, s, Some(clean(&e)), None),
        };
        if status != DeliveryStatus::Delivered {
            self.stats.failures.fetch_add(1, Relaxed);
            tracing::warn!(delivery = d.id, plugin = %d.plugin, url = %d.url, status = ?http, error = error.as_deref().unwrap_or(""), retry = status == DeliveryStatus::Pending, "delivery attempt failed");
        } else {
            tracing::info!(delivery = d.id, plugin = %d.plugin, url = %d.url, status = ?http, "delivered");
        }
        if let Err(e) = self.store.delivery_end(d.id, status, http, error.as_deref(), next) {
            tracing::error!(delivery = d.id, error = %e, "recording the attempt failed");
        }
    }

    /// Build and send `d`.
    async fn send(&self, d: &DeliveryRow) -> Attempt {
        let Some(plugin) = self.plugins.get(&d.plugin) else {
            return Attempt::Retry(None, format!("plugin `{}` is not loaded", d.plugin), None);
        };
        if !plugin.granted.contains(&crate::plugins::Capability::Http) {
            return Attempt::Failed(None, format!("plugin `{}` does not hold capability `http`", d.plugin));
        }
        let url = match url_allowed(&d.url, &plugin.ctx.http_allow, self.config.outbox.unsafe_allow_loopback) {
            Ok(u) => u,
            Err(e) => return Attempt::Failed(None, e),
        };
        let Ok(method) = reqwest::Method::from_bytes(d.method.to_ascii_uppercase().as_bytes()) else {
            return Attempt::Failed(None, format!("`{}` is not an HTTP method", d.method));
        };
        let mut req = self.http.request(method, url).body(d.body.clone());
        for (k, v) in &d.headers {
            if REFUSED_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                return Attempt::Failed(
                    None,
                    format!("header `{k}` may not be set by a plugin (name a credential instead)"),
                );
            }
            req = req.header(k, v);
        }
        if let Some(c) = &d.credential_spec {
            let name = c.secret();
            let Some(secret) = plugin.ctx.secrets.get(name) else {
                return Attempt::Failed(
                    None,
                    format!(
                        "the plugin names secret `{name}`, which [plugins.{}] secrets does not set",
                        d.plugin
                    ),
                );
            };
            req = match inject(req, c, secret, &d.body) {
                Ok(r) => r,
                Err(e) => return Attempt::Failed(None, e),
            };
        }
        match req.send().await {
            Ok(resp) => {
                let s = resp.status();
                let code = s.as_u16();
                if s.is_success() {
                    return Attempt::Delivered(code);
                }
                let after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let body = resp.text().await.unwrap_or_default();
                let why = format!(
                    "the far side answered {code}: {}",
                    body.chars().take(200).collect::<String>()
                );
                if s.is_server_error() || code == 429 {
                    Attempt::Retry(Some(code), why, after)
                } else {
                    Attempt::Failed(Some(code), why)
                }
            }
            Err(e) => Attempt::Retry(None, format!("network error: {e}"), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_to_listed_public_hosts_unless_the_test_switch_is_on() {
        let allow = vec!["api.github.com".to_string(), "127.0.0.1".to_string()];
        assert!(url_allowed("https://api.github.com/repos/a/b", &allow, false).is_ok());
        let e = url_allowed("http://api.github.com/x", &allow, false).unwrap_err();
        assert!(e.contains("https"), "{e}");
        let e = url_allowed("https://evil.example/x", &allow, false).unwrap_err();
        assert!(e.contains("http_allow"), "{e}");
        let e = url_allowed("https://127.0.0.1:9/x", &allow, false).unwrap_err();
        assert!(e.contains("loopback"), "{e}");
        assert!(url_allowed("http://127.0.0.1:9/x", &allow, true).is_ok());
        assert!(
            url_allowed("http://localhost:9/x", &allow, true).is_err(),
            "still only listed hosts"
        );
    }

    #[test]
    fn credentials_are_stored_by_kind_and_secret_name() {
        let c = CredentialSpec::HmacSha256 {
            secret: "secret".into(),
            name: "x-sig".into(),
        };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(text, r#"{"kind":"hmac-sha256","secret":"secret","name":"x-sig"}"#);
        assert_eq!(serde_json::from_str::<CredentialSpec>(&text).unwrap(), c);
        let old: CredentialSpec = serde_json::from_str(r#"{"kind":"bearer","secret":"token"}"#).unwrap();
        assert_eq!(old.label(), "bearer:token");
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_hex(b"Jefe", b"what do ya want for nothing?").unwrap(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn secrets_are_redacted_from_errors() {
        let s = redact("bad token ghp_abc in ghp_abc", [b"ghp_abc".as_slice(), b"".as_slice()]);
        assert_eq!(s, "bad token [redacted] in [redacted]");
    }
}
