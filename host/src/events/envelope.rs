//! A published event with its place in the session's sequence:
//! `{"seq","session","ts","type",…}`, serialised once.

use serde_json::{Map, Value, json};

use super::Event;

/// Longest string kept in an event field; longer ones are cut (the full
/// terminal output is in the output log).
pub const MAX_FIELD: usize = 64 * 1024;

/// An event as stored and sent.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Per-session sequence number (from 1).
    pub seq: u64,
    /// Milliseconds since the epoch.
    pub ts: u64,
    /// The event (long strings already cut).
    pub event: Event,
    /// The whole envelope as JSON text (what the store keeps, SSE and
    /// adapters send).
    text: String,
}

/// An event row as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Sequence number.
    pub seq: u64,
    /// Time, ms.
    pub ts: u64,
    /// The `type`.
    pub kind: &'static str,
    /// The JSON text.
    pub body: String,
}

impl Envelope {
    /// Number `event` as `seq` of `session` at `ts`, cutting strings longer
    /// than [`MAX_FIELD`].
    pub fn new(session: &str, seq: u64, ts: u64, event: Event) -> Envelope {
        let mut fields = match serde_json::to_value(&event) {
            Ok(Value::Object(o)) => o,
            _ => Map::new(),
        };
        let cut = cap_all(fields.values_mut());
        let event = if cut {
            serde_json::from_value(Value::Object(fields.clone())).unwrap_or(event)
        } else {
            event
        };
        fields.insert("seq".into(), json!(seq));
        fields.insert("session".into(), json!(session));
        fields.insert("ts".into(), json!(ts));
        Envelope {
            seq,
            ts,
            event,
            text: Value::Object(fields).to_string(),
        }
    }

    /// A stored row read back (unknown types keep their text).
    pub fn parse(seq: u64, body: String) -> Envelope {
        let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        Envelope {
            seq,
            ts: value["ts"].as_u64().unwrap_or(0),
            event: serde_json::from_value(value).unwrap_or(Event::Unknown),
            text: body,
        }
    }

    /// The JSON text.
    pub fn json(&self) -> &str {
        &self.text
    }

    /// The row to store.
    pub fn stored(&self) -> StoredEvent {
        StoredEvent {
            seq: self.seq,
            ts: self.ts,
            kind: self.event.kind(),
            body: self.text.clone(),
        }
    }
}

/// Cap every value (no short-circuit); whether any was cut.
fn cap_all<'a>(values: impl Iterator<Item = &'a mut Value>) -> bool {
    let mut cut = false;
    for v in values {
        cut |= cap(v);
    }
    cut
}

/// Cut long strings (recursively) to [`MAX_FIELD`] bytes; whether any was cut.
fn cap(v: &mut Value) -> bool {
    match v {
        Value::String(s) if s.len() > MAX_FIELD => {
            let mut cut = MAX_FIELD;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            *s = format!("{}…[{} bytes cut]", &s[..cut], s.len() - cut);
            true
        }
        Value::Array(a) => cap_all(a.iter_mut()),
        Value::Object(o) => cap_all(o.values_mut()),
        _ => false,
    }
}
