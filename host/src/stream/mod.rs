//! The terminal stream protocol and its connection loop (docs/protocol.md §1);
//! the HTTP route that upgrades to it lives in `api::stream`.

#[cfg(test)]
mod fuzz_tests;
pub mod protocol;
pub mod ws;
