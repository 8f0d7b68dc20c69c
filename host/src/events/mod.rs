//! Normalised events (docs/protocol.md, "Events"): one [`Event`] enum for
//! every provider and the queue, numbered per session by its [`EventBus`],
//! stored, then fanned out; [`follow`] reads stored events then live ones.

mod bus;
mod decision;
mod envelope;
mod event;
mod follow;
mod state;
pub mod wit;

pub use bus::{EventBus, Numbering};
pub use decision::Decision;
pub use envelope::{Envelope, MAX_FIELD, StoredEvent};
pub use event::Event;
pub use follow::{Break, Gap, follow};
pub use state::{AgentState, StateInfo, StateSource};

#[cfg(test)]
mod golden;
