//! Logging set-up: `RUST_LOG` (or the command's default level), capped for
//! the compiler crates so `RUST_LOG=debug` shows wasmux, not Cranelift; text
//! or JSON lines on stderr.

use tracing_subscriber::EnvFilter;

/// Per-crate caps added unless `RUST_LOG` names the crate itself: plugin
/// compilation alone logs hundreds of thousands of debug lines.
pub const QUIET_CRATES: &[(&str, &str)] = &[
    ("cranelift", "warn"),
    ("regalloc2", "warn"),
    ("wasmtime", "info"),
    ("wasmparser", "warn"),
    ("wasm_encoder", "warn"),
    ("wit_parser", "warn"),
    ("wit_component", "warn"),
    ("hyper", "info"),
    ("hyper_util", "info"),
    ("h2", "info"),
    ("reqwest", "info"),
    ("tungstenite", "info"),
    ("tokio_tungstenite", "info"),
    ("rustls", "info"),
];

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `fields`).
    Json,
}

/// The filter directives for `spec` (the `RUST_LOG` value, or the default
/// level when unset): `spec` plus a cap for every [`QUIET_CRATES`] entry it
/// does not mention.
pub fn directives(spec: &str) -> String {
    let mut out = spec.trim().trim_matches(',').to_string();
    for (krate, level) in QUIET_CRATES {
        let named = spec
            .split(',')
            .any(|d| d.trim().split(['=', '[', ':']).next() == Some(*krate));
        if !named {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(&format!("{krate}={level}"));
        }
    }
    out
}

/// Install the global subscriber: `RUST_LOG` or `default`, in `format`.
pub fn init(default: &str, format: LogFormat) {
    let spec = std::env::var("RUST_LOG").unwrap_or_else(|_| default.to_string());
    let filter = EnvFilter::try_new(directives(&spec)).unwrap_or_else(|e| {
        eprintln!("wasmux: ignoring RUST_LOG={spec:?}: {e}");
        EnvFilter::new(directives(default))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_debug_is_not_flooded_by_cranelift() {
        let d = directives("debug");
        assert!(d.starts_with("debug,"), "{d}");
        assert!(
            d.contains("cranelift=warn") && d.contains("regalloc2=warn") && d.contains("wasmtime=info"),
            "{d}"
        );
        // A crate the operator names keeps the operator's level.
        let d = directives("info,cranelift_codegen=debug,wasmtime=trace");
        assert!(!d.contains("wasmtime=info"), "{d}");
        assert!(d.contains("cranelift=warn"), "{d}");
        EnvFilter::try_new(&d).expect("valid directives");
    }
}
