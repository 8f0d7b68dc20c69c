//! Protocol providers end to end: `pi` (pi's RPC mode) and `acp` (Agent
//! Client Protocol) driving the fake agents in `tests/fixtures/{pi,acp}`
//! through the real daemon, tmux and `wasmux bridge`. Event sequences are
//! held against golden files made by `wasmux plugin test --protocol` from
//! recorded transcripts; `UPDATE_FIXTURES=1` re-records both.

mod acp;
mod golden;
mod pi;
mod replay;
