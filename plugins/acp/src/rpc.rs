//! JSON-RPC 2.0 framing for ACP: one message per line, requests this client
//! makes (with ids and what each is waiting for), and classification of what
//! the agent sends.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// JSON-RPC "method not found", used for agent→client methods wasmux does
/// not offer (`fs/*`, `terminal/*`, extensions).
pub const METHOD_NOT_FOUND: i64 = -32601;

/// What a request this client sent is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// `initialize`.
    Initialize,
    /// `session/new`.
    NewSession,
    /// `session/prompt`: its response ends the turn.
    Prompt,
}

/// Ids and pending requests of the client side of the connection.
#[derive(Default)]
pub struct Rpc {
    next_id: u64,
    pending: BTreeMap<u64, Pending>,
}

impl Rpc {
    /// Forget every pending request (a new agent process started).
    pub fn reset(&mut self) {
        self.pending.clear();
    }

    /// A request line for `method`; remembers it as `what`.
    pub fn request(&mut self, what: Pending, method: &str, params: Value) -> (u64, String) {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, what);
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        (id, line.to_string())
    }

    /// Take the pending request answered by a response with `id`.
    pub fn take(&mut self, id: &Value) -> Option<Pending> {
        id.as_u64().and_then(|id| self.pending.remove(&id))
    }
}

/// A notification line (no id, no answer).
pub fn notification(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "method": method, "params": params}).to_string()
}

/// A success response to the agent's request `id`.
pub fn result(id: &Value, result: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string()
}

/// An error response to the agent's request `id`.
pub fn error(id: &Value, code: i64, message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}).to_string()
}

/// One message from the agent.
pub enum Incoming<'a> {
    /// The answer to one of this client's requests.
    Response {
        /// Its id.
        id: &'a Value,
        /// Outcome: `Ok(result)` or `Err(error object)`.
        outcome: Result<&'a Value, &'a Value>,
    },
    /// A request the client must answer.
    Request {
        /// Its id (number or string), echoed in the answer.
        id: &'a Value,
        /// Method name.
        method: &'a str,
        /// Parameters.
        params: &'a Value,
    },
    /// A notification.
    Notification {
        /// Method name.
        method: &'a str,
        /// Parameters.
        params: &'a Value,
    },
    /// Not a JSON-RPC message.
    Other,
}

/// Classify a parsed line.
pub fn classify(v: &Value) -> Incoming<'_> {
    let id = v.get("id").filter(|id| !id.is_null());
    match (v["method"].as_str(), id) {
        (Some(method), Some(id)) => Incoming::Request {
            id,
            method,
            params: &v["params"],
        },
        (Some(method), None) => Incoming::Notification {
            method,
            params: &v["params"],
        },
        (None, Some(id)) => match (v.get("result"), v.get("error")) {
            (_, Some(e)) if !e.is_null() => Incoming::Response { id, outcome: Err(e) },
            (Some(r), _) => Incoming::Response { id, outcome: Ok(r) },
            _ => Incoming::Other,
        },
        (None, None) => Incoming::Other,
    }
}

/// The human part of a JSON-RPC error object.
pub fn error_message(e: &Value) -> String {
    match (e["message"].as_str(), e["data"].is_null()) {
        (Some(m), true) => m.to_string(),
        (Some(m), false) => format!("{m} ({})", e["data"]),
        (None, _) => e.to_string(),
    }
}

/// A JSON-RPC id as a permission id usable in a URL path segment:
/// `rpc-<number>`, or `rpc-<string>` with anything outside `[A-Za-z0-9_-]`
/// replaced by `_`.
pub fn id_slug(id: &Value) -> String {
    let raw = match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let clean: String = raw
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("rpc-{clean}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_messages() {
        let req = json!({"jsonrpc": "2.0", "id": 3, "method": "fs/read_text_file", "params": {}});
        assert!(matches!(
            classify(&req),
            Incoming::Request {
                method: "fs/read_text_file",
                ..
            }
        ));
        let note = json!({"jsonrpc": "2.0", "method": "session/update", "params": {}});
        assert!(matches!(classify(&note), Incoming::Notification { .. }));
        let ok = json!({"jsonrpc": "2.0", "id": 1, "result": null});
        assert!(matches!(classify(&ok), Incoming::Response { outcome: Ok(_), .. }));
        let err = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -1, "message": "no"}});
        assert!(matches!(classify(&err), Incoming::Response { outcome: Err(_), .. }));
        assert!(matches!(classify(&json!({"hello": 1})), Incoming::Other));
    }

    #[test]
    fn requests_are_remembered_until_answered() {
        let mut rpc = Rpc::default();
        let (id, line) = rpc.request(Pending::NewSession, "session/new", json!({}));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (v["id"].as_u64(), v["method"].as_str()),
            (Some(id), Some("session/new"))
        );
        assert_eq!(rpc.take(&json!(id)), Some(Pending::NewSession));
        assert_eq!(rpc.take(&json!(id)), None);
    }

    #[test]
    fn ids_become_url_safe_permission_ids() {
        assert_eq!(id_slug(&json!(12)), "rpc-12");
        assert_eq!(id_slug(&json!("a/b c")), "rpc-a_b_c");
        let e = error(&json!("x"), METHOD_NOT_FOUND, "method not supported: fs/x");
        let v: Value = serde_json::from_str(&e).unwrap();
        assert_eq!(v["error"]["code"], -32601);
        assert_eq!(error_message(&v["error"]), "method not supported: fs/x");
    }
}
