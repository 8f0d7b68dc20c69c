//! One-time login codes and the browser sessions they are exchanged for.
//!
//! `POST /auth/login` (bearer) mints a code valid for [`CODE_TTL`], usable
//! once; the console page posts it to `POST /auth/session`, which answers
//! with an `HttpOnly; SameSite=Strict` cookie naming a browser session and
//! the session's CSRF token. Codes, session ids and CSRF tokens are random
//! 24-byte hex strings, looked up in constant time. Everything lives in
//! memory: a daemon restart signs every browser out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// How long a login code stays valid.
pub const CODE_TTL: Duration = Duration::from_secs(120);
/// How long a browser session lasts without being renewed by a new sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Most live browser sessions; the oldest is dropped beyond this.
const MAX_SESSIONS: usize = 256;

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    /// Cookie value.
    pub id: String,
    /// Token the page sends in `X-CSRF-Token` on mutating requests.
    pub csrf: String,
    /// When it was created.
    pub created: Instant,
}

/// Login codes and browser sessions.
#[derive(Default)]
pub struct Logins {
    codes: Mutex<HashMap<String, Instant>>,
    sessions: Mutex<Vec<BrowserSession>>,
}

fn random_hex() -> String {
    use rand::RngCore;
    let mut buf = [0u8; 24];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

fn eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Logins {
    /// Mint a single-use login code.
    pub fn issue_code(&self) -> String {
        let code = random_hex();
        let mut codes = self.codes.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        codes.retain(|_, at| now.duration_since(*at) < CODE_TTL);
        codes.insert(code.clone(), now);
        code
    }

    /// Consume `code` and open a browser session; `None` if the code is
    /// unknown, already used or expired.
    pub fn redeem(&self, code: &str) -> Option<BrowserSession> {
        let issued = {
            let mut codes = self.codes.lock().unwrap_or_else(|p| p.into_inner());
            let found = codes.keys().find(|k| eq(k, code)).cloned()?;
            codes.remove(&found)?
        };
        if issued.elapsed() >= CODE_TTL {
            return None;
        }
        let session = BrowserSession {
            id: random_hex(),
            csrf: random_hex(),
            created: Instant::now(),
        };
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|s| s.created.elapsed() < SESSION_TTL);
        if sessions.len() >= MAX_SESSIONS {
            sessions.remove(0);
        }
        sessions.push(session.clone());
        Some(session)
    }

    /// The live browser session whose cookie value is `id`.
    pub fn session(&self, id: &str) -> Option<BrowserSession> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        // Scan every entry so timing does not depend on where a match is.
        let mut found = None;
        for s in sessions.iter() {
            if eq(&s.id, id) && s.created.elapsed() < SESSION_TTL {
                found = Some(s.clone());
            }
        }
        found
    }

    /// Sign the browser session `id` out; true if it existed.
    pub fn revoke(&self, id: &str) -> bool {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let before = sessions.len();
        sessions.retain(|s| !eq(&s.id, id));
        sessions.len() != before
    }

    /// Whether `presented` is `session`'s CSRF token (constant time).
    pub fn csrf_matches(session: &BrowserSession, presented: &str) -> bool {
        eq(&session.csrf, presented)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_single_use_and_sessions_revocable() {
        let l = Logins::default();
        let code = l.issue_code();
        let s = l.redeem(&code).expect("first use");
        assert!(l.redeem(&code).is_none(), "second use refused");
        assert!(l.redeem("nope").is_none());
        assert_eq!(l.session(&s.id).map(|x| x.csrf.clone()), Some(s.csrf.clone()));
        assert!(Logins::csrf_matches(&s, &s.csrf));
        assert!(!Logins::csrf_matches(&s, &s.id));
        assert!(l.revoke(&s.id));
        assert!(l.session(&s.id).is_none());
    }
}
