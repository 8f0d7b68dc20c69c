//! Re-deriving the agent's state after output was lost. A provider whose
//! state comes only from marks in the output (the shell's OSC 133) never
//! sees an end that fell into an `output-lost` span: the session would stay
//! `working` for good, and after a restart with no turn nothing would ever
//! end it. A provider that declares `[provider] idle_probe = "prompt"` is
//! asked of the pane's processes instead: when the agent waits at its
//! prompt again (it holds its terminal, no job of its own in the
//! foreground, the terminal in a line editor's raw mode), it is `idle`
//! (source `process`), and a turn whose end was lost fails naming the loss.

use super::Agent;
use crate::events::{AgentState, StateInfo, StateSource};
use crate::plugins::manifest::IdleProbe;
use crate::store::MessageStatus;

impl Agent {
    /// The provider's idle probe, if it declares one.
    async fn idle_probe(&self) -> Option<IdleProbe> {
        let p = self.provider.lock().await;
        p.as_ref()?.plugin().manifest.provider.as_ref()?.idle_probe
    }

    /// After output was lost (or at start, when the stored state may rest
    /// on output the sink never wrote): if the agent is `working` but its
    /// provider's probe says it waits for input, make it `idle`, failing
    /// the running turn (its end, and so its answer, was lost). `lost` names
    /// the loss for the turn's error. Nothing changes while a job runs: its
    /// end is still to come.
    pub(super) async fn reconcile_lost_output(&self, lost: Option<&str>) {
        if self.state().value != AgentState::Working || self.terminal.exited().is_some() {
            return;
        }
        let Some(IdleProbe::Prompt) = self.idle_probe().await else {
            return;
        };
        if self.terminal.agent_at_prompt().await != Some(true) {
            return;
        }
        tracing::warn!(session = %self.name, "the agent waits for input but its end was not seen (output lost): idle");
        if let (Some(t), Some(lost)) = (self.turn(), lost) {
            let error = format!("this turn's end was lost with the terminal output ({lost})");
            self.finish_from_outside(&t.id, MessageStatus::Failed, &error);
        }
        self.publish(
            Vec::new(),
            Some(StateInfo::new(AgentState::Idle, StateSource::Process, None)),
        );
    }
}
