//! Normalised events (PROTOCOL.md §3): one JSON object per event,
//! `{"seq","session","ts","type",…}`, numbered per session, stored, then
//! fanned out. The provider's WIT `agent-event`s and the queue's own events
//! share this bus.

mod convert;
pub mod to_wit;

pub use convert::{agent_event, state_event, state_names};

use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

use crate::store::{Store, StoreError};

/// Longest string kept in an event field; longer ones are cut (the full
/// terminal output is in the output log).
pub const MAX_FIELD: usize = 64 * 1024;

/// A published event.
#[derive(Debug, Clone)]
pub struct Event {
    /// Per-session sequence number (from 1).
    pub seq: u64,
    /// Milliseconds since the epoch.
    pub ts: u64,
    /// `message`, `tool-call`, `state`, `message-done`, …
    pub kind: String,
    /// The whole event as JSON.
    pub value: Value,
    /// The same, serialised once (what SSE and adapters send).
    text: String,
}

impl Event {
    /// The JSON text.
    pub fn json(&self) -> String {
        self.text.clone()
    }
}

/// The event bus of one session.
pub struct EventBus {
    session: String,
    store: Arc<Store>,
    next: Mutex<u64>,
    tx: broadcast::Sender<Arc<Event>>,
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
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// The last published seq.
    pub fn last_seq(&self) -> u64 {
        *self.next.lock().unwrap_or_else(|p| p.into_inner()) - 1
    }

    /// Store and broadcast `(type, fields)` events, in order, atomically.
    pub fn publish(&self, items: Vec<(&str, Value)>) -> Result<Vec<Arc<Event>>, StoreError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let ts = crate::util::now_ms();
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let mut events = Vec::with_capacity(items.len());
        let mut rows = Vec::with_capacity(items.len());
        for (i, (kind, fields)) in items.into_iter().enumerate() {
            let seq = *next + i as u64;
            let value = event_json(seq, &self.session, ts, kind, fields);
            let text = value.to_string();
            rows.push((seq, ts, kind, text.clone()));
            events.push(Arc::new(Event {
                seq,
                ts,
                kind: kind.to_string(),
                value,
                text,
            }));
        }
        self.store.event_insert(&self.session, &rows)?;
        *next += events.len() as u64;
        drop(next);
        for e in &events {
            let _ = self.tx.send(e.clone());
        }
        Ok(events)
    }

    /// Publish one event whose row the caller stores inside its own
    /// transaction: `f` gets the seq and time, returns the row it stored (or
    /// None to publish nothing) with its result.
    pub fn publish_with<R, E>(
        &self,
        kind: &str,
        f: impl FnOnce(&dyn Fn(Value) -> (u64, u64, String, String)) -> Result<(R, bool), E>,
    ) -> Result<R, E> {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let seq = *next;
        let ts = crate::util::now_ms();
        let built: std::cell::RefCell<Option<(Value, String)>> = Default::default();
        let row = |fields: Value| {
            let value = event_json(seq, &self.session, ts, kind, fields);
            let text = value.to_string();
            *built.borrow_mut() = Some((value, text.clone()));
            (seq, ts, kind.to_string(), text)
        };
        let (result, stored) = f(&row)?;
        if stored && let Some((value, text)) = built.into_inner() {
            *next += 1;
            drop(next);
            let _ = self.tx.send(Arc::new(Event {
                seq,
                ts,
                kind: kind.to_string(),
                value,
                text,
            }));
        }
        Ok(result)
    }

    /// Publish one event; errors are logged, not returned.
    pub fn emit(&self, kind: &str, fields: Value) {
        if let Err(e) = self.publish(vec![(kind, fields)]) {
            tracing::error!(session = %self.session, error = %e, "storing event failed");
        }
    }

    /// Stored events after `after` (at most `limit`), parsed.
    pub fn since(&self, after: u64, limit: usize) -> Result<Vec<Arc<Event>>, StoreError> {
        Ok(self
            .store
            .event_after(&self.session, after, limit)?
            .into_iter()
            .filter_map(|(seq, body)| {
                let value: Value = serde_json::from_str(&body).ok()?;
                Some(Arc::new(Event {
                    seq,
                    ts: value["ts"].as_u64().unwrap_or(0),
                    kind: value["type"].as_str().unwrap_or("").to_string(),
                    value,
                    text: body,
                }))
            })
            .collect())
    }
}

/// The JSON of one event: `{"seq","session","ts","type",…fields}`, long
/// strings cut to [`MAX_FIELD`].
pub fn event_json(seq: u64, session: &str, ts: u64, kind: &str, fields: Value) -> Value {
    let mut obj = Map::new();
    obj.insert("seq".into(), json!(seq));
    obj.insert("session".into(), json!(session));
    obj.insert("ts".into(), json!(ts));
    obj.insert("type".into(), json!(kind));
    if let Value::Object(f) = fields {
        for (k, v) in f {
            obj.insert(k, cap(v));
        }
    }
    Value::Object(obj)
}

/// Cut long strings (recursively) to [`MAX_FIELD`] bytes.
fn cap(v: Value) -> Value {
    match v {
        Value::String(s) if s.len() > MAX_FIELD => {
            let mut cut = MAX_FIELD;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            Value::String(format!("{}…[{} bytes cut]", &s[..cut], s.len() - cut))
        }
        Value::Array(a) => Value::Array(a.into_iter().map(cap).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, cap(v))).collect()),
        other => other,
    }
}
