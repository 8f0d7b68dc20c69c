//! The reply worker: for each reply owed, calls the plugin at the
//! message's milestones and writes its requests to the outbox with the
//! reply's new stage, in one transaction (so a restart repeats no call
//! whose requests were kept, and loses none).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::Outbox;
use crate::plugins::reply_call::{self, Credential, MessageInfo, OutboundRequest, Outcome, OutcomeStatus, ReplyCall};
use crate::store::{CredentialSpec, MessageStatus, NewDelivery, ReplyRow, ReplyStage};

/// How often open replies are looked at while any is open (a message's
/// end and a permission request are read from the store).
const POLL: Duration = Duration::from_millis(500);

/// What a reply needs next.
enum Next {
    /// Nothing yet.
    Wait,
    /// Call the plugin, then move to the stage with the cursor.
    Call(ReplyCall, ReplyStage, u64),
}

impl Outbox {
    pub(super) async fn run_replies(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let open = self.store.replies_open(256).unwrap_or_else(|e| {
                tracing::error!(error = %e, "reading open replies failed");
                Vec::new()
            });
            for r in &open {
                self.advance(r).await;
            }
            let idle = open.is_empty();
            tokio::select! {
                _ = self.wake_replies.notified() => {}
                _ = tokio::time::sleep(POLL), if !idle => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// Take reply `r` one step, if its message has moved.
    async fn advance(&self, r: &ReplyRow) {
        let info = MessageInfo {
            message_id: r.message_id.clone(),
            session: r.session.clone(),
            target: r.target.clone(),
        };
        let next = match self.next(r, info) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(message = %r.message_id, error = %e, "reading the message of a reply failed");
                return;
            }
        };
        let Next::Call(call, stage, cursor) = next else { return };
        let requests = match self.plugins.get(&r.plugin) {
            Some(p) => match reply_call::reply(&p, call).await {
                Ok(reqs) => reqs,
                Err(e) => {
                    self.stats.reply_failures.fetch_add(1, Relaxed);
                    tracing::warn!(plugin = %r.plugin, message = %r.message_id, error = %e, "the plugin's reply call failed; nothing is sent for this step");
                    Vec::new()
                }
            },
            None => {
                tracing::warn!(plugin = %r.plugin, message = %r.message_id, "the plugin that owes this reply is not loaded; nothing is sent");
                Vec::new()
            }
        };
        let deliveries: Vec<NewDelivery> = requests.into_iter().map(new_delivery).collect();
        match self.store.reply_advance(r, stage, cursor, &deliveries) {
            Ok(added) if added > 0 => self.wake_deliveries.notify_one(),
            Ok(_) => {}
            Err(e) => {
                tracing::error!(message = %r.message_id, error = %e, "writing the outbox failed; the step is retried")
            }
        }
    }

    /// What reply `r` needs now.
    fn next(&self, r: &ReplyRow, info: MessageInfo) -> Result<Next, crate::store::StoreError> {
        if r.stage == ReplyStage::Accepting {
            return Ok(Next::Call(ReplyCall::Accepted(info), ReplyStage::Waiting, r.perm_seq));
        }
        let Some(m) = self.store.message_get(&r.session, &r.message_id)? else {
            let outcome = Outcome {
                message: info,
                status: OutcomeStatus::Cancelled,
                response: None,
                error: Some("its session was deleted".into()),
            };
            return Ok(Next::Call(ReplyCall::Outcome(outcome), ReplyStage::Closed, r.perm_seq));
        };
        if m.status.is_final() {
            let status = match m.status {
                MessageStatus::Done => OutcomeStatus::Done,
                MessageStatus::Aborted => OutcomeStatus::Aborted,
                MessageStatus::Cancelled => OutcomeStatus::Cancelled,
                _ => OutcomeStatus::Failed,
            };
            let outcome = Outcome {
                message: info,
                status,
                response: m.response,
                error: m.error,
            };
            return Ok(Next::Call(ReplyCall::Outcome(outcome), ReplyStage::Closed, r.perm_seq));
        }
        if m.status != MessageStatus::Running {
            return Ok(Next::Wait);
        }
        // Permission requests of this turn: after its `message-started`.
        let from = match r.perm_seq {
            0 => self
                .store
                .event_message_started(&r.session, &r.message_id)?
                .unwrap_or(0),
            seq => seq,
        };
        let Some((seq, e)) = self.store.event_next_permission(&r.session, from)? else {
            return Ok(Next::Wait);
        };
        let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
        let asked = reply_call::PermissionAsked {
            message: info,
            permission_id: text("permissionId"),
            tool_name: text("toolName"),
            description: text("description"),
        };
        Ok(Next::Call(ReplyCall::Permission(asked), ReplyStage::Waiting, seq))
    }
}

/// A plugin's request as the outbox stores it: the credential by kind and
/// secret name only.
fn new_delivery(r: OutboundRequest) -> NewDelivery {
    let credential = r.credential.map(|c| match c {
        Credential::Bearer(secret) => CredentialSpec::Bearer { secret },
        Credential::Basic(b) => CredentialSpec::Basic {
            secret: b.secret,
            user: b.user,
        },
        Credential::Header(h) => CredentialSpec::Header {
            secret: h.secret,
            name: h.name,
        },
        Credential::HmacSha256(h) => CredentialSpec::HmacSha256 {
            secret: h.secret,
            name: h.name,
        },
    });
    NewDelivery {
        key: r.key,
        method: r.method,
        url: r.url,
        headers: r.headers,
        body: r.body,
        credential,
    }
}
