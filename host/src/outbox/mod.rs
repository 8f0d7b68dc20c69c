//! The outbox: integrations answer back. A webhook message with a
//! `replyTo` target owes a reply ([`replies`]): its plugin is told when the
//! message is accepted, of permission requests while it runs, and how it
//! ended, and answers with outbound requests. Those are written to the
//! `deliveries` table before anything is sent, then delivered
//! ([`deliver`]) with the credentials they name injected by the host,
//! retried on network errors, 5xx and 429, each at most once.
//!
//! Data flows one way: message status and events (store) → reply worker →
//! plugin → deliveries (store) → delivery worker → the far side.

mod deliver;
mod replies;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::sync::Notify;

use crate::config::Config;
use crate::plugins::PluginRegistry;
use crate::store::Store;

pub use deliver::{redact, url_allowed};

/// The metadata key of a webhook message that names its reply target.
pub const REPLY_TO: &str = "replyTo";

/// Counters for `/metrics` (since the daemon started).
#[derive(Debug, Default)]
pub struct OutboxStats {
    /// Delivery attempts made.
    pub attempts: AtomicU64,
    /// Attempts that failed (network, non-2xx, refused by policy).
    pub failures: AtomicU64,
    /// Reply calls into plugins that failed.
    pub reply_failures: AtomicU64,
}

/// What `/metrics` shows of the outbox.
#[derive(Debug, Default)]
pub struct OutboxSnapshot {
    /// Totals stored in the outbox.
    pub stored: crate::store::DeliveryStats,
    /// Attempts since start.
    pub attempts: u64,
    /// Failed attempts since start.
    pub failures: u64,
    /// Failed reply calls since start.
    pub reply_failures: u64,
}

/// The outbox's workers and what they share.
pub struct Outbox {
    store: Arc<Store>,
    plugins: Arc<PluginRegistry>,
    config: Arc<Config>,
    http: reqwest::Client,
    /// Poked when a reply is owed or a delivery is written.
    wake_replies: Notify,
    wake_deliveries: Notify,
    /// Counters.
    pub stats: OutboxStats,
}

impl Outbox {
    /// An outbox over `store`; call [`Outbox::start`] to run its workers.
    pub fn new(store: Arc<Store>, plugins: Arc<PluginRegistry>, config: Arc<Config>) -> Arc<Outbox> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a plain reqwest client builds");
        Arc::new(Outbox {
            store,
            plugins,
            config,
            http,
            wake_replies: Notify::new(),
            wake_deliveries: Notify::new(),
            stats: OutboxStats::default(),
        })
    }

    /// Give up attempts a stopped daemon left under way (never repeated),
    /// then run the reply and delivery workers until `stop` turns true.
    pub fn start(self: &Arc<Self>, stop: tokio::sync::watch::Receiver<bool>) {
        match self.store.deliveries_interrupted() {
            Ok(0) => {}
            Ok(n) => tracing::warn!(deliveries = n, "deliveries cut by a restart are given up, not repeated"),
            Err(e) => tracing::error!(error = %e, "reading the outbox failed"),
        }
        tokio::spawn(self.clone().run_replies(stop.clone()));
        tokio::spawn(self.clone().run_deliveries(stop));
    }

    /// Counters and stored totals, for `/metrics`.
    pub fn stats(&self) -> OutboxSnapshot {
        use std::sync::atomic::Ordering::Relaxed;
        OutboxSnapshot {
            stored: self.store.delivery_stats().unwrap_or_default(),
            attempts: self.stats.attempts.load(Relaxed),
            failures: self.stats.failures.load(Relaxed),
            reply_failures: self.stats.reply_failures.load(Relaxed),
        }
    }

    /// A webhook accepted message `message_id` for `plugin` with reply
    /// target `target` (JSON): owe it a reply.
    pub fn reply_owed(&self, message_id: &str, plugin: &str, session: &str, target: &serde_json::Value) {
        if let Err(e) = self.store.reply_open(message_id, plugin, session, &target.to_string()) {
            tracing::error!(message = message_id, plugin, error = %e, "recording the reply owed failed");
        }
        self.wake_replies.notify_one();
    }
}
