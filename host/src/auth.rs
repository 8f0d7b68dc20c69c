//! Operator token and browser tickets.
//!
//! The token is 32 random bytes (hex) generated on first start and stored
//! 0600 at `<state>/token`; every route but `/health` (and webhook routes,
//! which plugins authenticate) requires `Authorization: Bearer <token>`,
//! compared in constant time. Browsers get a single-use ticket valid for
//! 30 s from `POST /auth/ticket` for `?ticket=` on WebSocket URLs, so the
//! long-lived token never appears in a URL.

use rand::RngCore;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// How long a ticket stays valid.
pub const TICKET_TTL: Duration = Duration::from_secs(30);

/// The daemon's credentials.
pub struct Auth {
    token: String,
    scrape: Option<String>,
    tickets: Mutex<HashMap<String, Instant>>,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

impl Auth {
    /// Read `<dir>/token`, creating it (0600) if missing.
    pub fn load_or_create(dir: &Path) -> std::io::Result<Auth> {
        let path = dir.join("token");
        let token = match std::fs::read_to_string(&path) {
            Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
            _ => {
                let t = random_hex(32);
                crate::util::write_private(&path, t.as_bytes())?;
                tracing::info!(path = %path.display(), "generated a new API token");
                t
            }
        };
        Ok(Auth::with_token(token))
    }

    /// Credentials with a known token.
    pub fn with_token(token: String) -> Auth {
        Auth {
            token,
            scrape: None,
            tickets: Mutex::new(HashMap::new()),
        }
    }

    /// Also accept `scrape` as a bearer token on `/metrics` (only there).
    pub fn with_scrape_token(mut self, scrape: Option<String>) -> Auth {
        self.scrape = scrape.filter(|s| !s.is_empty());
        self
    }

    /// Whether an `Authorization` header value carries the scrape token.
    pub fn check_scrape_header(&self, header: Option<&str>) -> bool {
        let Some(scrape) = &self.scrape else {
            return false;
        };
        header
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .is_some_and(|t| t.trim().len() == scrape.len() && bool::from(t.trim().as_bytes().ct_eq(scrape.as_bytes())))
    }

    /// Whether `presented` equals the token (constant time).
    pub fn token_matches(&self, presented: &str) -> bool {
        let a = self.token.as_bytes();
        let b = presented.as_bytes();
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }

    /// Whether an `Authorization` header value carries the token.
    pub fn check_header(&self, header: Option<&str>) -> bool {
        header
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .is_some_and(|t| self.token_matches(t.trim()))
    }

    /// A new single-use ticket.
    pub fn issue_ticket(&self) -> String {
        let ticket = random_hex(24);
        let mut tickets = self.tickets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        tickets.retain(|_, issued| now.duration_since(*issued) < TICKET_TTL);
        tickets.insert(ticket.clone(), now);
        ticket
    }

    /// Consume `ticket`; true if it was valid and unexpired.
    pub fn redeem_ticket(&self, ticket: &str) -> bool {
        let mut tickets = self.tickets.lock().unwrap_or_else(|p| p.into_inner());
        // Look up by constant-time scan so timing does not reveal prefixes.
        let found = tickets
            .keys()
            .find(|k| k.len() == ticket.len() && bool::from(k.as_bytes().ct_eq(ticket.as_bytes())))
            .cloned();
        match found.and_then(|k| tickets.remove(&k)) {
            Some(issued) => issued.elapsed() < TICKET_TTL,
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_are_single_use() {
        let a = Auth::with_token("t0k".into());
        assert!(a.check_header(Some("Bearer t0k")));
        assert!(!a.check_header(Some("Bearer t0")));
        assert!(!a.check_header(None));
        let t = a.issue_ticket();
        assert!(a.redeem_ticket(&t));
        assert!(!a.redeem_ticket(&t));
    }
}
