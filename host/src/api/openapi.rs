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
        super::stream::handler,
        super::adapters::chat,
        super::webhooks::webhook, super::deliveries::deliveries,
        super::metrics::metrics,
        crate::console::login_url, crate::console::sign_in, crate::console::whoami, crate::console::sign_out,
        crate::console::reload, crate::console::overview::overview,
        crate::console::assets::index, crate::console::assets::login, crate::console::assets::file,
        openapi,
    ),
    components(schemas(super::error::ErrorBody, crate::events::Event, super::events::EventRecord,
        crate::stream::protocol::ClientMessage, crate::stream::protocol::ServerMessage)),
    modifiers(&BearerAuth, &ResourceTags),
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

/// Tags by resource, from the path (utoipa would name them after Rust
/// module paths).
struct ResourceTags;

/// The tag of the operation at `path`.
fn resource_of(path: &str) -> &'static str {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["sessions"] | ["sessions", _] | ["sessions", _, "restart"] => "sessions",
        ["sessions", _, "stream"] => "stream",
        ["sessions", _, "events"] | ["sessions", _, "chat"] => "events",
        ["sessions", _, ..] => "queue",
        ["plugins", ..] => "plugins",
        ["webhooks", ..] => "webhooks",
        [""] | ["login"] | ["console", ..] | ["auth", ..] | ["overview"] | ["config", ..] => "console",
        _ => "daemon",
    }
}

impl utoipa::Modify for ResourceTags {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for (path, item) in doc.paths.paths.iter_mut() {
            let tag = resource_of(path).to_string();
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                op.tags = Some(vec![tag.clone()]);
            }
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "OpenAPI 3.1 JSON")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every `.route("PATH", get(..).post(..))` declared in the crate's
    /// source, as `METHOD PATH`.
    fn declared_routes() -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                if p.extension().is_none_or(|x| x != "rs") || p.ends_with("openapi.rs") {
                    continue;
                }
                let src = std::fs::read_to_string(&p).unwrap();
                for (at, _) in src.match_indices(".route(\"") {
                    let rest = &src[at + 8..];
                    let path = &rest[..rest.find('"').unwrap()];
                    // axum's `{*rest}` wildcard is OpenAPI's `{rest}`.
                    let doc_path = path.replace("{*", "{");
                    // The method routers: up to the call's closing paren.
                    let mut depth = 1;
                    let mut end = 0;
                    for (i, c) in rest.char_indices().skip(path.len() + 1) {
                        match c {
                            '(' => depth += 1,
                            ')' => {
                                depth -= 1;
                                if depth == 0 {
                                    end = i;
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                    let call = &rest[path.len() + 1..end];
                    for m in ["get", "post", "put", "patch", "delete"] {
                        let needles = [format!("{m}("), format!("routing::{m}(")];
                        let found = call
                            .match_indices(&needles[0])
                            .any(|(i, _)| i == 0 || !call[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'));
                        if found {
                            out.insert(format!("{} {doc_path}", m.to_uppercase()));
                        }
                    }
                }
            }
        }
        out
    }

    fn documented_routes() -> BTreeSet<String> {
        let doc = ApiDoc::openapi();
        let mut out = BTreeSet::new();
        for (path, item) in doc.paths.paths.iter() {
            for (m, op) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ] {
                if op.is_some() {
                    out.insert(format!("{m} {path}"));
                }
            }
        }
        out
    }

    #[test]
    fn every_route_is_documented_and_every_documented_route_exists() {
        let declared = declared_routes();
        let documented = documented_routes();
        assert!(
            declared.len() >= 25,
            "the source walk found too few routes: {declared:?}"
        );
        let missing: Vec<_> = declared.difference(&documented).collect();
        let stale: Vec<_> = documented.difference(&declared).collect();
        assert!(missing.is_empty(), "routes without an OpenAPI operation: {missing:?}");
        assert!(stale.is_empty(), "documented operations with no route: {stale:?}");
    }

    #[test]
    fn operations_have_resource_tags_and_typed_success_responses() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let resources = [
            "sessions", "stream", "events", "queue", "plugins", "webhooks", "console", "daemon",
        ];
        let mut problems = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let tags: Vec<&str> = op["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str())
                    .collect();
                if tags.len() != 1 || !resources.contains(&tags[0]) {
                    problems.push(format!("{method} {path}: tags {tags:?}"));
                }
                let responses = op["responses"].as_object().unwrap();
                let Some((_, ok)) = responses
                    .iter()
                    .find(|(c, _)| c.starts_with('2') || c.as_str() == "101")
                else {
                    problems.push(format!("{method} {path}: no success response"));
                    continue;
                };
                // JSON routes name their body; streams and plain text say
                // what they send in words and a content type.
                let streams = path.ends_with("/stream")
                    || path.ends_with("/events")
                    || path.ends_with("/chat")
                    || path.starts_with("/webhooks")
                    || path == "/metrics"
                    || path == "/openapi.json";
                let described = ok["description"].as_str().is_some_and(|d| !d.is_empty());
                if ok.get("content").is_none() && !(streams && described) {
                    problems.push(format!("{method} {path}: success response without a body schema"));
                }
                for (code, r) in responses {
                    if code.starts_with('4')
                        && r["content"]["application/json"]["schema"]["$ref"] != "#/components/schemas/ErrorBody"
                    {
                        problems.push(format!("{method} {path} {code}: not the JSON error shape"));
                    }
                }
            }
        }
        for name in ["Event", "EventRecord", "ClientMessage", "ServerMessage", "ErrorBody"] {
            if doc["components"]["schemas"].get(name).is_none() {
                problems.push(format!("schema {name} missing"));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
