//! Dispatch: a team's waiting tickets go to its members with room, most urgent then oldest
//! first, by each ticket's strategy (or the team's). Assignment is serialized per team and
//! per agent by row locks, so an agent never holds more open tickets than their capacity and
//! a ticket never gets two agents, also with several instances on one PostgreSQL.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Mutex;

use super::App;
use super::tickets::On;
use crate::domain::assignment::Pool;
use crate::domain::event::{Change, EventType, TicketEvent, actor};
use crate::domain::lifecycle::{self, Action};
use crate::domain::staff::Duty;
use crate::error::Result;
use crate::store::TeamLock;

/// Per team, the dispatches asked for and served, so that a burst of requests costs one
/// pass or two.
#[derive(Default)]
pub struct Queues(std::sync::Mutex<HashMap<String, Arc<TeamQueue>>>);

#[derive(Default)]
struct TeamQueue {
    /// Dispatches asked for so far.
    requested: AtomicU64,
    /// Held while a pass runs: the number of requests the last pass served.
    served: Mutex<u64>,
}

impl App {
    /// Serves `team`'s queue. Requests that arrive while a pass runs share the next pass.
    pub async fn dispatch(&self, team: &str) -> Result<()> {
        let queue = {
            let mut queues = self.queues.0.lock().unwrap_or_else(|p| p.into_inner());
            queues.entry(team.to_owned()).or_default().clone()
        };
        let mine = queue.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut served = queue.served.lock().await;
        if *served >= mine {
            return Ok(());
        }
        let upto = queue.requested.load(Ordering::SeqCst);
        let started = std::time::Instant::now();
        self.dispatch_pass(team).await?;
        self.metrics.dispatched(started.elapsed());
        *served = upto;
        Ok(())
    }

    /// Serves each team's queue in turn; a failure is logged and the others still run.
    pub async fn dispatch_all<'a>(&self, teams: impl IntoIterator<Item = &'a String>) {
        for team in teams {
            if let Err(error) = self.dispatch(team).await {
                tracing::warn!(%team, %error, "dispatch failed; the next sweep retries");
            }
        }
    }

    /// Serves every team's queue: the safety net behind the reactions (after a crash, say).
    /// Every team, not only those with a queue: finding those would read the queues, while a
    /// team with nobody free costs one small read.
    pub async fn sweep_queues(&self) -> Result<()> {
        let teams = self.store.team_ids().await?;
        self.dispatch_all(&teams).await;
        match self.store.queue_lengths().await {
            Ok(waiting) => self.metrics.queue_lengths(waiting),
            Err(error) => tracing::warn!(%error, "could not count the queues for the metrics"),
        }
        self.warn_if_triage_unattended().await
    }

    /// Who is there to answer `team`'s tickets now.
    pub async fn duty(&self, team: &str) -> Result<Duty> {
        Ok(Duty::of(&self.store.team_members(team).await?))
    }

    /// Warns while nobody online can take the triage team's tickets: every ticket that no
    /// rule and no confident prediction routes waits there, and its customer is promised no
    /// time. Once at start, then with every sweep of the queues.
    pub async fn warn_if_triage_unattended(&self) -> Result<()> {
        let triage = &self.settings.routing.triage_team;
        let duty = self.duty(triage).await?;
        if duty == Duty::OnDuty {
            return Ok(());
        }
        let team = self.team(triage).await?;
        tracing::warn!(
            team = %triage,
            members = team.members.len(),
            supervisor = %team.supervisor.as_deref().unwrap_or("none"),
            waiting = team.queued,
            "nobody online can take the triage team's tickets: tickets no rule routes wait \
             there, and their customers are promised no time. Make ONLINE agents its members \
             and give it a supervisor (RoutingService/UpdateTeam, update_mask members, \
             supervisor)"
        );
        Ok(())
    }

    /// One pass over `team`'s queue. Returns the assignments recorded.
    async fn dispatch_pass(&self, team_id: &str) -> Result<Vec<TicketEvent>> {
        // Most passes find nobody with room: say so from a read, without taking the write
        // lock. Safe, because whatever makes room commits first and dispatches after.
        if Pool::of(self.store.team_members(team_id).await?, None).room() == 0 {
            return Ok(Vec::new());
        }
        let now = self.now();
        let write = self.store.begin().await?;
        let Some(team) = self
            .store
            .lock_team(&write, team_id, TeamLock::Change)
            .await?
        else {
            return Ok(Vec::new());
        };
        let agents = self.store.lock_members(&write, team_id).await?;
        let last = self.store.last_assignee(Some(&write), team_id).await?;
        let mut pool = Pool::of(agents, last);
        let room = pool.room();
        if room == 0 {
            return Ok(Vec::new());
        }
        // Lock every ticket this pass may take before recording any event (the lock order).
        let waiting = self
            .store
            .lock_queue(&write, team_id, u64::from(room))
            .await?;
        let mut events = Vec::new();
        for ticket in waiting {
            let strategy = ticket.assignment_strategy.unwrap_or(team.strategy);
            let Some(pick) = pool.take(strategy, &ticket.wanted_skills()) else {
                break;
            };
            let on = On::system(ticket.id, actor::ROUTER);
            let changed = self
                .change_in(&write, &on, now, |t| {
                    lifecycle::apply(
                        t,
                        Action::Assign {
                            team: None,
                            agent: Some(pick.agent),
                            transfer_ownership: false,
                        },
                        now,
                    )?;
                    Ok(Change::of(EventType::TicketAssigned).because(pick.reason))
                })
                .await?;
            events.extend(changed.events);
        }
        if events.is_empty() {
            return Ok(events);
        }
        self.store
            .set_last_assignee(&write, team_id, pool.last)
            .await?;
        self.store.commit(write).await?;
        Ok(events)
    }
}
