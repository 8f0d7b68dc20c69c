//! The console's static files, embedded in the binary from `host/console/`
//! (no node at build time; third-party code is vendored under `vendor/`).

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::api::ApiError;

/// One embedded file: URL name, content type, bytes.
struct Asset(&'static str, &'static str, &'static [u8]);

macro_rules! asset {
    ($name:literal, $ty:expr) => {
        Asset($name, $ty, include_bytes!(concat!("../../console/", $name)))
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("api.js", JS),
    asset!("app.js", JS),
    asset!("list.js", JS),
    asset!("session.js", JS),
    asset!("terminal.js", JS),
    asset!("timeline.js", JS),
    asset!("plugins.js", JS),
    asset!("vendor/xterm.js", JS),
    asset!("vendor/xterm.css", "text/css; charset=utf-8"),
    asset!("vendor/addon-fit.js", JS),
    asset!("vendor/addon-web-links.js", JS),
    asset!("vendor/addon-unicode11.js", JS),
    asset!("vendor/LICENSE.xterm", "text/plain; charset=utf-8"),
    asset!("vendor/LICENSE.addon-fit", "text/plain; charset=utf-8"),
    asset!("vendor/LICENSE.addon-web-links", "text/plain; charset=utf-8"),
    asset!("vendor/LICENSE.addon-unicode11", "text/plain; charset=utf-8"),
    asset!("vendor/VERSIONS", "text/plain; charset=utf-8"),
];

/// Content-Security-Policy of every console response: only this origin's
/// scripts and connections; xterm.js injects `<style>` elements.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The entity tag of every asset (in [`ASSETS`] order): a quoted prefix of
/// its SHA-256, computed once. With `Cache-Control: no-cache` the browser
/// keeps the file and revalidates it on every use; an unchanged file costs a
/// `304` with no body (and the browser keeps its compiled code for scripts).
fn etags() -> &'static [HeaderValue] {
    static TAGS: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let tag = format!("\"{}\"", hex::encode(&Sha256::digest(a.2)[..12]));
                HeaderValue::from_str(&tag).expect("hex is a valid header value")
            })
            .collect()
    })
}

/// Whether `If-None-Match` names `tag` (or `*`).
fn not_modified(headers: &HeaderMap, tag: &HeaderValue) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t.as_bytes() == tag.as_bytes())
}

fn respond(i: usize, headers: &HeaderMap) -> Response {
    let a = &ASSETS[i];
    let tag = &etags()[i];
    let mut r = if not_modified(headers, tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        a.2.into_response()
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.1));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::ETAG, tag.clone());
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    r
}

/// The console page (it routes itself); no auth.
#[utoipa::path(get, path = "/", security(()), responses((status = 200, description = "the console page", content_type = "text/html", body = String)))]
pub async fn index(headers: HeaderMap) -> Response {
    respond(0, &headers)
}

/// The console page at its sign-in address (`/login#code=…`); no auth.
#[utoipa::path(get, path = "/login", security(()), responses((status = 200, description = "the console page", content_type = "text/html", body = String)))]
pub async fn login(headers: HeaderMap) -> Response {
    respond(0, &headers)
}

/// An embedded console file (scripts, styles, vendored xterm.js); no auth.
#[utoipa::path(get, path = "/console/{file}", params(("file" = String, Path, description = "file name")), security(()),
    responses((status = 200, description = "the file", content_type = "application/octet-stream", body = String),
              (status = 404, body = crate::api::error::ErrorBody)))]
pub async fn file(Path(name): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .position(|a| a.0 == name)
        .map(|i| respond(i, &headers))
        .ok_or_else(|| ApiError::not_found(format!("no console file {name}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_asset_is_non_empty_and_typed() {
        for a in super::ASSETS {
            assert!(!a.2.is_empty(), "{} is empty", a.0);
            assert!(a.1.contains('/'), "{}", a.0);
        }
    }

    #[test]
    fn an_unchanged_file_answers_304_with_its_tag() {
        use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
        let first = super::respond(2, &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        let tag = first.headers()[header::ETAG].clone();
        assert_eq!(first.headers()[header::CACHE_CONTROL], "no-cache");
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert_eq!(super::respond(2, &h).status(), StatusCode::OK);
        h.insert(header::IF_NONE_MATCH, tag.clone());
        let again = super::respond(2, &h);
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()[header::ETAG], tag);
        // Another file's tag does not match.
        assert_ne!(super::respond(3, &HeaderMap::new()).headers()[header::ETAG], tag);
    }
}
