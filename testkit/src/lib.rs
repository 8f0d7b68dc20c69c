//! Test helpers for the provider tests against the real agent CLIs:
//!
//! * [`model_stub`] — a loopback HTTP server that speaks the Anthropic
//!   Messages and OpenAI Responses streaming APIs, answers each model call
//!   from a per-scenario script and records every request it receives;
//! * [`agent_clis`] — installs the pinned CLIs (`tests/agents/package.json`
//!   + lock file) privately under `target/agent-clis` with `npm ci`;
//! * [`home`] — a per-test `HOME` with each CLI's onboarding pre-answered,
//!   its model API pointed at the stub.

pub mod agent_clis;
pub mod home;
pub mod model_stub;
mod sse;
