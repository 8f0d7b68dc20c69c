//! A provider that uses the key-value store: it must not load unless the
//! operator grants `kv`.

use wasmux_sdk::*;

struct Greedy;

impl Provider for Greedy {
    type Session = GreedySession;
    fn launch(_req: LaunchRequest) -> Result<LaunchSpec, PluginError> {
        let n = kv::get("launches")?.map(|v| v.len()).unwrap_or(0);
        kv::set("launches", &vec![0u8; n + 1])?;
        Ok(launch_spec(vec!["bash".into()]))
    }
}

struct GreedySession;

impl ProviderSession for GreedySession {
    fn new(_req: LaunchRequest) -> Self {
        GreedySession
    }
    fn encode_prompt(&mut self, text: &str) -> Result<Vec<InputAction>, PluginError> {
        let count = kv::get("prompts")?.map(|v| v.len()).unwrap_or(0) + 1;
        kv::set("prompts", &vec![0u8; count])?;
        Ok(vec![InputAction::Text(format!("{text} #{count}"))])
    }
}

wasmux_sdk::provider!(Greedy);
