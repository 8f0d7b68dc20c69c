//! Plugin manifests (`<name>.toml` next to `<name>.wasm`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::capability::Capability;
use super::error::PluginError;

/// The kind of plugin, which fixes the world it must implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// World `provider`: launches and normalises an agent.
    Provider,
    /// World `webhook`: owns a route under `/webhooks/`.
    Webhook,
    /// World `adapter`: maps events to an external format.
    Adapter,
}

impl Kind {
    /// The WIT interface this kind exports (without version).
    pub fn export_interface(self) -> &'static str {
        match self {
            Kind::Provider => "wasmux:plugin/agent-provider",
            Kind::Webhook => "wasmux:plugin/webhook-handler",
            Kind::Adapter => "wasmux:plugin/event-adapter",
        }
    }

    /// Lower-case name, as in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Provider => "provider",
            Kind::Webhook => "webhook",
            Kind::Adapter => "adapter",
        }
    }
}

/// Webhook-specific manifest fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// The route segment this plugin owns: `POST /webhooks/<route>`.
    pub route: String,
}

/// Provider-specific manifest fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSection {
    /// How the host re-derives the agent's state when output the provider
    /// needed was lost (see [`IdleProbe`]); none by default.
    #[serde(default)]
    pub idle_probe: Option<IdleProbe>,
}

/// A host-side check of whether the agent waits for input, for providers
/// whose state comes only from marks in the output stream (which an
/// `output-lost` span may have held).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdleProbe {
    /// The agent is idle when it waits at its prompt: it holds the terminal
    /// itself (no job it started is in the foreground) and reads it in raw
    /// mode, as a line editor (readline) does. For shells.
    Prompt,
}

/// A parsed and validated manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Unique plugin name (`[a-z0-9-]{1,64}`).
    pub name: String,
    /// Plugin kind.
    pub kind: Kind,
    /// The plugin's own version (semver).
    pub version: String,
    /// The WIT package version it was built against, e.g. `0.1.0`.
    pub wit: String,
    /// One line for `wasmux plugins ls`.
    #[serde(default)]
    pub description: String,
    /// Capabilities the plugin asks for.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// Non-secret configuration keys with their defaults.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Secret names the plugin expects, with what each is for.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Webhook settings (required for `kind = "webhook"`).
    #[serde(default)]
    pub webhook: Option<WebhookSection>,
    /// Provider settings (only for `kind = "provider"`).
    #[serde(default)]
    pub provider: Option<ProviderSection>,
}

impl Manifest {
    /// Parse and validate manifest text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Manifest, PluginError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| PluginError::Manifest {
            origin: origin.to_string(),
            reason: e.to_string(),
        })?;
        manifest.validate(origin)?;
        Ok(manifest)
    }

    fn validate(&self, origin: &str) -> Result<(), PluginError> {
        let bad = |reason: String| PluginError::Manifest {
            origin: origin.to_string(),
            reason,
        };
        if !valid_name(&self.name) {
            return Err(bad(format!(
                "name `{}` must be 1-64 characters of a-z, 0-9 and -",
                self.name
            )));
        }
        semver::Version::parse(&self.version)
            .map_err(|e| bad(format!("version `{}` is not semver: {e}", self.version)))?;
        semver::Version::parse(&self.wit)
            .map_err(|e| bad(format!("wit `{}` is not a semver version: {e}", self.wit)))?;
        match (self.kind, &self.webhook) {
            (Kind::Webhook, None) => {
                return Err(bad("a webhook plugin needs a [webhook] table with `route`".into()));
            }
            (Kind::Webhook, Some(w)) if !valid_name(&w.route) => {
                return Err(bad(format!(
                    "webhook route `{}` must be 1-64 characters of a-z, 0-9 and -",
                    w.route
                )));
            }
            (Kind::Provider | Kind::Adapter, Some(_)) => {
                return Err(bad(format!(
                    "a {} plugin cannot have a [webhook] table",
                    self.kind.as_str()
                )));
            }
            _ => {}
        }
        if self.kind != Kind::Provider && self.provider.is_some() {
            return Err(bad(format!(
                "a {} plugin cannot have a [provider] table",
                self.kind.as_str()
            )));
        }
        Ok(())
    }
}

/// Plugin names and webhook routes: `[a-z0-9-]{1,64}`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let ok = Manifest::parse(
            "name='gh'\nkind='webhook'\nversion='0.1.0'\nwit='0.1.0'\ncapabilities=['crypto']\n[webhook]\nroute='github'\n",
            "t",
        )
        .unwrap();
        assert_eq!(ok.webhook.unwrap().route, "github");
        let err = Manifest::parse("name='gh'\nkind='webhook'\nversion='0.1.0'\nwit='0.1.0'\n", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("[webhook]"), "{err}");
        let err = Manifest::parse("name='Bad Name'\nkind='provider'\nversion='1'\nwit='0.1.0'\n", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("name"), "{err}");
        let err = Manifest::parse(
            "name='x'\nkind='provider'\nversion='1.0.0'\nwit='0.1.0'\ncapabilities=['root']\n",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("root"), "{err}");
        let shell = Manifest::parse(
            "name='sh'\nkind='provider'\nversion='1.0.0'\nwit='0.1.0'\n[provider]\nidle_probe='prompt'\n",
            "t",
        )
        .unwrap();
        assert_eq!(shell.provider.unwrap().idle_probe, Some(IdleProbe::Prompt));
        for bad in [
            "name='sh'\nkind='provider'\nversion='1.0.0'\nwit='0.1.0'\n[provider]\nidle_probe='screen'\n",
            "name='gh'\nkind='adapter'\nversion='1.0.0'\nwit='0.1.0'\n[provider]\n",
        ] {
            assert!(Manifest::parse(bad, "t").is_err(), "{bad}");
        }
    }
}
