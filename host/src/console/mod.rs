//! The web console: a page served at `/` from embedded files, browser
//! sign-in with one-time login URLs exchanged for a session cookie, the
//! cookie's same-origin and CSRF guard, CORS for other origins' pages, and
//! the live `stream.allowed_origins` list (reloaded by `POST /config/reload`
//! or SIGHUP).

pub mod assets;
pub mod cors;
pub mod guard;
pub mod login;
pub mod overview;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::RwLock;

use crate::api::{ApiError, ApiJson, ApiResult, AppState};
use crate::config::Config;
use guard::Principal;
use login::Logins;

/// Console state shared by every request.
pub struct Console {
    /// Login codes and browser sessions.
    pub logins: Logins,
    origins: RwLock<Vec<String>>,
    config_file: Option<PathBuf>,
    cookie_name: String,
}

impl Console {
    /// Console state for a daemon with `config` (read from `config_file`,
    /// if any) listening on `port` (the cookie's name carries the port, so
    /// daemons on one host do not overwrite each other's cookies).
    pub fn new(config: &Config, config_file: Option<PathBuf>, port: u16) -> Console {
        Console {
            logins: Logins::default(),
            origins: RwLock::new(config.stream.allowed_origins.clone()),
            config_file,
            cookie_name: format!("wasmux_{port}"),
        }
    }

    /// Name of the session cookie.
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// The current `stream.allowed_origins`.
    pub fn origins(&self) -> Vec<String> {
        self.origins.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether `origin` is in `stream.allowed_origins`.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.origins
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|o| o == origin)
    }

    /// Read the config file (and `WASMUX_*` environment) again and take its
    /// `stream.allowed_origins`; the new list.
    pub fn reload(&self) -> Result<Vec<String>, crate::config::ConfigError> {
        let config = Config::load(self.config_file.as_deref())?;
        let list = config.stream.allowed_origins;
        *self.origins.write().unwrap_or_else(|p| p.into_inner()) = list.clone();
        tracing::info!(allowed_origins = ?list, "configuration reloaded");
        Ok(list)
    }
}

/// Open routes: the page, its files, and the code exchange.
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/", get(assets::index))
        .route("/login", get(assets::login))
        .route("/console/{*file}", get(assets::file))
        .route("/auth/session", post(sign_in))
}

/// Routes behind the token-or-cookie middleware.
pub fn protected_routes() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(login_url))
        .route("/auth/session", get(whoami).delete(sign_out))
        .route("/config/reload", post(reload))
        .route("/overview", get(overview::overview))
}

/// Query of `POST /auth/login`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LoginQuery {
    /// Open this session's page after signing in.
    pub session: Option<String>,
}

/// A one-time login URL.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginUrl {
    /// Open this in a browser (the code is in the fragment, so it never
    /// reaches a server log or a `Referer`).
    pub url: String,
    /// Seconds the code stays valid; it works once.
    pub expires_in_secs: u64,
}

/// Mint a one-time login URL for a browser.
#[utoipa::path(post, path = "/auth/login", params(LoginQuery),
    responses((status = 200, body = LoginUrl), (status = 401, body = crate::api::error::ErrorBody)))]
pub async fn login_url(
    State(app): State<AppState>,
    Query(q): Query<LoginQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<LoginUrl>> {
    if let Some(name) = &q.session {
        app.session(name)?;
    }
    let base = guard::self_origin(&headers).unwrap_or_else(|| format!("http://{}", app.config.listen));
    let code = app.console.logins.issue_code();
    let mut url = format!("{base}/login#code={code}");
    if let Some(name) = &q.session {
        url.push_str("&session=");
        url.push_str(
            &name
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>(),
        );
    }
    Ok(Json(LoginUrl {
        url,
        expires_in_secs: login::CODE_TTL.as_secs(),
    }))
}

/// Body of `POST /auth/session`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The code from the login URL.
    pub code: String,
}

/// A browser's view of its sign-in.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionAuth {
    /// `browser` (cookie), `bearer` or `ticket`.
    pub via: &'static str,
    /// The CSRF token to send as `X-CSRF-Token` (browser sessions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf: Option<String>,
}

/// Exchange a one-time login code for the session cookie.
#[utoipa::path(post, path = "/auth/session", request_body = SignIn, security(()),
    responses((status = 200, body = SessionAuth, description = "sets the HttpOnly, SameSite=Strict session cookie"),
              (status = 401, body = crate::api::error::ErrorBody), (status = 403, body = crate::api::error::ErrorBody)))]
pub async fn sign_in(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignIn>,
) -> ApiResult<Response> {
    let own = guard::self_origin(&headers);
    if guard::origin(&headers).is_none() || guard::origin(&headers) != own.as_deref() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_required",
            "sign in from the console page: the request needs an Origin header naming the daemon's own origin",
        ));
    }
    let Some(session) = app.console.logins.redeem(&body.code) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "login_code_invalid",
            "this sign-in link was already used or has expired: run `wasmux open` for a new one",
        ));
    };
    let cookie = format!(
        "{}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        app.console.cookie_name(),
        session.id,
        login::SESSION_TTL.as_secs()
    );
    let mut res = Json(SessionAuth {
        via: "browser",
        csrf: Some(session.csrf),
    })
    .into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal(e.to_string()))?,
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// How this request is signed in (browsers read their CSRF token here).
#[utoipa::path(get, path = "/auth/session",
    responses((status = 200, body = SessionAuth), (status = 401, body = crate::api::error::ErrorBody)))]
pub async fn whoami(Extension(p): Extension<Principal>) -> Response {
    let body = match p {
        Principal::Bearer => SessionAuth {
            via: "bearer",
            csrf: None,
        },
        Principal::Ticket => SessionAuth {
            via: "ticket",
            csrf: None,
        },
        Principal::Browser(s) => SessionAuth {
            via: "browser",
            csrf: Some(s.csrf),
        },
    };
    let mut res = Json(body).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Sign this browser out: the cookie stops working at once.
#[utoipa::path(delete, path = "/auth/session",
    responses((status = 200, body = SignedOut), (status = 401, body = crate::api::error::ErrorBody)))]
pub async fn sign_out(State(app): State<AppState>, Extension(p): Extension<Principal>) -> Response {
    let revoked = match &p {
        Principal::Browser(s) => app.console.logins.revoke(&s.id),
        _ => false,
    };
    let mut res = Json(SignedOut { ok: true, revoked }).into_response();
    let clear = format!(
        "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        app.console.cookie_name()
    );
    if let Ok(v) = HeaderValue::from_str(&clear) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// Re-read the configuration: `stream.allowed_origins` takes effect at once
/// (also on SIGHUP); other settings need a restart.
#[utoipa::path(post, path = "/config/reload",
    responses((status = 200, body = Reloaded), (status = 400, body = crate::api::error::ErrorBody)))]
pub async fn reload(State(app): State<AppState>) -> ApiResult<Json<Reloaded>> {
    let list = app
        .console
        .reload()
        .map_err(|e| ApiError::bad_request("invalid_config", e.to_string()))?;
    Ok(Json(Reloaded { allowed_origins: list }))
}

/// Body of `DELETE /auth/session`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SignedOut {
    /// Always true.
    pub ok: bool,
    /// Whether a browser session was revoked (false for a bearer token).
    pub revoked: bool,
}

/// Body of `POST /config/reload`.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reloaded {
    /// The origin allow-list now in force.
    pub allowed_origins: Vec<String>,
}
