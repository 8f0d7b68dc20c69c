//! `GET /metrics` in Prometheus text format. Written by hand on purpose:
//! every value is read from live state at scrape time (sessions, store,
//! plugin counters), which is three line shapes of text, where
//! `prometheus-client` would need a registry mirrored from that state.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use super::AppState;

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Sessions, queue depth, turns, plugin calls/failures, stream clients, bytes.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
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

    let mut clients = String::new();
    let mut bytes = String::new();
    let mut chunks = String::new();
    let mut retained = String::new();
    for s in &sessions {
        let n = label(&s.name);
        let meta = s.terminal.log.meta();
        let _ = writeln!(
            clients,
            "wasmux_stream_clients{{session=\"{n}\"}} {}",
            s.terminal.stream_clients()
        );
        let _ = writeln!(
            bytes,
            "wasmux_output_bytes_total{{session=\"{n}\"}} {}",
            meta.last_raw_end
        );
        let _ = writeln!(
            chunks,
            "wasmux_output_chunks_total{{session=\"{n}\"}} {}",
            meta.last_seq
        );
        let _ = writeln!(
            retained,
            "wasmux_output_retained_bytes{{session=\"{n}\"}} {}",
            meta.bytes
        );
    }
    family(
        &mut out,
        "wasmux_stream_clients",
        "gauge",
        "Connected terminal stream clients.",
    );
    out.push_str(&clients);
    family(
        &mut out,
        "wasmux_output_bytes_total",
        "counter",
        "Pane output bytes logged, per session.",
    );
    out.push_str(&bytes);
    family(
        &mut out,
        "wasmux_output_chunks_total",
        "counter",
        "Output chunks logged (the last seq), per session.",
    );
    out.push_str(&chunks);
    family(
        &mut out,
        "wasmux_output_retained_bytes",
        "gauge",
        "Output bytes retained in the log, per session.",
    );
    out.push_str(&retained);

    family(
        &mut out,
        "wasmux_messages",
        "gauge",
        "Messages by session and status (queued = queue depth).",
    );
    if let Ok(counts) = app.store.message_counts() {
        for (session, status, n) in counts {
            let _ = writeln!(
                out,
                "wasmux_messages{{session=\"{}\",status=\"{}\"}} {n}",
                label(&session),
                label(&status)
            );
        }
    }
    family(
        &mut out,
        "wasmux_events_total",
        "counter",
        "Events published (the last event seq), per session.",
    );
    for s in &sessions {
        let _ = writeln!(
            out,
            "wasmux_events_total{{session=\"{}\"}} {}",
            label(&s.name),
            s.agent.bus.last_seq()
        );
    }

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
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out)
}
