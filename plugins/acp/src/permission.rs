//! `session/request_permission`: the agent's request becomes a wasmux
//! `permission-request` whose id is derived from the JSON-RPC id; the answer
//! is a JSON-RPC response selecting the option whose `kind` matches the
//! decision (allow → `allow_once`, always → `allow_always`, deny →
//! `reject_once`, each falling back to its sibling kind), or the
//! `cancelled` outcome when the turn is cancelled.

use serde_json::{Value, json};
use wasmux_sdk::*;

use crate::rpc;

/// A permission request waiting for an answer.
pub struct Ask {
    /// The JSON-RPC id to answer.
    pub rpc_id: Value,
    /// The offered options: (optionId, kind).
    options: Vec<(String, String)>,
}

/// Parse a request; the ask and the event describing it.
pub fn ask(id: &Value, params: &Value, known_title: Option<String>) -> (String, Ask, PermissionRequest) {
    let call = &params["toolCall"];
    let title = call["title"]
        .as_str()
        .map(str::to_string)
        .or(known_title)
        .unwrap_or_else(|| "tool".into());
    let mut description = title.clone();
    if let Some(input) = call.get("rawInput").filter(|r| !r.is_null()) {
        description.push_str(&format!(" {input}"));
    }
    let offered = params["options"].as_array().map(Vec::as_slice).unwrap_or_default();
    let options: Vec<(String, String)> = offered
        .iter()
        .map(|o| {
            (
                o["optionId"].as_str().unwrap_or_default().to_string(),
                o["kind"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let labels = offered
        .iter()
        .map(|o| {
            format!(
                "{} ({})",
                o["name"].as_str().unwrap_or_default(),
                o["kind"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let permission_id = rpc::id_slug(id);
    let event = PermissionRequest {
        permission_id: permission_id.clone(),
        tool_name: title,
        description,
        options: labels,
    };
    (
        permission_id,
        Ask {
            rpc_id: id.clone(),
            options,
        },
        event,
    )
}

impl Ask {
    /// The optionId of the first offered option of one of `kinds` (in order of preference).
    fn option(&self, kinds: &[&str]) -> Option<&str> {
        kinds
            .iter()
            .find_map(|k| self.options.iter().find(|(_, kind)| kind == k))
            .map(|(id, _)| id.as_str())
    }

    /// The response line answering with `decision`.
    pub fn answer(&self, decision: &PermissionDecision) -> Result<String, PluginError> {
        let kinds: &[&str] = match decision {
            PermissionDecision::Allow => &["allow_once", "allow_always"],
            PermissionDecision::Always => &["allow_always", "allow_once"],
            PermissionDecision::Deny => &["reject_once", "reject_always"],
            PermissionDecision::Other(o) => {
                return Err(error(ErrorKind::InvalidInput, format!("unknown decision {o:?}")));
            }
        };
        let outcome = match self.option(kinds) {
            Some(option) => json!({"outcome": "selected", "optionId": option}),
            // An agent that offers no way to refuse can still be told no.
            None if matches!(decision, PermissionDecision::Deny) => json!({"outcome": "cancelled"}),
            None => {
                return Err(error(
                    ErrorKind::InvalidInput,
                    "the agent offered no option that allows this",
                ));
            }
        };
        Ok(rpc::result(&self.rpc_id, json!({"outcome": outcome})))
    }

    /// The response line for a cancelled turn.
    pub fn cancelled(&self) -> String {
        rpc::result(&self.rpc_id, json!({"outcome": {"outcome": "cancelled"}}))
    }
}
