//! Who a request is, and whether a browser's cookie may be used for it.
//!
//! The cookie is accepted only from the daemon's own origin: a request whose
//! `Origin` is another origin, or whose `Sec-Fetch-Site` says it crossed
//! sites, is refused even with a valid cookie (`SameSite=Strict` already
//! keeps browsers from sending it; this holds for the ones that would).
//! Mutating requests (anything but GET/HEAD/OPTIONS) with the cookie also
//! need `Origin` naming this origin and `X-CSRF-Token` carrying the browser
//! session's CSRF token.

use axum::http::{HeaderMap, Method, StatusCode};

use super::login::{BrowserSession, Logins};
use crate::api::ApiError;

/// Header carrying the CSRF token on mutating cookie requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How a request authenticated (a request extension set by the middleware).
#[derive(Debug, Clone)]
pub enum Principal {
    /// The operator token in `Authorization: Bearer`.
    Bearer,
    /// A single-use ticket in `?ticket=`.
    Ticket,
    /// A signed-in browser's cookie.
    Browser(BrowserSession),
}

/// `http://<Host>`: the origin a page served by this daemon has.
pub fn self_origin(headers: &HeaderMap) -> Option<String> {
    let host = headers.get("host")?.to_str().ok()?;
    Some(format!("http://{host}"))
}

/// The request's `Origin`, if any.
pub fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get("origin").and_then(|v| v.to_str().ok())
}

/// Whether `headers` show a request from the daemon's own origin (or from
/// no page at all): `Origin`, when present, is this origin, and
/// `Sec-Fetch-Site`, when present, is `same-origin` or `none`.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let origin_ok = match origin(headers) {
        None => true,
        Some(o) => self_origin(headers).is_some_and(|own| own == o),
    };
    let site_ok = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|s| s == "same-origin" || s == "none");
    origin_ok && site_ok
}

/// The value of cookie `name`, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn mutating(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The browser session a request's cookie names, checked against the rules
/// above: `Ok(None)` without the cookie; an error (401 signed out, 403
/// cross-origin or CSRF) when the cookie may not be used.
pub fn browser(
    logins: &Logins,
    cookie_name: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Option<BrowserSession>, ApiError> {
    let Some(id) = cookie(headers, cookie_name) else {
        return Ok(None);
    };
    let Some(session) = logins.session(id) else {
        return Err(ApiError::unauthorized(
            "this browser is signed out (or the daemon restarted): run `wasmux open` for a new sign-in link",
        ));
    };
    if !same_origin(headers) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_origin_refused",
            "the console cookie is accepted only from the daemon's own origin; other pages use the bearer token",
        ));
    }
    if mutating(method) {
        let own = self_origin(headers);
        if origin(headers).is_none() || origin(headers) != own.as_deref() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "origin_required",
                "mutating requests with the console cookie need an Origin header naming the daemon's own origin",
            ));
        }
        let csrf = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !Logins::csrf_matches(&session, csrf) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_required",
                "mutating requests with the console cookie need the X-CSRF-Token header from GET /auth/session",
            ));
        }
    }
    Ok(Some(session))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn cookie_only_same_origin_and_mutations_need_csrf() {
        let l = Logins::default();
        let s = l.redeem(&l.issue_code()).unwrap();
        let c = format!("a=b; wasmux_1={}", s.id);
        let host = ("host", "127.0.0.1:1");
        let get = headers(&[host, ("cookie", &c)]);
        assert!(browser(&l, "wasmux_1", &Method::GET, &get).unwrap().is_some());
        let cross = headers(&[host, ("cookie", &c), ("origin", "http://evil.example")]);
        assert_eq!(
            browser(&l, "wasmux_1", &Method::GET, &cross).unwrap_err().code,
            "cross_origin_refused"
        );
        let site = headers(&[host, ("cookie", &c), ("sec-fetch-site", "cross-site")]);
        assert_eq!(
            browser(&l, "wasmux_1", &Method::GET, &site).unwrap_err().code,
            "cross_origin_refused"
        );
        let no_origin = headers(&[host, ("cookie", &c), (CSRF_HEADER, &s.csrf)]);
        assert_eq!(
            browser(&l, "wasmux_1", &Method::POST, &no_origin).unwrap_err().code,
            "origin_required"
        );
        let no_csrf = headers(&[host, ("cookie", &c), ("origin", "http://127.0.0.1:1")]);
        assert_eq!(
            browser(&l, "wasmux_1", &Method::POST, &no_csrf).unwrap_err().code,
            "csrf_required"
        );
        let ok = headers(&[
            host,
            ("cookie", &c),
            ("origin", "http://127.0.0.1:1"),
            (CSRF_HEADER, &s.csrf),
        ]);
        assert!(browser(&l, "wasmux_1", &Method::POST, &ok).unwrap().is_some());
        l.revoke(&s.id);
        assert_eq!(
            browser(&l, "wasmux_1", &Method::GET, &get).unwrap_err().code,
            "unauthorized"
        );
        assert!(
            browser(&l, "wasmux_1", &Method::GET, &headers(&[host]))
                .unwrap()
                .is_none()
        );
    }
}
