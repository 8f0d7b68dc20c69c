//! Pending and resolved permission requests of a session: the first answer
//! wins, later answers get a conflict.

use std::collections::{BTreeMap, VecDeque};

use crate::events::Decision;

/// A request waiting for an answer.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingPermission {
    /// Id to answer.
    pub permission_id: String,
    /// The tool asking.
    pub tool_name: String,
    /// What it wants.
    pub description: String,
    /// When asked (ms).
    pub asked_at: u64,
}

/// Most resolved ids remembered (for 409 on late answers).
const RESOLVED_KEPT: usize = 1024;

/// Requests of one session.
#[derive(Debug, Default)]
pub struct Permissions {
    pending: BTreeMap<String, PendingPermission>,
    resolved: VecDeque<(String, Decision)>,
}

/// Result of claiming a request for an answer.
pub enum Claim {
    /// Pending: the caller answers it.
    Pending(PendingPermission),
    /// Already answered with this decision.
    Resolved(Decision),
    /// Never asked.
    Unknown,
}

impl Permissions {
    /// Record a new request.
    pub fn ask(&mut self, p: PendingPermission) {
        self.pending.insert(p.permission_id.clone(), p);
    }

    /// Take `id` for answering with `decision` (first answer wins).
    pub fn claim(&mut self, id: &str, decision: Decision) -> Claim {
        if let Some(p) = self.pending.remove(id) {
            self.remember(id, decision);
            return Claim::Pending(p);
        }
        match self.resolved.iter().find(|(r, _)| r == id) {
            Some((_, d)) => Claim::Resolved(*d),
            None => Claim::Unknown,
        }
    }

    /// Remember how `id` was resolved (the newest [`RESOLVED_KEPT`]).
    fn remember(&mut self, id: &str, decision: Decision) {
        self.resolved.push_back((id.to_string(), decision));
        if self.resolved.len() > RESOLVED_KEPT {
            self.resolved.pop_front();
        }
    }

    /// Put a claimed request back (the answer could not be delivered).
    pub fn unclaim(&mut self, p: PendingPermission) {
        self.resolved.retain(|(r, _)| *r != p.permission_id);
        self.pending.insert(p.permission_id.clone(), p);
    }

    /// Pending requests, oldest id first.
    pub fn pending(&self) -> Vec<PendingPermission> {
        self.pending.values().cloned().collect()
    }

    /// Resolve every pending request as `cancelled` (the turn asking was
    /// interrupted): later answers get a conflict. The requests cancelled.
    pub fn cancel_all(&mut self) -> Vec<PendingPermission> {
        let cancelled: Vec<PendingPermission> = std::mem::take(&mut self.pending).into_values().collect();
        for p in &cancelled {
            self.remember(&p.permission_id, Decision::Cancelled);
        }
        cancelled
    }

    /// Forget pending requests (agent restarted or exited).
    pub fn clear(&mut self) {
        self.pending.clear();
    }
}
