//! The API's one error type: `{"error": "<sentence>", "code": "<slug>"}`
//! with an honest status.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::plugins::PluginError;

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
        match &e {
            PluginError::NotLoaded { .. } => ApiError::not_found(message),
            PluginError::Refused { kind, .. } => match kind.as_str() {
                "invalid-input" => ApiError::bad_request("invalid_input", message),
                "unauthorized" => ApiError::unauthorized(message),
                "forbidden" => ApiError::new(StatusCode::FORBIDDEN, "forbidden", message),
                "not-found" => ApiError::not_found(message),
                "unsupported" => ApiError::new(StatusCode::NOT_IMPLEMENTED, "unsupported", message),
                _ => ApiError::new(StatusCode::BAD_GATEWAY, "plugin_error", message),
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
