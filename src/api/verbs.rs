//! The lifecycle verbs' requests, each read into the one shape every verb shares: which
//! ticket, the etag the caller saw, who acts, why, and the domain action.

use super::validate::{Check, actor};
use crate::domain::lifecycle::Action;
use crate::domain::ticket::{Resolution, limits};
use crate::proto::feedback::v1 as pb;

/// A validated lifecycle verb.
pub struct VerbCall {
    pub ticket_id: i64,
    /// Empty when the caller does not check for concurrent changes.
    pub etag: String,
    pub actor: String,
    /// Recorded with the event.
    pub reason: Option<String>,
    pub action: Action,
}

/// A request of a lifecycle verb; its bad fields go to `check`.
pub trait VerbRequest {
    fn read(self, check: &mut Check) -> VerbCall;
}

fn call(
    check: &mut Check,
    ticket_id: i64,
    etag: String,
    actor_field: &str,
    reason: Option<String>,
    action: Action,
) -> VerbCall {
    VerbCall {
        ticket_id: check.id("ticket_id", ticket_id),
        etag,
        actor: actor(check, "actor", actor_field),
        reason,
        action,
    }
}

impl VerbRequest for pb::AssignTicketRequest {
    fn read(self, check: &mut Check) -> VerbCall {
        let team = check.optional_text("team", &self.team, limits::TEAM);
        let agent = check.optional_text("agent", &self.agent, limits::TEAM);
        if team.is_none() && agent.is_none() {
            check.add("agent", "set a team, an agent, or both");
        }
        if self.transfer_ownership && agent.is_none() {
            check.add("transfer_ownership", "needs an agent to own the ticket");
        }
        let reason = check.optional_text("reason", &self.reason, limits::REASON);
        let action = Action::Assign {
            team,
            agent,
            transfer_ownership: self.transfer_ownership,
        };
        call(
            check,
            self.ticket_id,
            self.etag,
            &self.actor,
            reason,
            action,
        )
    }
}

impl VerbRequest for pb::AcknowledgeTicketRequest {
    /// The acknowledging agent is also the actor.
    fn read(self, check: &mut Check) -> VerbCall {
        let agent = check.text("agent", &self.agent, true, limits::ACTOR);
        call(
            check,
            self.ticket_id,
            self.etag,
            &agent.clone(),
            None,
            Action::Acknowledge { agent },
        )
    }
}

impl VerbRequest for pb::SetPendingRequest {
    fn read(self, check: &mut Check) -> VerbCall {
        let reason = check.optional_text("reason", &self.reason, limits::REASON);
        call(
            check,
            self.ticket_id,
            self.etag,
            &self.actor,
            reason.clone(),
            Action::SetPending { reason },
        )
    }
}

impl VerbRequest for pb::ResumeTicketRequest {
    fn read(self, check: &mut Check) -> VerbCall {
        call(
            check,
            self.ticket_id,
            self.etag,
            &self.actor,
            None,
            Action::Resume,
        )
    }
}

impl VerbRequest for pb::ResolveTicketRequest {
    fn read(self, check: &mut Check) -> VerbCall {
        let summary = check.text(
            "resolution_summary",
            &self.resolution_summary,
            true,
            limits::RESOLUTION,
        );
        let resolution = check
            .optional_enum("resolution", self.resolution)
            .unwrap_or(Resolution::Solved);
        let merged_into = check.optional_text("merged_into", &self.merged_into, limits::KEY);
        match (resolution, &merged_into) {
            (Resolution::Merged, None) => {
                check.add("merged_into", "is required when resolution is MERGED")
            }
            (Resolution::Solved | Resolution::Spam, Some(_)) => {
                check.add("merged_into", "is only for resolution MERGED")
            }
            _ => {}
        }
        call(
            check,
            self.ticket_id,
            self.etag,
            &self.actor,
            None,
            Action::Resolve {
                summary,
                resolution,
                merged_into,
            },
        )
    }
}

impl VerbRequest for pb::CloseTicketRequest {
    fn read(self, check: &mut Check) -> VerbCall {
        call(
            check,
            self.ticket_id,
            self.etag,
            &self.actor,
            None,
            Action::Close,
        )
    }
}

impl VerbRequest for pb::ReopenTicketRequest {
    fn read(self, check: &mut Check) -> VerbCall {
        let reason = check.text("reason", &self.reason, true, limits::REASON);
        call(
            check,
            self.ticket_id,
            self.etag,
            &self.actor,
            Some(reason.clone()),
            Action::Reopen { reason },
        )
    }
}
