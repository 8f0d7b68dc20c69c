//! `GET /metrics` in Prometheus text format. Written by hand on purpose:
//! every value is read from live state at scrape time (sessions, store,
//! plugin counters), which is three line shapes of text, where
//! `prometheus-client` would need a registry mirrored from that state.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use super::{ApiError, AppState};
use crate::config::MetricsConfig;

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Which sessions get their own `session` label: none unless
/// `metrics.per_session`, then the first `max_sessions` by name; the rest
/// are summed under `_other`.
struct PerSession {
    labelled: Option<BTreeSet<String>>,
}

impl PerSession {
    fn new<'a>(config: &MetricsConfig, names: impl Iterator<Item = &'a str>) -> PerSession {
        let labelled = config.per_session.then(|| {
            let mut all: Vec<&str> = names.collect();
            all.sort_unstable();
            all.into_iter().take(config.max_sessions).map(str::to_string).collect()
        });
        PerSession { labelled }
    }

    /// The label value for `session`, or None when unlabelled.
    fn label<'a>(&self, session: &'a str) -> Option<&'a str> {
        let set = self.labelled.as_ref()?;
        Some(if set.contains(session) { session } else { "_other" })
    }

    /// One family: per session (bounded) or one total.
    fn family(&self, out: &mut String, name: &str, kind: &str, help: &str, values: &[(&str, u64)]) {
        family(out, name, kind, help);
        if self.labelled.is_none() {
            let _ = writeln!(out, "{name} {}", values.iter().map(|v| v.1).sum::<u64>());
            return;
        }
        let mut by: BTreeMap<&str, u64> = BTreeMap::new();
        for (session, v) in values {
            *by.entry(self.label(session).unwrap_or("_other")).or_default() += v;
        }
        for (session, v) in by {
            let _ = writeln!(out, "{name}{{session=\"{}\"}} {v}", label(session));
        }
    }
}

/// Sessions, queue depth, turns, plugin calls/failures, stream clients,
/// bytes. Needs the operator token or the scrape token, unless
/// `metrics.public`.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain"),
    (status = 401, body = super::error::ErrorBody)))]
pub async fn metrics(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let header = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    if !app.config.metrics.public && !app.auth.check_header(header) && !app.auth.check_scrape_header(header) {
        return ApiError::unauthorized(
            "/metrics needs `Authorization: Bearer <token>` (the operator token or metrics.scrape_token), or metrics.public = true",
        )
        .into_response();
    }
    let mut out = String::new();
    family(&mut out, "wasmux_up", "gauge", "1 while the daemon serves.");
    let _ = writeln!(out, "wasmux_up 1");
    family(
        &mut out,
        "wasmux_uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
    );
    let _ = writeln!(
        out,
        "wasmux_uptime_seconds {}",
        (crate::util::now_ms() - app.started_at) / 1000
    );

    let sessions = app.sessions.list();
    let running = sessions.iter().filter(|s| s.terminal.exited().is_none()).count();
    family(&mut out, "wasmux_sessions", "gauge", "Sessions by status.");
    let _ = writeln!(out, "wasmux_sessions{{status=\"running\"}} {running}");
    let _ = writeln!(out, "wasmux_sessions{{status=\"exited\"}} {}", sessions.len() - running);

    let per = PerSession::new(&app.config.metrics, sessions.iter().map(|s| s.name.as_str()));
    let mut clients = Vec::new();
    let mut bytes = Vec::new();
    let mut chunks = Vec::new();
    let mut retained = Vec::new();
    let mut events = Vec::new();
    for s in &sessions {
        let meta = s.terminal.log.meta();
        clients.push((s.name.as_str(), s.terminal.stream_clients() as u64));
        bytes.push((s.name.as_str(), meta.last_raw_end));
        chunks.push((s.name.as_str(), meta.last_seq));
        retained.push((s.name.as_str(), meta.bytes));
        events.push((s.name.as_str(), s.agent.bus.last_seq()));
    }
    per.family(
        &mut out,
        "wasmux_stream_clients",
        "gauge",
        "Connected terminal stream clients.",
        &clients,
    );
    per.family(
        &mut out,
        "wasmux_output_bytes_total",
        "counter",
        "Pane output bytes logged.",
        &bytes,
    );
    per.family(
        &mut out,
        "wasmux_output_chunks_total",
        "counter",
        "Output chunks logged (the last seq).",
        &chunks,
    );
    per.family(
        &mut out,
        "wasmux_output_retained_bytes",
        "gauge",
        "Output bytes retained in the log.",
        &retained,
    );

    family(
        &mut out,
        "wasmux_messages",
        "gauge",
        "Messages by status (queued = queue depth).",
    );
    if let Ok(counts) = app.store.message_counts() {
        let mut by: BTreeMap<(String, String), u64> = BTreeMap::new();
        for (session, status, n) in counts {
            let key = match per.label(&session) {
                Some(l) => format!("session=\"{}\",", label(l)),
                None => String::new(),
            };
            *by.entry((key, status)).or_default() += n;
        }
        for ((key, status), n) in by {
            let _ = writeln!(out, "wasmux_messages{{{key}status=\"{}\"}} {n}", label(&status));
        }
    }
    per.family(
        &mut out,
        "wasmux_events_total",
        "counter",
        "Events published (the last event seq).",
        &events,
    );

    let plugins = app.plugins.all();
    let per_plugin = |out: &mut String,
                      name: &str,
                      kind: &str,
                      help: &str,
                      value: &dyn Fn(&crate::plugins::LoadedPlugin) -> String| {
        family(out, name, kind, help);
        for p in &plugins {
            let _ = writeln!(out, "{name}{{plugin=\"{}\"}} {}", label(p.name()), value(p));
        }
    };
    per_plugin(
        &mut out,
        "wasmux_plugin_calls_total",
        "counter",
        "Calls into each plugin.",
        &|p| p.stats().calls.load(Relaxed).to_string(),
    );
    per_plugin(
        &mut out,
        "wasmux_plugin_failures_total",
        "counter",
        "Calls that trapped, timed out or broke a limit.",
        &|p| p.stats().failures.load(Relaxed).to_string(),
    );
    per_plugin(
        &mut out,
        "wasmux_plugin_instances_total",
        "counter",
        "Plugin instances created.",
        &|p| p.stats().instances.load(Relaxed).to_string(),
    );
    per_plugin(
        &mut out,
        "wasmux_plugin_call_seconds_total",
        "counter",
        "Time spent in plugin calls.",
        &|p| format!("{:.6}", p.stats().call_nanos.load(Relaxed) as f64 / 1e9),
    );
    outbox(&mut out, &app);
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response()
}

/// The outbox: deliveries by status, attempts and failures since start,
/// the age of the oldest pending delivery.
fn outbox(out: &mut String, app: &AppState) {
    let stats = app.outbox.stats();
    family(out, "wasmux_deliveries", "gauge", "Outbox deliveries by status.");
    for status in crate::store::DeliveryStatus::ALL {
        let n = stats
            .stored
            .by_status
            .iter()
            .find(|(s, _)| s == status.as_str())
            .map_or(0, |x| x.1);
        let _ = writeln!(out, "wasmux_deliveries{{status=\"{}\"}} {n}", status.as_str());
    }
    for (name, help, v) in [
        (
            "wasmux_delivery_attempts_total",
            "Delivery attempts since the daemon started.",
            stats.attempts,
        ),
        (
            "wasmux_delivery_failures_total",
            "Failed delivery attempts since the daemon started.",
            stats.failures,
        ),
        (
            "wasmux_reply_call_failures_total",
            "Failed reply calls into plugins since the daemon started.",
            stats.reply_failures,
        ),
    ] {
        family(out, name, "counter", help);
        let _ = writeln!(out, "{name} {v}");
    }
    family(
        out,
        "wasmux_delivery_oldest_pending_seconds",
        "gauge",
        "Age of the oldest pending delivery (0: none).",
    );
    let age = stats
        .stored
        .oldest_pending
        .map_or(0, |t| crate::util::now_ms().saturating_sub(t) / 1000);
    let _ = writeln!(out, "wasmux_delivery_oldest_pending_seconds {age}");
}
