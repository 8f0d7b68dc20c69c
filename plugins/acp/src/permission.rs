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
    /// The tool call asking.
    pub call_id: String,
    /// The offered options: (optionId, kind).
    options: Vec<(String, String)>,
}

/// What the turn already knows about the tool call asking: its title and
/// raw input (the request itself may carry only the tool call's id).
pub struct Known {
    /// Title from the `tool_call` update.
    pub title: Option<String>,
    /// `rawInput` from the `tool_call` update, as JSON text.
    pub input: Option<String>,
}

/// Parse a request; its permission id, the ask and the event describing it.
pub fn ask(id: &Value, params: &Value, known: Known) -> (String, Ask, PermissionRequest) {
    let call = &params["toolCall"];
    let title = call["title"]
        .as_str()
        .map(str::to_string)
        .or(known.title)
        .unwrap_or_else(|| "tool".into());
    let input = call
        .get("rawInput")
        .filter(|r| !r.is_null())
        .map(Value::to_string)
        .or(known.input);
    let description = match input {
        Some(input) => format!("{title} {input}"),
        None => title.clone(),
    };
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
            call_id: call["toolCallId"].as_str().unwrap_or_default().to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn request(options: Value) -> (String, Ask, PermissionRequest) {
        let params = json!({"sessionId": "s", "toolCall": {"toolCallId": "c1"}, "options": options});
        let known = Known {
            title: Some("Write a.txt".into()),
            input: Some(r#"{"path":"a.txt"}"#.into()),
        };
        ask(&json!(7), &params, known)
    }

    fn chosen(line: &str) -> Value {
        serde_json::from_str::<Value>(line).unwrap()["result"]["outcome"].clone()
    }

    #[test]
    fn decisions_pick_the_matching_option_kind() {
        let all = json!([
            {"optionId": "a1", "name": "Allow", "kind": "allow_once"},
            {"optionId": "a2", "name": "Always", "kind": "allow_always"},
            {"optionId": "r1", "name": "Reject", "kind": "reject_once"}
        ]);
        let (id, ask, event) = request(all);
        assert_eq!(id, "rpc-7");
        assert_eq!(event.tool_name, "Write a.txt");
        assert_eq!(event.description, r#"Write a.txt {"path":"a.txt"}"#);
        assert_eq!(ask.call_id, "c1");
        let pick = |d| chosen(&ask.answer(&d).unwrap())["optionId"].clone();
        assert_eq!(pick(PermissionDecision::Allow), "a1");
        assert_eq!(pick(PermissionDecision::Always), "a2");
        assert_eq!(pick(PermissionDecision::Deny), "r1");
        let line: Value = serde_json::from_str(&ask.answer(&PermissionDecision::Allow).unwrap()).unwrap();
        assert_eq!(line["id"], 7, "the answer echoes the request id");
    }

    #[test]
    fn missing_kinds_fall_back() {
        let (_, ask, _) = request(json!([{"optionId": "always", "name": "Always", "kind": "allow_always"}]));
        let allow = chosen(&ask.answer(&PermissionDecision::Allow).unwrap());
        assert_eq!(allow["optionId"], "always", "allow falls back to allow_always");
        let deny = chosen(&ask.answer(&PermissionDecision::Deny).unwrap());
        assert_eq!(deny, json!({"outcome": "cancelled"}), "no reject option: cancelled");
        let (_, ask, _) = request(json!([{"optionId": "no", "name": "No", "kind": "reject_always"}]));
        assert!(ask.answer(&PermissionDecision::Allow).is_err(), "nothing allows");
        assert_eq!(chosen(&ask.cancelled()), json!({"outcome": "cancelled"}));
    }
}
