//! A per-test `HOME` in which each agent CLI starts straight into its input
//! prompt, its model API pointed at the [`crate::model_stub`].
//!
//! * **Claude Code** reads `~/.claude.json`: `hasCompletedOnboarding` (and
//!   `lastOnboardingVersion`, so no release notes) skips the first-run
//!   wizard, `customApiKeyResponses.approved` holds the last 20 characters
//!   of an `ANTHROPIC_API_KEY` the user accepted (else it asks "Do you want
//!   to use this API key?"), and `projects.<cwd>.hasTrustDialogAccepted`
//!   answers the folder-trust dialog. `ANTHROPIC_BASE_URL` points the CLI at
//!   the stub; `DISABLE_AUTOUPDATER` and
//!   `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC` keep it off the network.
//! * **Codex** reads `$CODEX_HOME/config.toml` (default `~/.codex`): a
//!   `[model_providers.stub]` entry with the stub's `base_url` and
//!   `wire_api = "responses"`, selected by `model_provider`; `env_key` names
//!   the variable holding the key, so no login is asked; `[projects.<cwd>]
//!   trust_level = "trusted"` answers the directory-trust screen;
//!   `check_for_update_on_startup = false` and the `[notice]` keys keep the
//!   update popup and the "Meet GPT-6 Sol" model-migration popup away
//!   (`[notice.model_migrations]` records it as answered).
//!
//! Claude Code 2.1.3xx starts in "auto mode" (permission prompts answered
//! by a model) and offers to make it the default; sessions pass
//! `--permission-mode default` to get the permission dialogs.
//!
//! * **Gemini CLI** reads `~/.gemini/settings.json` (API-key auth, the model
//!   pinned) and `GEMINI_API_KEY` / `GOOGLE_GEMINI_BASE_URL`.
//! * **OpenCode** reads `~/.config/opencode/opencode.json`: a custom
//!   OpenAI-compatible provider at the stub, edits and commands asked for.
//! * **pi** reads `~/.pi/agent/models.json` (a custom `openai-completions`
//!   provider) and `settings.json` (the default provider and model).

use anyhow::Result;
use serde_json::json;
use std::path::Path;

/// The API key the tests give the CLIs (the stub accepts anything).
pub const API_KEY: &str = "sk-ant-api03-wasmux-test-key-0123456789abcdefghij";

/// The last 20 characters of [`API_KEY`], as Claude Code stores an
/// approved key.
pub fn approved_key_suffix() -> &'static str {
    &API_KEY[API_KEY.len() - 20..]
}

/// What Claude Code's `~/.claude.json` should pre-answer.
pub struct ClaudeSetup<'a> {
    /// Folders whose trust dialog is answered.
    pub trusted: &'a [&'a Path],
    /// The CLI version (for `lastOnboardingVersion`).
    pub version: &'a str,
}

/// Write `home/.claude.json` (and `home/.claude/`).
pub fn claude(home: &Path, setup: &ClaudeSetup) -> Result<()> {
    let mut projects = serde_json::Map::new();
    for p in setup.trusted {
        projects.insert(
            p.display().to_string(),
            json!({"hasTrustDialogAccepted": true, "hasCompletedProjectOnboarding": true,
                "projectOnboardingSeenCount": 1, "allowedTools": []}),
        );
    }
    let config = json!({
        "hasCompletedOnboarding": true,
        "lastOnboardingVersion": setup.version,
        "lastReleaseNotesSeen": setup.version,
        "numStartups": 1,
        "theme": "dark",
        "autoUpdates": false,
        "customApiKeyResponses": {"approved": [approved_key_suffix()], "rejected": []},
        "projects": projects,
    });
    std::fs::create_dir_all(home.join(".claude"))?;
    std::fs::write(home.join(".claude.json"), serde_json::to_string_pretty(&config)?)?;
    Ok(())
}

/// The environment a Claude Code session needs to talk to the stub at `url`.
pub fn claude_env(url: &str) -> Vec<(String, String)> {
    [
        ("ANTHROPIC_BASE_URL", url),
        ("ANTHROPIC_API_KEY", API_KEY),
        ("DISABLE_AUTOUPDATER", "1"),
        ("DISABLE_TELEMETRY", "1"),
        ("DISABLE_ERROR_REPORTING", "1"),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The model Codex is configured with: one from its bundled catalogue
/// (so it offers the free-form `apply_patch` tool), its migration popup
/// marked as seen.
pub const CODEX_MODEL: &str = "gpt-5.5";

/// The environment variable holding Codex's key for the stub provider.
pub const CODEX_KEY_VAR: &str = "WASMUX_STUB_API_KEY";

/// Write `codex_home/config.toml` pointing Codex at the stub at `url`,
/// trusting `trusted` folders; approvals are asked for edits and commands
/// outside the read-only sandbox.
pub fn codex(codex_home: &Path, url: &str, trusted: &[&Path]) -> Result<()> {
    std::fs::create_dir_all(codex_home)?;
    let mut toml = format!(
        r#"model = "{CODEX_MODEL}"
model_provider = "stub"
approval_policy = "on-request"
sandbox_mode = "read-only"
check_for_update_on_startup = false

[model_providers.stub]
name = "wasmux model stub"
base_url = "{url}/v1"
wire_api = "responses"
env_key = "{CODEX_KEY_VAR}"
stream_max_retries = 0
request_max_retries = 0

[notice]
hide_full_access_warning = true
hide_rate_limit_model_nudge = true

[notice.model_migrations]
"{CODEX_MODEL}" = "gpt-6-sol"

[tui]
show_tooltips = false
"#
    );
    for p in trusted {
        toml.push_str(&format!(
            "\n[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
            p.display()
        ));
    }
    std::fs::write(codex_home.join("config.toml"), toml)?;
    Ok(())
}

/// The environment a Codex session needs (besides `CODEX_HOME`).
pub fn codex_env() -> Vec<(String, String)> {
    vec![(CODEX_KEY_VAR.to_string(), "stub-key".to_string())]
}

/// The model Gemini CLI is pinned to: the default `auto` model first asks
/// a classifier model for a JSON verdict, which a scripted stub would fail.
pub const GEMINI_MODEL: &str = "gemini-2.5-flash";

/// Write `home/.gemini/settings.json`: API-key auth, folder trust, usage
/// statistics, telemetry, updates and the IDE nudge off, the model pinned.
pub fn gemini(home: &Path) -> Result<()> {
    let settings = json!({
        "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": false}},
        "privacy": {"usageStatisticsEnabled": false},
        "telemetry": {"enabled": false},
        "general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
        "ide": {"enabled": false, "hasSeenNudge": true},
        "model": {"name": GEMINI_MODEL},
    });
    std::fs::create_dir_all(home.join(".gemini"))?;
    std::fs::write(
        home.join(".gemini/settings.json"),
        serde_json::to_string_pretty(&settings)?,
    )?;
    Ok(())
}

/// The environment a Gemini CLI session needs to talk to the stub at `url`
/// (plain `http` is accepted for loopback only).
pub fn gemini_env(url: &str) -> Vec<(String, String)> {
    vec![
        ("GEMINI_API_KEY".into(), "stub-key".into()),
        ("GOOGLE_GEMINI_BASE_URL".into(), url.into()),
    ]
}

/// Write OpenCode's global config under `home/.config/opencode`: a custom
/// `@ai-sdk/openai-compatible` provider (bundled in the binary) at the stub
/// `url`, edits and commands asked for, sharing and updates off; and the
/// files that stop its background `npm install` of its plugin package
/// (`version` is the pinned OpenCode's).
pub fn opencode(home: &Path, url: &str, version: &str) -> Result<()> {
    let dir = home.join(".config/opencode");
    std::fs::create_dir_all(dir.join("node_modules"))?;
    let config = json!({
        "$schema": "https://opencode.ai/config.json",
        "model": "stub/stub-model",
        "small_model": "stub/stub-model",
        "autoupdate": false,
        "share": "disabled",
        "permission": {"edit": "ask", "bash": "ask", "webfetch": "deny"},
        "provider": {"stub": {
            "npm": "@ai-sdk/openai-compatible",
            "name": "Stub",
            "options": {"baseURL": format!("{url}/v1"), "apiKey": "stub-key"},
            "models": {"stub-model": {"name": "Stub Model", "tool_call": true}},
        }},
    });
    std::fs::write(dir.join("opencode.json"), serde_json::to_string_pretty(&config)?)?;
    let deps = json!({"@opencode-ai/plugin": version});
    std::fs::write(dir.join("package.json"), json!({"dependencies": deps}).to_string())?;
    std::fs::write(
        dir.join("package-lock.json"),
        json!({"lockfileVersion": 3, "packages": {"": {"dependencies": deps}}}).to_string(),
    )?;
    Ok(())
}

/// The environment an OpenCode session needs: no models.dev fetch, no
/// update check, no LSP downloads, no default plugins.
pub fn opencode_env() -> Vec<(String, String)> {
    [
        "OPENCODE_DISABLE_MODELS_FETCH",
        "OPENCODE_DISABLE_AUTOUPDATE",
        "OPENCODE_DISABLE_LSP_DOWNLOAD",
        "OPENCODE_DISABLE_DEFAULT_PLUGINS",
    ]
    .iter()
    .map(|k| (k.to_string(), "1".to_string()))
    .collect()
}

/// pi's provider and model for the stub (`~/.pi/agent/models.json`).
pub const PI_MODEL: &str = "stub-model";

/// Write pi's `home/.pi/agent/models.json` (a custom `openai-completions`
/// provider `stub` at the stub `url`) and `settings.json` (that provider and
/// model as the defaults, install telemetry off).
pub fn pi(home: &Path, url: &str) -> Result<()> {
    let dir = home.join(".pi/agent");
    std::fs::create_dir_all(&dir)?;
    let models = json!({"providers": {"stub": {
        "baseUrl": format!("{url}/v1"),
        "api": "openai-completions",
        "apiKey": "stub-key",
        "compat": {"supportsDeveloperRole": false, "supportsReasoningEffort": false},
        "models": [{"id": PI_MODEL, "name": "Stub Model"}],
    }}});
    std::fs::write(dir.join("models.json"), serde_json::to_string_pretty(&models)?)?;
    let settings = json!({"defaultProvider": "stub", "defaultModel": PI_MODEL, "enableInstallTelemetry": false});
    std::fs::write(dir.join("settings.json"), serde_json::to_string_pretty(&settings)?)?;
    Ok(())
}

/// The environment a pi session needs: no start-up network calls.
pub fn pi_env() -> Vec<(String, String)> {
    [
        ("PI_OFFLINE", "1"),
        ("PI_TELEMETRY", "0"),
        ("PI_SKIP_VERSION_CHECK", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}
