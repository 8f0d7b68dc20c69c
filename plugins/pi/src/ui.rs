//! pi's extension UI sub-protocol: dialogs an extension opens (e.g. a
//! permission gate asking before a dangerous bash command) become wasmux
//! permission requests. `confirm` is answered with `confirmed`; `select`
//! with the option that reads as yes/allow (or the first one) for allow and
//! always, and with the option that reads as no/deny (or a dismissal) for
//! deny. Free-text dialogs (`input`, `editor`) cannot be answered through
//! the permission API and are dismissed at once so pi does not block.

use serde_json::{Value, json};
use wasmux_sdk::*;

use crate::session::{PiSession, command};

/// An open dialog.
pub enum Dialog {
    /// Yes/no.
    Confirm,
    /// One of these options.
    Select(Vec<String>),
}

/// An `extension_ui_request` from pi.
pub fn request(s: &mut PiSession, v: &Value, u: &mut Update) {
    let id = v["id"].as_str().unwrap_or_default().to_string();
    let title = v["title"].as_str().unwrap_or_default();
    let method = v["method"].as_str().unwrap_or_default();
    let (dialog, options, description) = match method {
        "confirm" => {
            let message = v["message"].as_str().unwrap_or_default();
            let description = if message.is_empty() {
                title.to_string()
            } else {
                format!("{title}\n{message}")
            };
            (Dialog::Confirm, vec!["allow".into(), "deny".into()], description)
        }
        "select" => {
            let options: Vec<String> = v["options"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| o.as_str().map(str::to_string))
                .collect();
            (Dialog::Select(options.clone()), options, title.to_string())
        }
        "input" | "editor" => {
            debug("pi: dismissing a free-text extension dialog");
            u.actions.push(command(
                json!({"type": "extension_ui_response", "id": id, "cancelled": true}),
            ));
            return;
        }
        "notify" => {
            u.events.push(AgentEvent::Extension(Extension {
                kind: "pi:notify".into(),
                data: json!({"message": v["message"], "notifyType": v["notifyType"]}).to_string(),
            }));
            return;
        }
        _ => return, // setStatus, setWidget, setTitle, set_editor_text: display only
    };
    if id.is_empty() {
        return;
    }
    s.dialogs.insert(id.clone(), dialog);
    u.events.push(AgentEvent::PermissionRequest(PermissionRequest {
        permission_id: id,
        tool_name: method.to_string(),
        description,
        options,
    }));
    s.waiting = true;
    set_state(
        u,
        AgentState::WaitingPermission,
        StateSource::Protocol,
        Some(method.to_string()),
    );
}

/// The option of `options` whose label starts with one of `words`.
fn pick<'a>(options: &'a [String], words: &[&str]) -> Option<&'a String> {
    options.iter().find(|o| {
        let o = o.trim().to_lowercase();
        words.iter().any(|w| o.starts_with(w))
    })
}

/// The `extension_ui_response` answering dialog `id` with `decision`.
pub fn answer(id: &str, dialog: &Dialog, decision: &PermissionDecision) -> Result<Value, PluginError> {
    let allow = match decision {
        PermissionDecision::Allow | PermissionDecision::Always => true,
        PermissionDecision::Deny => false,
        PermissionDecision::Other(o) => {
            return Err(error(ErrorKind::InvalidInput, format!("unknown decision {o:?}")));
        }
    };
    Ok(match dialog {
        Dialog::Confirm => json!({"type": "extension_ui_response", "id": id, "confirmed": allow}),
        Dialog::Select(options) if allow => {
            let choice = pick(options, &["yes", "allow", "ok", "approve"])
                .or(options.first())
                .ok_or_else(|| error(ErrorKind::InvalidInput, "the dialog offers no option"))?;
            json!({"type": "extension_ui_response", "id": id, "value": choice})
        }
        Dialog::Select(options) => match pick(options, &["no", "deny", "block", "reject", "cancel"]) {
            Some(choice) => json!({"type": "extension_ui_response", "id": id, "value": choice}),
            None => json!({"type": "extension_ui_response", "id": id, "cancelled": true}),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let confirm = answer("u1", &Dialog::Confirm, &PermissionDecision::Deny).unwrap();
        assert_eq!(
            confirm,
            json!({"type": "extension_ui_response", "id": "u1", "confirmed": false})
        );
        let gate = Dialog::Select(vec!["Yes".into(), "No".into()]);
        assert_eq!(answer("u2", &gate, &PermissionDecision::Allow).unwrap()["value"], "Yes");
        assert_eq!(answer("u2", &gate, &PermissionDecision::Deny).unwrap()["value"], "No");
        let odd = Dialog::Select(vec!["Proceed".into(), "Stop".into()]);
        assert_eq!(
            answer("u3", &odd, &PermissionDecision::Always).unwrap()["value"],
            "Proceed"
        );
        assert_eq!(
            answer("u3", &odd, &PermissionDecision::Deny).unwrap()["cancelled"],
            true
        );
        assert!(answer("u4", &Dialog::Confirm, &PermissionDecision::Other("maybe".into())).is_err());
    }
}
