//! Stored events, then live ones, without gap or duplicate: the one reader
//! SSE and the adapters share.

use futures::Stream;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

use super::{Envelope, EventBus};

/// Events the store no longer holds (retention), `from..=to`; on the wire
/// `{"type":"gap","from","to"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename = "gap")]
pub struct Gap {
    /// First missing seq.
    pub from: u64,
    /// Last missing seq.
    pub to: u64,
}

/// Where [`follow`]'s events do not simply continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// Retention dropped these events; later ones follow.
    Gap(Gap),
    /// The store could not be read: the stream ends here (never a silent
    /// end that looks like the last event).
    Failed(String),
}

/// Events of `bus` after `after`: the stored ones, then (with `follow`)
/// live ones as they are published. Yields `Err(Break::Gap)` where
/// retention dropped events, and `Err(Break::Failed)` last if the store
/// failed.
pub fn follow(bus: Arc<EventBus>, after: u64, follow: bool) -> impl Stream<Item = Result<Arc<Envelope>, Break>> {
    async_stream::stream! {
        let mut rx = bus.subscribe();
        let mut next = after + 1;
        // Read the store only while behind; live events in order need no query.
        let mut caught_up = false;
        loop {
            if caught_up {
                match rx.recv().await {
                    Ok(e) if e.seq == next => {
                        next += 1;
                        yield Ok(e);
                    }
                    Ok(e) if e.seq < next => {}
                    Ok(_) | Err(RecvError::Lagged(_)) => caught_up = false,
                    Err(RecvError::Closed) => break,
                }
                continue;
            }
            let batch = match bus.since(next - 1, 500) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(session = %bus.session(), error = %e, "reading events failed");
                    yield Err(Break::Failed(format!("reading stored events failed: {e}")));
                    break;
                }
            };
            if let Some(first) = batch.first() {
                if first.seq > next {
                    yield Err(Break::Gap(Gap { from: next, to: first.seq - 1 }));
                }
                for e in batch {
                    next = e.seq + 1;
                    yield Ok(e);
                }
                continue;
            }
            if !follow {
                break;
            }
            caught_up = true;
        }
    }
}
