//! How a permission request was answered: the API's `allow`, `deny` and
//! `always`, and `cancelled` when the turn asking was interrupted.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The resolution of a permission request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Allow this once.
    Allow,
    /// Refuse.
    Deny,
    /// Allow, and do not ask again for this kind of action.
    Always,
    /// The turn asking was interrupted; nobody answered (never an answer).
    #[value(skip)]
    Cancelled,
}

impl Decision {
    /// Its name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Always => "always",
            Decision::Cancelled => "cancelled",
        }
    }

    /// A person's answer `s`: `allow`, `deny` or `always` (a request is
    /// never answered `cancelled`); the error says what is accepted.
    pub fn answer(s: &str) -> Result<Decision, String> {
        match s {
            "allow" => Ok(Decision::Allow),
            "deny" => Ok(Decision::Deny),
            "always" => Ok(Decision::Always),
            other => Err(format!("decision {other:?} must be allow, deny or always")),
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Decision;

    #[test]
    fn answers_are_allow_deny_or_always_and_names_round_trip() {
        for d in [Decision::Allow, Decision::Deny, Decision::Always] {
            assert_eq!(Decision::answer(d.as_str()), Ok(d));
            assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
        }
        assert!(Decision::answer("cancelled").is_err());
        assert!(Decision::answer("Allow").is_err());
        let c: Decision = serde_json::from_str("\"cancelled\"").unwrap();
        assert_eq!(c, Decision::Cancelled);
    }
}
