//! Integrations that answer back: implement [`WebhookHandler`] and
//! [`ReplyHandler`], then call [`integration!`](crate::integration).

use crate::bindings::exports::wasmux::plugin::reply_handler::Guest;
pub use crate::bindings::exports::wasmux::plugin::reply_handler::{
    BasicCredential, Credential, HeaderCredential, MessageInfo, OutboundRequest, Outcome, OutcomeStatus,
    PermissionAsked,
};
use crate::*;

/// What the host tells an integration about the messages it enqueued with
/// a `replyTo` target. Each returns requests for the host's outbox; the
/// defaults send nothing.
pub trait ReplyHandler: 'static {
    /// The message was committed to the queue.
    fn on_accepted(_message: MessageInfo) -> Result<Vec<OutboundRequest>, PluginError> {
        Ok(Vec::new())
    }
    /// The agent asks for a permission while the message runs.
    fn on_permission(_asked: PermissionAsked) -> Result<Vec<OutboundRequest>, PluginError> {
        Ok(Vec::new())
    }
    /// The message ended.
    fn on_outcome(outcome: Outcome) -> Result<Vec<OutboundRequest>, PluginError>;
}

#[doc(hidden)]
pub struct ReplyGlue<H>(std::marker::PhantomData<H>);

impl<H: ReplyHandler> Guest for ReplyGlue<H> {
    fn on_accepted(message: MessageInfo) -> Result<Vec<OutboundRequest>, PluginError> {
        H::on_accepted(message)
    }
    fn on_permission(asked: PermissionAsked) -> Result<Vec<OutboundRequest>, PluginError> {
        H::on_permission(asked)
    }
    fn on_outcome(outcome: Outcome) -> Result<Vec<OutboundRequest>, PluginError> {
        H::on_outcome(outcome)
    }
}

impl<H: WebhookHandler> crate::bindings::exports::wasmux::plugin::webhook_handler::Guest for ReplyGlue<H> {
    fn handle(req: HttpRequest) -> Result<Reply, PluginError> {
        H::handle(req)
    }
}

/// Export `$handler` (a type implementing [`WebhookHandler`] and
/// [`ReplyHandler`]) as this component's `webhook-handler` and
/// `reply-handler`.
#[macro_export]
macro_rules! integration {
    ($handler:ty) => {
        type __WasmuxIntegrationGlue = $crate::ReplyGlue<$handler>;
        $crate::bindings::export_integration!(__WasmuxIntegrationGlue with_types_in $crate::bindings);
    };
}

/// A JSON `POST` to `url` with `body`, sent with the bearer token held in
/// secret `secret` (the host injects it; the plugin never sees it).
pub fn post_json(key: &str, url: impl Into<String>, body: impl Into<String>, secret: &str) -> OutboundRequest {
    OutboundRequest {
        key: key.to_string(),
        method: "POST".into(),
        url: url.into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.into().into_bytes(),
        credential: Some(Credential::Bearer(secret.to_string())),
    }
}

/// The outcome as one line of text for a person: the answer, or what went
/// wrong.
pub fn outcome_text(o: &Outcome) -> String {
    match (&o.status, &o.response, &o.error) {
        (OutcomeStatus::Done, Some(r), _) => r.clone(),
        (OutcomeStatus::Done, None, _) => "(the agent finished without an answer)".into(),
        (OutcomeStatus::Failed, _, e) => format!("The agent failed: {}", e.as_deref().unwrap_or("no reason given")),
        (OutcomeStatus::Aborted, _, _) => "The turn was aborted.".into(),
        (OutcomeStatus::Cancelled, _, e) => {
            format!(
                "The message was cancelled{}.",
                e.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
            )
        }
        (OutcomeStatus::Other(s), _, e) => format!(
            "The message ended ({s}){}",
            e.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
        ),
    }
}
