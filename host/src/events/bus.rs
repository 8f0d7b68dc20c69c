//! The event bus of one session: numbers events once, stores them, then
//! fans them out to subscribers (SSE, adapters, the turn watcher).

use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

use super::{Envelope, Event};
use crate::store::{Store, StoreError};

/// Events of one session, in order.
pub struct EventBus {
    session: String,
    store: Arc<Store>,
    next: Mutex<u64>,
    tx: broadcast::Sender<Arc<Envelope>>,
}

/// The seq and time the next event gets, handed to a caller that stores
/// the event inside a transaction of its own ([`EventBus::publish_in`]).
pub struct Numbering<'a> {
    session: &'a str,
    seq: u64,
    ts: u64,
}

impl Numbering<'_> {
    /// `event` numbered as the next event.
    pub fn envelope(&self, event: Event) -> Envelope {
        Envelope::new(self.session, self.seq, self.ts, event)
    }
}

impl EventBus {
    /// A bus for `session`, continuing after its stored events.
    pub fn new(session: &str, store: Arc<Store>) -> Result<EventBus, StoreError> {
        let last = store.event_last_seq(session)?;
        Ok(EventBus {
            session: session.to_string(),
            store,
            next: Mutex::new(last + 1),
            tx: broadcast::channel(1024).0,
        })
    }

    /// Subscribe to events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.tx.subscribe()
    }

    /// The last published seq.
    pub fn last_seq(&self) -> u64 {
        *self.next.lock().unwrap_or_else(|p| p.into_inner()) - 1
    }

    /// Store and broadcast `events`, in order, in one transaction.
    pub fn publish(&self, events: Vec<Event>) -> Result<Vec<Arc<Envelope>>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let ts = crate::util::now_ms();
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let envelopes: Vec<Arc<Envelope>> = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| Arc::new(Envelope::new(&self.session, *next + i as u64, ts, e)))
            .collect();
        let rows: Vec<_> = envelopes.iter().map(|e| e.stored()).collect();
        self.store.event_insert(&self.session, &rows)?;
        *next += envelopes.len() as u64;
        drop(next);
        for e in &envelopes {
            let _ = self.tx.send(e.clone());
        }
        Ok(envelopes)
    }

    /// Publish one event that `f` stores inside its own transaction: `f`
    /// gets the numbering, returns its result and the envelope it stored
    /// (None: nothing was stored, nothing is published).
    pub fn publish_in<R, E>(&self, f: impl FnOnce(&Numbering<'_>) -> Result<(R, Option<Envelope>), E>) -> Result<R, E> {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let numbering = Numbering {
            session: &self.session,
            seq: *next,
            ts: crate::util::now_ms(),
        };
        let (result, stored) = f(&numbering)?;
        if let Some(envelope) = stored {
            debug_assert_eq!(envelope.seq, *next);
            *next += 1;
            drop(next);
            let _ = self.tx.send(Arc::new(envelope));
        }
        Ok(result)
    }

    /// Publish one event; errors are logged, not returned.
    pub fn emit(&self, event: Event) {
        if let Err(e) = self.publish(vec![event]) {
            tracing::error!(session = %self.session, error = %e, "storing event failed");
        }
    }

    /// Stored events after `after` (at most `limit`).
    pub fn since(&self, after: u64, limit: usize) -> Result<Vec<Arc<Envelope>>, StoreError> {
        Ok(self
            .store
            .event_after(&self.session, after, limit)?
            .into_iter()
            .map(|(seq, body)| Arc::new(Envelope::parse(seq, body)))
            .collect())
    }

    /// The session's name.
    pub fn session(&self) -> &str {
        &self.session
    }
}
