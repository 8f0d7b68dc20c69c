//! `wasmux serve`: open the state dir, load plugins, serve the API until
//! SIGINT/SIGTERM.

use anyhow::{Context, Result, bail};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::api::{self, App};
use crate::auth::Auth;
use crate::config::Config;
use crate::plugins::PluginRegistry;
use crate::plugins::cache::CompileCache;
use crate::plugins::engine::PluginEngine;
use crate::session::Registry;
use crate::store::Store;
use crate::util::{create_private_dir, write_private};

/// Where a running daemon says it listens: `<state>/daemon.json`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct DaemonInfo {
    /// Process id.
    pub pid: u32,
    /// Bound address.
    pub addr: std::net::SocketAddr,
}

/// Path of the daemon info file in `state_dir`.
pub fn info_path(state_dir: &Path) -> PathBuf {
    state_dir.join("daemon.json")
}

/// Hold an exclusive lock on `<state>/daemon.lock` for the daemon's life, so
/// two daemons never share a state dir.
fn lock_state_dir(dir: &Path) -> Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("daemon.lock"))?;
    // SAFETY: flock on an fd we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        bail!(
            "another wasmux daemon is using the state dir {} (daemon.lock is held)",
            dir.display()
        );
    }
    Ok(file)
}

/// Run the daemon with `config` (read from `config_file`, if any; SIGHUP
/// and `POST /config/reload` read it again) until a shutdown signal.
pub async fn run(config: Config, config_file: Option<PathBuf>) -> Result<()> {
    let config = Arc::new(config);
    let state_dir = config.state_dir();
    create_private_dir(&state_dir).with_context(|| format!("creating state dir {}", state_dir.display()))?;
    let _lock = lock_state_dir(&state_dir)?;
    tracing::info!(state_dir = %state_dir.display(), "starting wasmux {}", env!("CARGO_PKG_VERSION"));

    let auth = Auth::load_or_create(&state_dir).context("loading the API token")?;
    let store =
        Arc::new(Store::open(&state_dir.join("wasmux.db"), config.store.durability).context("opening the database")?);
    let engine = Arc::new(PluginEngine::new()?);
    let cache = CompileCache::new(Some(state_dir.join("cache/components")), engine.fingerprint())
        .context("creating the compile cache")?;
    let plugins_dir = config.plugins_dir();
    std::fs::create_dir_all(&plugins_dir).with_context(|| format!("creating {}", plugins_dir.display()))?;
    let registry = Arc::new(PluginRegistry::new(
        engine,
        cache,
        store.clone(),
        config.clone(),
        Some(plugins_dir.clone()),
    ));

    let started = std::time::Instant::now();
    registry.load_embedded().await;
    registry.scan(false).await;
    let all = registry.all();
    let compiled = all
        .iter()
        .filter(|p| p.cache == crate::plugins::cache::CacheOutcome::Compiled)
        .count();
    tracing::info!(
        loaded = all.len(),
        compiled,
        cached = all.len() - compiled,
        ms = started.elapsed().as_millis() as u64,
        plugins_dir = %plugins_dir.display(),
        "plugins ready"
    );

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(registry.clone().watch(shutdown_rx.clone()));

    let sessions = Registry::new(&state_dir, store.clone(), registry.clone(), config.clone())?;
    sessions.restore().await.context("restoring sessions")?;
    tracing::info!(sessions = sessions.list().len(), tmux_socket = %sessions.tmux().socket().display(), "sessions restored");

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let app = Arc::new(App {
        config: config.clone(),
        auth,
        plugins: registry,
        store,
        sessions,
        started_at: crate::util::now_ms(),
        console: crate::console::Console::new(&config, config_file, addr.port()),
    });
    tokio::spawn(reload_on_sighup(app.clone()));
    let info = DaemonInfo {
        pid: std::process::id(),
        addr,
    };
    write_private(&info_path(&state_dir), &serde_json::to_vec(&info)?)?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "listening on a non-loopback address: anyone who can reach it and holds the token controls your agents");
    }
    tracing::info!(%addr, token_file = %state_dir.join("token").display(), "listening");

    let router = api::router(app);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    let _ = shutdown_tx.send(true);
    let _ = std::fs::remove_file(info_path(&state_dir));
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP: reload the configuration's live parts (the origin allow-list).
async fn reload_on_sighup(app: Arc<App>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        if let Err(e) = app.console.reload() {
            tracing::warn!(error = %e, "SIGHUP: the configuration did not reload");
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}
