//! Launching the agent: ask the provider how, resolve and check the
//! launch, hand it to the terminal, and start this launch's provider
//! instance, bridge and transcript tails. Also resuming an agent whose pane
//! outlived a daemon restart.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Agent;
use super::launch::{LaunchContext, ResolvedLaunch};
use super::tail::TailStart;
use crate::events::{Event, StateInfo};
use crate::plugins::provider_instance::{self, LaunchSpec, ProviderInstance};
use crate::plugins::{Capability, Kind, LoadedPlugin, PluginError};
use crate::session::SessionError;

/// How a launch reaches the pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchMode {
    /// The session's first launch.
    Create,
    /// A new pane for a session whose agent had exited.
    NewPane,
    /// The agent restarts inside its running pane (reset, restart).
    InPlace,
}

fn check_spec(plugin: &LoadedPlugin, spec: &LaunchSpec) -> Result<(), SessionError> {
    let need = |cap: Capability, what: &str| -> Result<(), SessionError> {
        if plugin.granted.contains(&cap) {
            Ok(())
        } else {
            Err(SessionError::Plugin(PluginError::NotGranted {
                plugin: plugin.name().to_string(),
                capability: cap,
                detail: what.to_string(),
            }))
        }
    };
    if spec.transcript.is_some() {
        need(Capability::Transcript, "its launch spec tails a transcript")?;
    }
    if spec.bridge {
        need(Capability::Bridge, "its launch spec runs the agent under the bridge")?;
    }
    if spec.command.is_empty() {
        return Err(SessionError::Plugin(PluginError::Refused {
            plugin: plugin.name().to_string(),
            kind: crate::plugins::RefusalKind::Internal,
            message: "the launch spec has an empty command".into(),
        }));
    }
    Ok(())
}

impl Agent {
    /// Launch the agent: the provider's spec, resolved and checked (a
    /// missing program is a [`SessionError::CommandNotFound`] before anything
    /// runs), started in a new pane or in place; then a fresh provider
    /// instance and this launch's readers. State goes to `starting`.
    pub async fn launch(self: &Arc<Self>, mode: LaunchMode) -> Result<(), SessionError> {
        let row = self.row();
        let plugin = self.host.plugins.of_kind(&row.provider, Kind::Provider)?;
        let req = row.launch_request();
        let spec = provider_instance::launch(&plugin, &req).await?;
        check_spec(&plugin, &spec)?;
        let ctx = LaunchContext {
            exe: &self.host.exe,
            session: &row.name,
            session_dir: &self.terminal.dir,
            uuid: &row.uuid,
            cwd: &row.cwd,
        };
        let resolved = ResolvedLaunch::resolve(&spec, &ctx, &row);
        resolved.check_program()?;
        // The new launch's provider instance exists before its agent prints
        // anything and is swapped in together with the new life under the
        // provider lock: no output of the new agent reaches the old instance,
        // and no late update of the old instance counts for the new agent.
        let instance = ProviderInstance::new(plugin, req).await;
        let mut provider = self.provider.lock().await;
        self.permissions.lock().unwrap_or_else(|p| p.into_inner()).clear();
        match mode {
            LaunchMode::Create => self.terminal.start(&resolved).await?,
            LaunchMode::NewPane => {
                // Nothing of the ended launch stays running or queued.
                self.fail_all("agent exited");
                // The new provider reads only the new launch's output.
                let skip = self.terminal.log.meta().last_seq;
                self.first_seq_of_life.store(skip + 1, Ordering::SeqCst);
                self.terminal.start(&resolved).await?;
            }
            LaunchMode::InPlace => self.terminal.respawn(&resolved).await?,
        }
        *provider = self.instance_or_error(instance);
        self.life.send_modify(|n| *n += 1);
        if mode != LaunchMode::Create {
            self.publish(Vec::new(), Some(StateInfo::starting()));
        }
        drop(provider);
        self.begin_life(&resolved, spec.startup, mode != LaunchMode::Create);
        Ok(())
    }

    /// After a daemon restart: the provider instance and readers of the
    /// launch that is still running (or ended while the daemon was down).
    pub async fn resume(self: &Arc<Self>) {
        let row = self.row();
        let resolved = ResolvedLaunch::from_json(&row.launch);
        let instance = match self.host.plugins.of_kind(&row.provider, Kind::Provider) {
            Ok(plugin) => ProviderInstance::new(plugin, row.launch_request()).await,
            Err(e) => Err(e),
        };
        let mut provider = self.provider.lock().await;
        *provider = self.instance_or_error(instance);
        self.life.send_modify(|n| *n += 1);
        drop(provider);
        self.begin_life(&resolved, Vec::new(), false);
    }

    fn instance_or_error(&self, instance: Result<ProviderInstance, PluginError>) -> Option<ProviderInstance> {
        let (instance, error) = match instance {
            Ok(p) => (Some(p), None),
            Err(e) => {
                tracing::warn!(session = %self.name, error = %e, "provider unavailable; the session runs without events");
                (None, Some(e.to_string()))
            }
        };
        *self.provider_error.lock().unwrap_or_else(|p| p.into_inner()) = error;
        instance
    }

    /// What a launch starts besides the provider instance: its bridge,
    /// transcript or protocol tails, and start-up actions.
    fn begin_life(
        self: &Arc<Self>,
        launch: &ResolvedLaunch,
        startup: Vec<crate::plugins::bindings::types::InputAction>,
        relaunched: bool,
    ) {
        *self.launched_at.lock().unwrap_or_else(|p| p.into_inner()) = std::time::Instant::now();
        self.screen_poll_ms.store(launch.screen_poll_ms, Ordering::SeqCst);
        *self.startup.lock().unwrap_or_else(|p| p.into_inner()) = startup;
        *self.bridge.lock().unwrap_or_else(|p| p.into_inner()) = launch.bridge.then(|| {
            Arc::new(super::bridge_client::BridgeClient::new(crate::bridge::socket_path(
                &self.terminal.dir,
            ))) as Arc<dyn super::actions::ProtocolSink>
        });
        let life = *self.life.borrow();
        let start = |pattern: &str| match relaunched {
            true => TailStart::relaunch(pattern),
            false => TailStart::Resume,
        };
        if let Some(pattern) = &launch.transcript {
            tokio::spawn(self.clone().tail(pattern.clone(), false, life, start(pattern)));
        }
        if launch.bridge {
            let log = crate::bridge::protocol_log(&self.terminal.dir)
                .to_string_lossy()
                .into_owned();
            let from = start(&log);
            tokio::spawn(self.clone().tail(log, true, life, from));
        }
        self.perform_startup();
        self.wake.notify_one();
    }

    /// Relaunch the agent: in place while it runs (the running turn fails
    /// with `agent restarted`, the queue is kept), in a new pane once it
    /// has exited (same log: epoch and seq numbering continue).
    pub async fn restart(self: &Arc<Self>) -> Result<(), SessionError> {
        if self.terminal.exited().is_some() {
            return self.launch(LaunchMode::NewPane).await;
        }
        if let Some(turn) = self.turn() {
            self.finish_from_outside(&turn.id, crate::store::MessageStatus::Failed, "agent restarted");
        }
        self.launch(LaunchMode::InPlace).await
    }

    /// Emit `message-failed` for `id`.
    pub(super) fn emit_failed(&self, id: &str, status: crate::store::MessageStatus, error: &str) {
        self.bus.emit(Event::MessageFailed {
            id: id.to_string(),
            status,
            error: error.to_string(),
        });
    }
}
