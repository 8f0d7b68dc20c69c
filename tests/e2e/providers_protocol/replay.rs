//! `wasmux plugin test --protocol` on every recorded transcript prints
//! exactly its golden file (no daemon). Besides the transcripts the e2e
//! tests record from the fakes, this covers ones recorded by hand from the
//! real agents (`real-pi-*`, `gemini-cli-*`; see the fixture READMEs).

use anyhow::Result;

use super::golden::{E2E_SCENARIOS, blessing, fixtures, plugin_test};

#[test]
fn recorded_transcripts_replay_to_their_golden_files() -> Result<()> {
    let mut checked = 0;
    for provider in ["pi", "acp"] {
        let mut names: Vec<String> = std::fs::read_dir(fixtures(provider))?
            .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_>>()?;
        names.sort();
        for name in names {
            let Some(scenario) = name.strip_suffix(".protocol.jsonl") else {
                continue;
            };
            let transcript = fixtures(provider).join(&name);
            let golden_path = fixtures(provider).join(format!("{scenario}.golden.jsonl"));
            let got = plugin_test(provider, &transcript)?;
            if blessing() {
                // The e2e tests rewrite their own scenarios (transcript first).
                if !E2E_SCENARIOS.contains(&(provider, scenario)) {
                    std::fs::write(&golden_path, got)?;
                }
                continue;
            }
            let golden = std::fs::read_to_string(&golden_path)?;
            assert_eq!(
                got.lines().collect::<Vec<_>>(),
                golden.lines().collect::<Vec<_>>(),
                "{provider}/{scenario}: replay differs from the golden file"
            );
            checked += 1;
        }
    }
    assert!(blessing() || checked >= 6, "found only {checked} recorded transcripts");
    Ok(())
}
