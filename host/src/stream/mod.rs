//! The terminal stream: `GET /sessions/{name}/stream` (PROTOCOL.md §1).

pub mod protocol;
pub mod ws;
