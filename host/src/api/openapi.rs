//! The OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "wasmux", description = "Host AI coding agents in tmux: sessions, terminal stream, durable queue, normalised events, WASM plugins."),
    paths(
        super::health::health, super::health::ready, super::health::ticket,
        super::plugins::list, super::plugins::reload,
        super::sessions::create, super::sessions::list, super::sessions::show, super::sessions::patch, super::sessions::delete,
        super::sessions::restart,
        super::messages::enqueue, super::messages::message, super::messages::cancel, super::messages::steer,
        super::messages::abort, super::messages::reset, super::messages::permission, super::messages::history,
        super::messages::state,
        super::events::events,
        super::adapters::chat,
        super::webhooks::webhook,
        super::metrics::metrics,
        crate::console::login_url, crate::console::sign_in, crate::console::whoami, crate::console::sign_out,
        crate::console::reload, crate::console::overview::overview,
        openapi,
    ),
    components(schemas(super::error::ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "OpenAPI 3.1 JSON")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
