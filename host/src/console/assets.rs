//! The console's static files, embedded in the binary from `host/console/`
//! (no node at build time; third-party code is vendored under `vendor/`).

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

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

fn respond(a: &Asset) -> Response {
    let mut r = a.2.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.1));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    r
}

/// The console page (it routes itself); no auth.
#[utoipa::path(get, path = "/", security(()), responses((status = 200, description = "the console page", content_type = "text/html", body = String)))]
pub async fn index() -> Response {
    respond(&ASSETS[0])
}

/// The console page at its sign-in address (`/login#code=…`); no auth.
#[utoipa::path(get, path = "/login", security(()), responses((status = 200, description = "the console page", content_type = "text/html", body = String)))]
pub async fn login() -> Response {
    respond(&ASSETS[0])
}

/// An embedded console file (scripts, styles, vendored xterm.js); no auth.
#[utoipa::path(get, path = "/console/{file}", params(("file" = String, Path, description = "file name")), security(()),
    responses((status = 200, description = "the file", content_type = "application/octet-stream", body = String),
              (status = 404, body = crate::api::error::ErrorBody)))]
pub async fn file(Path(name): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|a| a.0 == name)
        .map(respond)
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
}
