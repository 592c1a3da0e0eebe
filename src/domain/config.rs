//! The log of configuration changes: every create, update and delete of a team, an agent, a
//! routing rule, an SLA policy, a calendar or a survey template, with who made it and the
//! resource before and after. Reactions follow it as they follow the ticket events.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::access::Caller;
use super::ticket::named_enum;

named_enum!(
    /// What happened to a configuration resource.
    ChangeAction {
        Created = "CREATED",
        Updated = "UPDATED",
        Deleted = "DELETED",
    }
);

/// One committed change of configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigChange {
    /// Position in the log, assigned when it is recorded.
    pub id: i64,
    /// `team`, `agent`, `routing rule`, `SLA policy`, `calendar`, `survey template`.
    pub resource: String,
    pub key: String,
    pub action: ChangeAction,
    pub actor: String,
    /// The caller's address, when the change came through the API.
    pub peer: Option<String>,
    pub occurred_at: DateTime<Utc>,
    /// The resource before the change; `None` when it was created.
    pub before: Option<Value>,
    /// The resource after the change; `None` when it was deleted.
    pub after: Option<Value>,
}

impl ConfigChange {
    /// The change of `resource` `key` from `before` to `after` (either may be absent), by
    /// caller `by` at `at`.
    pub fn of<R: Serialize>(
        resource: &str,
        key: String,
        before: Option<&R>,
        after: Option<&R>,
        by: &Caller,
        at: DateTime<Utc>,
    ) -> ConfigChange {
        let action = match (before, after) {
            (None, _) => ChangeAction::Created,
            (Some(_), Some(_)) => ChangeAction::Updated,
            (Some(_), None) => ChangeAction::Deleted,
        };
        // Configuration values are plain data: they always serialize.
        let json = |r: Option<&R>| r.and_then(|r| serde_json::to_value(r).ok());
        ConfigChange {
            id: 0,
            resource: resource.to_owned(),
            key,
            action,
            actor: by.actor(),
            peer: Some(by.peer.clone()).filter(|p| p != "-"),
            occurred_at: at,
            before: json(before),
            after: json(after),
        }
    }
}
