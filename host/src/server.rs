//! `wasmux serve`: open the state dir, load plugins, serve the API until
//! SIGINT/SIGTERM.

use anyhow::{Context, Result, bail};
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
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another wasmux daemon is using the state dir {} (daemon.lock is held)",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).context("locking daemon.lock"),
    }
}

/// Run the daemon with `config` (read from `config_file`, if any; SIGHUP
/// and `POST /config/reload` read it again) until SIGTERM or SIGINT: lock
/// the state dir, bind the configured address, serve.
pub async fn run(config: Config, config_file: Option<PathBuf>) -> Result<()> {
    let server = Server::open(config, config_file)?;
    let listen = server.config.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    server.serve(listener, shutdown_signal()).await
}

/// A daemon with its state dir created and locked, ready to serve on any
/// listener (tests can run it in-process).
pub struct Server {
    config: Arc<Config>,
    config_file: Option<PathBuf>,
    state_dir: PathBuf,
    _lock: std::fs::File,
}

impl Server {
    /// Create the state dir and take its lock (one daemon per state dir);
    /// `config_file` is what a reload reads again.
    pub fn open(config: Config, config_file: Option<PathBuf>) -> Result<Server> {
        let config = Arc::new(config);
        let state_dir = config.state_dir();
        create_private_dir(&state_dir).with_context(|| format!("creating state dir {}", state_dir.display()))?;
        let lock = lock_state_dir(&state_dir)?;
        tracing::info!(state_dir = %state_dir.display(), "starting wasmux {}", env!("CARGO_PKG_VERSION"));
        raise_nofile();
        Ok(Server {
            config,
            config_file,
            state_dir,
            _lock: lock,
        })
    }

    /// Serve on `listener` until `shutdown` completes. `/health` answers and
    /// `/ready` says what the daemon is doing from the first moment; the
    /// whole API once the store is open, plugins are loaded and sessions are
    /// restored. `daemon.json` exists while the listener does.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let config = self.config.clone();
        let state_dir = self.state_dir.clone();
        // The token exists before daemon.json says where to use it.
        let auth = Auth::load_or_create(&state_dir).context("loading the API token")?;
        let scrape = match &config.metrics.scrape_token {
            Some(r) => Some(
                String::from_utf8(crate::config::resolve_secret("metrics", "scrape_token", r)?)
                    .context("metrics.scrape_token is not UTF-8")?,
            ),
            None => None,
        };
        let auth = auth.with_scrape_token(scrape);
        let addr = listener.local_addr()?;
        let phase = Arc::new(std::sync::Mutex::new("opening the database".to_string()));
        let (router_tx, router_rx) = tokio::sync::watch::channel(api::health::starting_router(phase.clone()));
        let set_phase = |p: &str| *phase.lock().unwrap_or_else(|e| e.into_inner()) = p.to_string();
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let http = tokio::spawn(crate::httpd::serve(
            listener,
            router_rx,
            std::time::Duration::from_secs(config.server.header_timeout_secs.max(1)),
            std::time::Duration::from_secs(config.server.body_timeout_secs.max(1)),
            async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            },
        ));
        let info = DaemonInfo {
            pid: std::process::id(),
            addr,
        };
        write_private(&info_path(&state_dir), &serde_json::to_vec(&info)?)?;
        let _info = InfoFile(info_path(&state_dir));
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "listening on a non-loopback address: anyone who can reach it and holds the token controls your agents");
        }
        tracing::info!(%addr, token_file = %state_dir.join("token").display(), "listening (starting)");

        let (app, plugins_stop) = self.start(auth, addr.port(), &set_phase).await?;
        tokio::spawn(reload_on_sighup(app.clone()));
        let _ = router_tx.send(api::router(app));
        tracing::info!(%addr, "ready");
        shutdown.await;
        let _ = stop_tx.send(true);
        let _ = http.await;
        let _ = plugins_stop.send(true);
        tracing::info!("stopped");
        Ok(())
    }

    /// Open the store and the plugins, and re-attach the sessions a previous
    /// daemon left; `set_phase` names each step for `/ready`.
    async fn start(
        &self,
        auth: Auth,
        port: u16,
        set_phase: &dyn Fn(&str),
    ) -> Result<(api::AppState, tokio::sync::watch::Sender<bool>)> {
        let config = self.config.clone();
        let state_dir = &self.state_dir;
        let store = Arc::new(
            Store::open(&state_dir.join("wasmux.db"), config.store.durability).context("opening the database")?,
        );
        set_phase("loading plugins");
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

        let (plugins_stop, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(registry.clone().watch(stop_rx));

        set_phase("restoring sessions");
        let sessions = Registry::new(state_dir, store.clone(), registry.clone(), config.clone())?;
        sessions.restore().await.context("restoring sessions")?;
        tracing::info!(sessions = sessions.list().len(), tmux_socket = %sessions.tmux().socket().display(), "sessions restored");

        let outbox = crate::outbox::Outbox::new(store.clone(), registry.clone(), config.clone());
        outbox.start(plugins_stop.subscribe());
        let app = Arc::new(App {
            config,
            auth,
            plugins: registry,
            outbox,
            store,
            sessions,
            started_at: crate::util::now_ms(),
            console: crate::console::Console::new(&self.config, self.config_file.clone(), port),
        });
        Ok((app, plugins_stop))
    }
}

/// Removes `daemon.json` when the daemon stops, also when start-up fails.
struct InfoFile(PathBuf);

impl Drop for InfoFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Raise the soft `RLIMIT_NOFILE` to the hard limit: every session holds
/// log segments, raw files and a control client, every stream client a
/// socket.
fn raise_nofile() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::info!(nofile = n, "file descriptor limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the file descriptor limit"),
    }
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
