//! The API's one error type: `{"error": "<sentence>", "code": "<slug>"}`
//! with an honest status.
//!
//! A full disk is `507 disk_full`, never `500 internal`: store, log and
//! session errors come here typed (`StoreError::DiskFull`,
//! `SessionError::DiskFull`). Only a plugin's refusal carries nothing but
//! text across the guest boundary (a kv write it passed on), so that one
//! is recognised by its text ([`crate::store::says_disk_full`]).

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::plugins::{PluginError, RefusalKind};

/// An error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable slug.
    pub code: &'static str,
    /// Human sentence.
    pub message: String,
}

/// The JSON body of every error.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, as a sentence.
    pub error: String,
    /// Machine-readable slug, e.g. `not_found`.
    pub code: String,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    /// 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// 409.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// 500: a bug or an unexpected failure.
    pub fn internal(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
    /// 507 `disk_full`: a write found no space; nothing of the request was
    /// stored. The same request succeeds once there is space again.
    pub fn disk_full(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::INSUFFICIENT_STORAGE, "disk_full", message)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        if e.is_disk_full() {
            ApiError::disk_full(e.to_string())
        } else {
            ApiError::internal(e.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, error = %self.message, "request failed");
        }
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
                code: self.code.to_string(),
            }),
        )
            .into_response()
    }
}

impl From<PluginError> for ApiError {
    fn from(e: PluginError) -> ApiError {
        let message = e.to_string();
        // A plugin passing on a host write (its kv store) that found the
        // disk full.
        if crate::store::says_disk_full(&message) {
            return ApiError::disk_full(message);
        }
        match &e {
            PluginError::NotLoaded { .. } => ApiError::not_found(message),
            PluginError::Refused { kind, .. } => match kind {
                RefusalKind::InvalidInput => ApiError::bad_request("invalid_input", message),
                RefusalKind::Unauthorized => ApiError::unauthorized(message),
                RefusalKind::Forbidden => ApiError::new(StatusCode::FORBIDDEN, "forbidden", message),
                RefusalKind::NotFound => ApiError::not_found(message),
                RefusalKind::Unsupported => ApiError::new(StatusCode::NOT_IMPLEMENTED, "unsupported", message),
                RefusalKind::Internal | RefusalKind::Other(_) => {
                    ApiError::new(StatusCode::BAD_GATEWAY, "plugin_error", message)
                }
            },
            PluginError::Trap { .. } => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "plugin_trap", message),
            PluginError::Deadline { .. } => ApiError::new(StatusCode::GATEWAY_TIMEOUT, "plugin_deadline", message),
            PluginError::OutputLimit { .. } => ApiError::new(StatusCode::BAD_GATEWAY, "plugin_output_limit", message),
            _ => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "plugin_invalid", message),
        }
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// A JSON body extractor whose failures are [`ApiError`]s: 413 beyond the
/// body limit, 400 with the failing field for malformed input. It does not
/// insist on a `content-type` header.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Map a body-reading failure to 413, 408 (the body did not arrive within
/// `server.body_timeout_secs`) or 400.
pub fn body_rejection(e: BytesRejection) -> ApiError {
    if crate::httpd::is_body_timeout(&e) || e.body_text().contains("request body timed out") {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            "the request body did not arrive in time (server.body_timeout_secs)",
        )
    } else if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is larger than the limit (limits.body_bytes)",
        )
    } else {
        ApiError::bad_request("bad_body", format!("could not read the request body: {e}"))
    }
}

/// Parse `bytes` as JSON into `T`, naming the offending field on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_json",
            "the request body is empty; send a JSON object",
        ));
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(ApiError::bad_request(
            "invalid_utf8",
            format!("the request body is not valid UTF-8 (at byte {})", e.valid_up_to()),
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("the request body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "the request body must be a JSON object",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::bad_request("invalid_body", format!("the request body has the wrong shape: {inner}"))
        } else {
            ApiError::bad_request("invalid_field", format!("field `{path}`: {inner}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use std::sync::Arc;
    use tower::ServiceExt;

    /// A route that stores its body as a plugin key, as a handler would.
    fn router(store: Arc<Store>) -> axum::Router {
        axum::Router::new().route(
            "/put",
            axum::routing::post(move |body: axum::body::Bytes| async move {
                store.kv_set("p", "k", &body)?;
                ApiResult::Ok(StatusCode::NO_CONTENT)
            }),
        )
    }

    async fn put(router: &axum::Router, body: Vec<u8>) -> (StatusCode, serde_json::Value) {
        let req = axum::http::Request::post("/put")
            .body(axum::body::Body::from(body))
            .unwrap();
        let resp = router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn a_full_disk_answers_507_over_http_and_the_same_request_succeeds_once_space_returns() {
        let store = Arc::new(Store::in_memory().unwrap());
        let router = router(store.clone());
        // A real SQLITE_FULL: the database may not grow past its size.
        let pages: i64 = store.conn().query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
        let _: i64 = store
            .conn()
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| r.get(0))
            .unwrap();
        let (status, body) = put(&router, vec![7; 200_000]).await;
        assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
        assert_eq!(body["code"], "disk_full", "{body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("the disk is full") && error.contains("nothing was stored"),
            "{body}"
        );
        assert_eq!(body.as_object().map(|o| o.len()), Some(2), "the error shape: {body}");
        assert_eq!(store.kv_get("p", "k").unwrap(), None);

        let _: i64 = store
            .conn()
            .query_row("PRAGMA max_page_count = 1073741823", [], |r| r.get(0))
            .unwrap();
        let (status, body) = put(&router, vec![7; 200_000]).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert_eq!(store.kv_get("p", "k").unwrap().map(|v| v.len()), Some(200_000));
    }

    #[test]
    fn only_a_full_disk_turns_an_internal_error_into_507() {
        use crate::session::SessionError;
        let enospc = || std::io::Error::from_raw_os_error(libc::ENOSPC);
        for full in [
            SessionError::from(crate::store::StoreError::DiskFull("database or disk is full".into())),
            SessionError::from(crate::outlog::LogError::Io(enospc())),
            SessionError::from(enospc()),
        ] {
            let shown = full.to_string();
            assert_eq!(ApiError::from(full).status, StatusCode::INSUFFICIENT_STORAGE, "{shown}");
        }
        // A plugin passing on its kv write's failure.
        let refused = |message: &str| PluginError::Refused {
            plugin: "p".into(),
            kind: RefusalKind::InvalidInput,
            message: message.into(),
        };
        let full = ApiError::from(refused("kv set: the disk is full: database or disk is full"));
        assert_eq!(
            (full.status, full.code),
            (StatusCode::INSUFFICIENT_STORAGE, "disk_full")
        );
        assert_eq!(ApiError::from(refused("bad key")).status, StatusCode::BAD_REQUEST);
        let other = ApiError::internal("database error: database disk image is malformed");
        assert_eq!(
            (other.status, other.code),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        );
    }
}
