//! `POST /webhooks/{route}`: handed to the webhook plugin whose manifest
//! claims `route`. No operator token: the plugin authenticates the request
//! through the host's `crypto` import with a secret the operator granted it.
//! The plugin's actions are validated, then applied durably (each enqueue is
//! committed) before the plugin's response is sent; a trap applies nothing.

use super::extract::ApiPath;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

use super::adapters::http_request;
use super::{ApiError, ApiResult, AppState};
use crate::agent::EnqueueRequest;
use crate::plugins::webhook_call::{self, Action, Enqueue};
use crate::plugins::{Capability, PluginError};
use crate::session::CreateSession;

/// Response headers a plugin may not set.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "transfer-encoding",
    "content-length",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
];

/// Handle a webhook.
#[utoipa::path(post, path = "/webhooks/{route}", params(("route" = String, Path)), security(()),
    responses((status = 200, description = "the plugin's response"), (status = 401, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 500, body = super::error::ErrorBody)))]
pub async fn webhook(
    State(app): State<AppState>,
    ApiPath(route): ApiPath<String>,
    req: Request,
) -> ApiResult<Response> {
    let plugin = app
        .plugins
        .webhook_for_route(&route)
        .ok_or_else(|| ApiError::not_found(format!("no webhook plugin owns route `{route}`")))?;
    if plugin.ctx.secrets.is_empty() {
        tracing::warn!(
            plugin = plugin.name(),
            route,
            "webhook refused: the plugin has no secret configured ([plugins.{}.secrets])",
            plugin.name()
        );
        return Err(ApiError::unauthorized(format!(
            "webhook `{route}` is not configured: its plugin has no secret, so every request is refused"
        )));
    }
    let http = http_request(req).await?;
    let reply = webhook_call::handle(&plugin, &http).await.map_err(|e| match e {
        PluginError::Trap { .. } => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "plugin_trap", e.to_string()),
        other => other.into(),
    })?;
    let mut ids = Vec::new();
    let enqueues: Vec<&Enqueue> = reply
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Enqueue(e) => Some(e),
            Action::Other(x) => {
                tracing::debug!(plugin = plugin.name(), kind = %x.kind, "ignoring unknown webhook action");
                None
            }
        })
        .collect();
    if !enqueues.is_empty() && !plugin.granted.contains(&Capability::Enqueue) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "capability_not_granted",
            format!(
                "plugin `{}` returned enqueue actions but does not hold capability `enqueue`",
                plugin.name()
            ),
        ));
    }
    // Validate everything first, then apply.
    let settings = app.plugins.settings(plugin.name());
    for e in &enqueues {
        crate::tmux::validate_session_name(&e.session).map_err(|m| ApiError::bad_request("invalid_session", m))?;
        if app.sessions.get(&e.session).is_err() && (e.create_with_provider.is_none() || !settings.allow_create) {
            return Err(ApiError::not_found(format!(
                "session `{}` does not exist{}",
                e.session,
                if e.create_with_provider.is_some() {
                    " (the operator has not set allow_create for this plugin)"
                } else {
                    ""
                }
            )));
        }
    }
    for e in enqueues {
        if app.sessions.get(&e.session).is_err()
            && let Some(provider) = &e.create_with_provider
        {
            app.sessions
                .create(CreateSession {
                    name: Some(e.session.clone()),
                    provider: provider.clone(),
                    ..Default::default()
                })
                .await?;
        }
        let metadata: serde_json::Value = serde_json::from_str(&e.metadata).unwrap_or_else(|_| serde_json::json!({}));
        let reply_to = metadata.get(crate::outbox::REPLY_TO).cloned();
        let r = app.session(&e.session)?.agent.enqueue(EnqueueRequest {
            text: e.text.clone(),
            metadata,
            idempotency_key: e.idempotency_key.clone(),
            source: format!("webhook:{}", plugin.name()),
        })?;
        // Committed: the plugin owes the sender an answer (once per message,
        // also when a redelivery found it queued already).
        match reply_to {
            Some(target) if plugin.replies.is_some() => {
                app.outbox.reply_owed(&r.id, plugin.name(), &e.session, &target);
            }
            Some(_) => tracing::debug!(
                plugin = plugin.name(),
                "replyTo ignored: the plugin exports no reply-handler"
            ),
            None => {}
        }
        ids.push(r.id);
    }
    let mut resp = Response::builder().status(StatusCode::from_u16(reply.response.status).unwrap_or(StatusCode::OK));
    for (k, v) in &reply.response.headers {
        if HOP_BY_HOP.contains(&k.to_ascii_lowercase().as_str()) {
            continue;
        }
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v.as_str())) {
            resp = resp.header(k, v);
        }
    }
    if !ids.is_empty() {
        resp = resp.header("x-wasmux-messages", ids.join(","));
    }
    resp.body(Body::from(reply.response.body))
        .map_err(|e| ApiError::internal(e.to_string()))
}
