//! Teams and agents, and a team's queue. What must hold when they change is in their guards:
//! a team's calendar and supervisor exist; a team with open tickets, or that rules route to
//! or SLA policies escalate to, stays; an agent's teams exist; an agent holding open tickets
//! stays. A team's member list moves agents in and out, each an agent change of its own.

use super::admin::{Change, Resource};
use super::{App, created_or_there};
use crate::domain::access::{Caller, Principal, Role};
use crate::domain::assignment::{Availability, Strategy};
use crate::domain::config::ConfigChange;
use crate::domain::error::{Refusal, Versioned};
use crate::domain::idempotency::Requested;
use crate::domain::patch::Patch;
use crate::domain::staff::{Agent, Team};
use crate::domain::ticket::{Ticket, limits};
use crate::error::{Error, Found, Result};
use crate::store::{Inserted, Store, TeamLock, Write};

impl Resource for Team {
    const KIND: &'static str = "team";
    type Key = str;

    fn key(&self) -> String {
        self.id.clone()
    }

    /// Locked against other changes and dispatches, not against the tickets and memberships
    /// that name it (a delete locks it harder; see its guard); with its members.
    async fn lock(store: &Store, write: &Write, key: &str) -> Result<Option<Team>> {
        let Some(mut team) = store.lock_team(write, key, TeamLock::Change).await? else {
            return Ok(None);
        };
        team.members = store.member_ids(write, key).await?;
        Ok(Some(team))
    }

    async fn insert(
        &mut self,
        store: &Store,
        write: &Write,
        _: Option<&Requested>,
    ) -> Result<Inserted> {
        store.insert_team(write, self).await
    }

    async fn update(store: &Store, write: &Write, _: &Team, after: &Team) -> Result<()> {
        store.update_team(write, after).await
    }

    async fn delete(&self, store: &Store, write: &Write) -> Result<()> {
        store.delete_team(write, &self.id).await?;
        store.routing_changed(write).await
    }

    /// The agents its member list names join it, and those it no longer names leave it.
    async fn written(
        app: &App,
        write: &Write,
        change: Change<'_, Team>,
        by: &Caller,
    ) -> Result<()> {
        match change {
            Change::Create(team) => {
                app.move_members(write, &team.id, &[], &team.members, by)
                    .await
            }
            Change::Update { before, after } => {
                app.move_members(write, &after.id, &before.members, &after.members, by)
                    .await
            }
            Change::Delete(_) => Ok(()),
        }
    }

    async fn guard(app: &App, write: &Write, change: Change<'_, Team>) -> Result<()> {
        let store = &app.store;
        match change {
            Change::Create(team) => {
                app.check_calendar(write, team.calendar.as_deref()).await?;
                check_agent(store, team.supervisor.as_deref()).await?;
                // The set of teams is part of what routing reads.
                store.routing_changed(write).await
            }
            Change::Update { before, after } => {
                if after.calendar != before.calendar {
                    app.check_calendar(write, after.calendar.as_deref()).await?;
                }
                if after.supervisor != before.supervisor {
                    check_agent(store, after.supervisor.as_deref()).await?;
                }
                Ok(())
            }
            Change::Delete(team) => {
                // Keeps tickets and memberships from naming it while it goes.
                store.lock_team(write, &team.id, TeamLock::Delete).await?;
                let refuse =
                    |why: String| Err(Error::precondition(format!("team {}", team.id), why));
                if team.id == app.settings.routing.triage_team {
                    return refuse("it is the triage team, which routing needs".into());
                }
                let open = store.open_tickets_of_team(write, &team.id).await?;
                if open > 0 {
                    return refuse(format!(
                        "it holds {open} open tickets; move them to another team first"
                    ));
                }
                let rules: Vec<String> = store
                    .lock_rules(write)
                    .await?
                    .into_iter()
                    .filter(|r| r.actions.team.as_deref() == Some(team.id.as_str()))
                    .map(|r| r.name)
                    .collect();
                if !rules.is_empty() {
                    return refuse(format!("rules route to it: {}", rules.join(", ")));
                }
                let policies: Vec<String> = store
                    .policies_in(write)
                    .await?
                    .into_iter()
                    .filter(|p| p.escalates_to(&team.id))
                    .map(|p| p.id)
                    .collect();
                if !policies.is_empty() {
                    return refuse(format!(
                        "SLA policies escalate to it: {}",
                        policies.join(", ")
                    ));
                }
                let webhooks = store.webhooks_of_team(write, &team.id).await?;
                if !webhooks.is_empty() {
                    return refuse(format!("webhooks follow it: {}", webhooks.join(", ")));
                }
                let replies = store.reply_templates_of_team(write, &team.id).await?;
                if !replies.is_empty() {
                    return refuse(format!(
                        "reply templates belong to it: {}; delete them or make them another \
                         team's",
                        replies.join(", ")
                    ));
                }
                let improvements = store.open_improvements_of_team(write, &team.id).await?;
                if !improvements.is_empty() {
                    return refuse(format!(
                        "open improvements belong to it: {}; finish, drop or hand them to \
                         another team",
                        improvements.join(", ")
                    ));
                }
                Ok(())
            }
        }
    }
}

impl Resource for Agent {
    const KIND: &'static str = "agent";
    type Key = str;

    fn key(&self) -> String {
        self.id.clone()
    }

    async fn lock(store: &Store, write: &Write, key: &str) -> Result<Option<Agent>> {
        store.lock_agent(write, key).await
    }

    async fn insert(
        &mut self,
        store: &Store,
        write: &Write,
        _: Option<&Requested>,
    ) -> Result<Inserted> {
        store.insert_agent(write, self).await
    }

    async fn update(store: &Store, write: &Write, before: &Agent, after: &Agent) -> Result<()> {
        store.update_agent(write, before, after).await
    }

    async fn delete(&self, store: &Store, write: &Write) -> Result<()> {
        store.delete_agent(write, &self.id).await
    }

    async fn guard(app: &App, write: &Write, change: Change<'_, Agent>) -> Result<()> {
        match change {
            Change::Create(agent) => check_teams(app, write, &agent.teams).await,
            Change::Update { before, after } if after.teams != before.teams => {
                check_teams(app, write, &after.teams).await
            }
            Change::Update { .. } => Ok(()),
            Change::Delete(agent) if agent.open_tickets > 0 => Err(Error::precondition(
                format!("agent {}", agent.id),
                format!(
                    "they hold {} open tickets; reassign them first",
                    agent.open_tickets
                ),
            )),
            Change::Delete(_) => Ok(()),
        }
    }
}

impl App {
    /// Agents join and leave `team` as its member list goes from `before` to `after`; each
    /// is a change of that agent, logged as one, so that the reactions serve the team's queue
    /// for an agent who joins online.
    async fn move_members(
        &self,
        write: &Write,
        team: &str,
        before: &[String],
        after: &[String],
        by: &Caller,
    ) -> Result<()> {
        let mut moving: Vec<String> = before
            .iter()
            .filter(|id| !after.contains(id))
            .chain(after.iter().filter(|id| !before.contains(id)))
            .cloned()
            .collect();
        moving.sort();
        let agents = self.store.lock_agents(write, &moving).await?;
        if let Some(missing) = moving
            .iter()
            .find(|id| !agents.iter().any(|a| &a.id == *id))
        {
            return Err(Error::not_found("agent", missing));
        }
        let now = self.now();
        for agent in agents {
            let mut changed = agent.clone();
            changed.teams.retain(|t| t != team);
            if after.contains(&agent.id) {
                changed.teams.push(team.to_owned());
                changed.teams.sort();
                if changed.teams.len() > limits::TEAMS_PER_AGENT {
                    return Err(Error::precondition(
                        format!("agent {}", agent.id),
                        format!(
                            "they are in {} teams already, the most an agent can be in",
                            limits::TEAMS_PER_AGENT
                        ),
                    ));
                }
            }
            changed.bump(now);
            self.store.update_agent(write, &agent, &changed).await?;
            let change = ConfigChange::of(
                Agent::KIND,
                agent.id.clone(),
                Some(&agent),
                Some(&changed),
                by,
                now,
            );
            self.store.record_config_change(write, &change).await?;
        }
        Ok(())
    }
}

/// Refuses an agent who does not exist (a team's supervisor).
async fn check_agent(store: &Store, id: Option<&str>) -> Result<()> {
    if let Some(id) = id {
        store.agent(id).await?.found("agent", id)?;
    }
    Ok(())
}

/// Refuses teams that do not exist, naming the first.
pub(super) async fn check_teams(app: &App, write: &Write, teams: &[String]) -> Result<()> {
    match app.store.missing_teams(write, teams).await?.first() {
        Some(missing) => Err(Refusal::not_found("team", missing).into()),
        None => Ok(()),
    }
}

impl App {
    pub async fn create_team(&self, by: &Caller, team: Team) -> Result<Team> {
        let created = self.create(team, None, by).await?;
        self.team(&created.id).await
    }

    pub async fn team(&self, id: &str) -> Result<Team> {
        self.store.team(id).await?.found("team", id)
    }

    /// Up to `limit` teams by id, after `after`.
    pub async fn list_teams(&self, after: Option<String>, limit: u64) -> Result<Vec<Team>> {
        self.store.list_teams(after.as_deref(), limit).await
    }

    pub async fn update_team(
        &self,
        by: &Caller,
        id: &str,
        etag: Option<&str>,
        patch: &Patch<Team>,
    ) -> Result<Team> {
        self.update(id, etag, patch, by).await?;
        self.team(id).await
    }

    pub async fn delete_team(&self, by: &Caller, id: &str, etag: Option<&str>) -> Result<()> {
        self.delete::<Team>(id, etag, by).await
    }

    /// Up to `limit` tickets waiting in `team`'s queue, in the order they will be served,
    /// after the ticket at `after` (its priority rank and id).
    pub async fn team_queue(
        &self,
        team: &str,
        after: Option<(i16, i64)>,
        limit: u64,
        by: &Principal,
    ) -> Result<Vec<Ticket>> {
        by.check_team(team)?;
        self.team(team).await?;
        self.store.team_queue(team, after, limit).await
    }

    pub async fn create_agent(&self, by: &Caller, agent: Agent) -> Result<Agent> {
        let created = self.create(agent, None, by).await?;
        self.agent(&created.id).await
    }

    pub async fn agent(&self, id: &str) -> Result<Agent> {
        self.store.agent(id).await?.found("agent", id)
    }

    /// Up to `limit` agents by id after `after`, of `team` and with `availability` if given.
    pub async fn list_agents(
        &self,
        team: Option<&str>,
        availability: Option<Availability>,
        after: Option<String>,
        limit: u64,
    ) -> Result<Vec<Agent>> {
        if let Some(team) = team {
            self.team(team).await?;
        }
        self.store
            .list_agents(team, availability, after.as_deref(), limit)
            .await
    }

    /// Changes an agent; the reactions serve their teams' queues if they may take work now.
    pub async fn update_agent(
        &self,
        by: &Caller,
        id: &str,
        etag: Option<&str>,
        patch: &Patch<Agent>,
    ) -> Result<Agent> {
        if matches!(by.role, Role::Agent | Role::Supervisor) {
            let teams = self.agent(id).await?.teams;
            by.check_agent_change(id, &teams, &patch.fields())?;
        }
        self.update(id, etag, patch, by).await?;
        self.agent(id).await
    }

    pub async fn delete_agent(&self, by: &Caller, id: &str, etag: Option<&str>) -> Result<()> {
        self.delete::<Agent>(id, etag, by).await
    }

    /// The triage team, created on first start.
    pub(super) async fn install_triage_team(&self) -> Result<()> {
        let now = self.now();
        created_or_there(
            self.create(
                Team {
                    id: self.settings.routing.triage_team.clone(),
                    display_name: "Triage".into(),
                    supervisor: None,
                    time_zone: String::new(),
                    calendar: None,
                    strategy: Strategy::RoundRobin,
                    members: Vec::new(),
                    queued: 0,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                },
                None,
                &Caller::system(),
            )
            .await,
        )
    }
}
