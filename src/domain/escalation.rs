//! What an SLA escalation level does to a ticket: tell the supervisor, raise the priority,
//! hand the ticket to the supervisor, or move it to another team's queue. Each action that
//! cannot be done says why in the event's reason instead of failing the others.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::event::{Change, Escalation, EventType, SlaNote};
use super::lifecycle::{self, Action};
use super::priority::one_step_up;
use super::sla::{EscalationAction, EscalationLevel};
use super::staff::Agent;
use super::ticket::Ticket;

/// The staff an escalation may involve, as locked for it: team id → its supervisor (a team
/// that no longer exists is absent), and the supervisors' agent rows.
#[derive(Debug, Default)]
pub struct Staff {
    pub supervisors: HashMap<String, Option<String>>,
    pub agents: HashMap<String, Agent>,
}

/// The teams an escalation's `levels` may involve on `ticket`: its own, for its supervisor,
/// and the teams it may be moved to.
pub fn teams_involved<'a>(
    ticket: &Ticket,
    levels: impl IntoIterator<Item = &'a EscalationLevel>,
) -> std::collections::BTreeSet<String> {
    let mut teams = std::collections::BTreeSet::new();
    for level in levels {
        for action in &level.actions {
            match action {
                EscalationAction::NotifySupervisor | EscalationAction::ReassignToSupervisor => {
                    teams.extend(ticket.team.clone())
                }
                EscalationAction::ReassignToTeam => teams.extend(level.team.clone()),
                EscalationAction::RaisePriority => {}
            }
        }
    }
    teams
}

/// Does what escalation level `level` says to `ticket`, and names the event that records it.
pub fn escalate(
    ticket: &mut Ticket,
    level: u32,
    escalation: &EscalationLevel,
    staff: &Staff,
    now: DateTime<Utc>,
) -> Change {
    let why = format!(
        "level {level}: {} {}",
        escalation.target,
        escalation.trigger.as_str().to_lowercase().replace('_', " ")
    );
    let team = ticket.team.clone().unwrap_or_default();
    let supervisor = staff.supervisors.get(&team).cloned().flatten();
    let had_team = ticket.team.is_some();
    let nobody = |to: &str| match had_team {
        true => format!("team {team} has no supervisor {to}"),
        false => format!("the ticket has no team, so no supervisor {to}"),
    };
    let mut done = Vec::new();
    let mut notify = None;
    for action in &escalation.actions {
        let outcome = match action {
            EscalationAction::NotifySupervisor => match &supervisor {
                Some(id) => {
                    notify = Some(id.clone());
                    format!("supervisor {id} told")
                }
                None => nobody("to tell"),
            },
            EscalationAction::RaisePriority => raise_priority(ticket, &why),
            EscalationAction::ReassignToSupervisor => match &supervisor {
                None => nobody("to take it"),
                Some(id) => to_supervisor(ticket, id, staff.agents.get(id), now),
            },
            EscalationAction::ReassignToTeam => {
                let target = escalation.team.clone().unwrap_or_default();
                to_team(
                    ticket,
                    &target,
                    staff.supervisors.contains_key(&target),
                    now,
                )
            }
        };
        done.push(outcome);
    }
    let mut change =
        Change::of(EventType::SlaEscalated).because(format!("{why}: {}", done.join("; ")));
    change.note.sla = Some(SlaNote {
        targets: vec![escalation.target],
        escalation: Some(Escalation {
            level,
            actions: escalation.actions.clone(),
            notify,
        }),
    });
    change
}

fn raise_priority(ticket: &mut Ticket, why: &str) -> String {
    let higher = one_step_up(ticket.priority);
    if higher == ticket.priority {
        return format!("priority already {higher}");
    }
    ticket
        .priority_reasons
        .push(format!("{higher}: SLA escalation ({why})"));
    let text = format!("priority {} → {higher}", ticket.priority);
    ticket.priority = higher;
    text
}

fn to_supervisor(
    ticket: &mut Ticket,
    supervisor: &str,
    agent: Option<&Agent>,
    now: DateTime<Utc>,
) -> String {
    if ticket.assignee.as_deref() == Some(supervisor) {
        return format!("already with supervisor {supervisor}");
    }
    let Some(agent) = agent else {
        return format!("supervisor {supervisor} is not an agent");
    };
    let handed = agent.can_take(ticket, None).and_then(|()| {
        lifecycle::apply(
            ticket,
            Action::Assign {
                team: None,
                agent: Some(supervisor.to_owned()),
                transfer_ownership: false,
            },
            now,
        )
    });
    match handed {
        Ok(()) => format!("reassigned to supervisor {supervisor}"),
        Err(refused) => format!("not reassigned to supervisor {supervisor}: {refused}"),
    }
}

fn to_team(ticket: &mut Ticket, target: &str, exists: bool, now: DateTime<Utc>) -> String {
    if !exists {
        return format!("team {target} no longer exists");
    }
    if ticket.team.as_deref() == Some(target) {
        return format!("already in team {target}");
    }
    let moved = lifecycle::apply(
        ticket,
        Action::Assign {
            team: Some(target.to_owned()),
            agent: None,
            transfer_ownership: false,
        },
        now,
    );
    match moved {
        Ok(()) => format!("moved to team {target}'s queue"),
        Err(refused) => format!("not moved to team {target}: {refused}"),
    }
}
