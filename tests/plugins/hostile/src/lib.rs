//! A provider that misbehaves on purpose in `feed-output` (and in
//! `encode-prompt`), chosen by config key `mode`:
//! `loop` spins forever, `membomb` allocates without end, `trap` hits
//! `unreachable`, `flood` logs without end and returns an oversized update,
//! `well` behaves. Used by the host's tests to show each fails cleanly.

use wasmux_sdk::*;

struct Hostile;

impl Provider for Hostile {
    type Session = HostileSession;
    fn launch(_req: LaunchRequest) -> Result<LaunchSpec, PluginError> {
        Ok(launch_spec(vec!["bash".into(), "--norc".into()]))
    }
}

struct HostileSession {
    calls: u64,
}

fn misbehave() -> Update {
    match config::get("mode").as_deref() {
        Some("loop") => {
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        Some("membomb") => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut block = vec![0u8; 1 << 20];
                block[0] = 1;
                hoard.push(std::hint::black_box(block));
            }
        }
        Some("trap") => core::arch::wasm32::unreachable(),
        Some("flood") => {
            for i in 0..20_000 {
                info(&format!("flood line {i}"));
            }
            let mut u = empty_update();
            for _ in 0..50_000 {
                u.events.push(AgentEvent::Message("x".repeat(200)));
            }
            u
        }
        _ => empty_update(),
    }
}

impl ProviderSession for HostileSession {
    fn new(_req: LaunchRequest) -> Self {
        HostileSession { calls: 0 }
    }
    fn feed_output(&mut self, _data: &[u8]) -> Update {
        self.calls += 1;
        misbehave()
    }
    fn encode_prompt(&mut self, text: &str) -> Result<Vec<InputAction>, PluginError> {
        if text == "misbehave" {
            misbehave();
        }
        Ok(vec![InputAction::Text(format!("calls={}", self.calls))])
    }
}

wasmux_sdk::provider!(Hostile);
