//! What a committed change sets in motion, declared in one place ([`of_event`] for ticket
//! events, [`of_change`] for configuration changes), and the [`Reactor`] that follows both logs
//! and does it.
//!
//! The logs are the truth: the reactor remembers in the database how far it has got, so a
//! change committed just before a crash is reacted to after the restart; every reaction is
//! safe to repeat, and whatever fails is retried by the periodic passes (the queue sweep).
//! A use case that commits waits (briefly) for the reactions to its own change, so that its
//! reply shows them: the ticket a freed agent took, the queue a reopened ticket went to.
//!
//! The insight roll-ups follow the log beside the reactions, exactly once rather than at least
//! once: their position moves in the transaction that writes them ([`super::rollups`]).
//!
//! What happens *with* a change, atomically, is not a reaction: a resolve creates its survey
//! and every change moves its SLA clocks in the change's own transaction.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::App;
use crate::domain::assignment::Availability;
use crate::domain::config::{ChangeAction, ConfigChange};
use crate::domain::event::{EventType, TicketEvent};
use crate::domain::staff::{OPEN, QUEUED};
use crate::domain::ticket::Status;
use crate::error::Error;
use crate::events::{EventHub, SharedEvent};
use crate::store::ReactorProgress;

/// Something a committed change sets in motion.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reaction {
    /// Serve this team's queue: a ticket waits in it, or someone in it may have room.
    Dispatch(String),
    /// Serve the queues of this agent's teams: they let go of an open ticket.
    DispatchTeamsOf(String),
    /// Retrain the classifier if its model is older than the retrain interval: what it
    /// learns from (resolved tickets) grew.
    Retrain,
    /// Forget the API keys found so far: one was created or revoked.
    ForgetKeys,
    /// End the streams open under this API key: it was revoked.
    EndStreamsOf(String),
    /// Forget the dashboards' 整改率: an improvement was created or changed.
    ForgetImprovementRates,
}

/// What a committed ticket event sets in motion.
pub fn of_event(event: &TicketEvent) -> Vec<Reaction> {
    let mut reactions = Vec::new();
    if let Some(agent) = released_agent(event) {
        reactions.push(Reaction::DispatchTeamsOf(agent));
    }
    let t = &event.ticket;
    if let (Some(team), None) = (&t.team, &t.assignee)
        && QUEUED.contains(&t.status)
    {
        reactions.push(Reaction::Dispatch(team.clone()));
    }
    if matches!(
        event.event_type,
        EventType::TicketResolved | EventType::TicketClosed
    ) {
        reactions.push(Reaction::Retrain);
    }
    reactions
}

/// What a committed configuration change sets in motion.
pub fn of_change(change: &ConfigChange) -> Vec<Reaction> {
    /// What the reactions read of an agent.
    #[derive(Deserialize)]
    struct AgentState {
        availability: Availability,
        teams: Vec<String>,
    }
    /// What the reactions read of a team.
    #[derive(Deserialize)]
    struct TeamState {
        id: String,
        members: Vec<String>,
    }
    match (change.resource.as_str(), change.action, &change.after) {
        // Online, with room or teams perhaps new: their teams' queues may have work for them.
        ("agent", ChangeAction::Created | ChangeAction::Updated, Some(after)) => {
            match serde_json::from_value::<AgentState>(after.clone()) {
                Ok(agent) if agent.availability == Availability::Online => {
                    agent.teams.into_iter().map(Reaction::Dispatch).collect()
                }
                _ => Vec::new(),
            }
        }
        // New members: the team's queue may have work for one who is online.
        ("team", ChangeAction::Created | ChangeAction::Updated, Some(after)) => {
            let state = |s: &serde_json::Value| serde_json::from_value::<TeamState>(s.clone());
            let before = match change.before.as_ref().map(state) {
                Some(Ok(team)) => team.members,
                _ => Vec::new(),
            };
            match state(after) {
                Ok(team) if team.members.iter().any(|m| !before.contains(m)) => {
                    vec![Reaction::Dispatch(team.id)]
                }
                _ => Vec::new(),
            }
        }
        (super::improvements::IMPROVEMENT_KIND, _, _) => {
            vec![Reaction::ForgetImprovementRates]
        }
        (super::access::KEY_KIND, _, after) => {
            let revoked = after
                .as_ref()
                .and_then(|key| key.get("revoked_at"))
                .is_some_and(|at| !at.is_null());
            let mut reactions = vec![Reaction::ForgetKeys];
            if revoked {
                reactions.push(Reaction::EndStreamsOf(change.key.clone()));
            }
            reactions
        }
        _ => Vec::new(),
    }
}

/// The agent an event relieved of an open ticket: the ticket was theirs and open before,
/// and is not both theirs and open after.
fn released_agent(event: &TicketEvent) -> Option<String> {
    let after = &event.ticket;
    let assignee_before = match event.before("assignee") {
        Some(before) => Some(before.to_owned()).filter(|b| !b.is_empty()),
        None => after.assignee.clone(),
    };
    let status_before = match event.before("status") {
        Some(before) => before.parse::<Status>().ok()?,
        None => after.status,
    };
    let agent = assignee_before?;
    let held_before = OPEN.contains(&status_before);
    let holds_after =
        after.assignee.as_deref() == Some(agent.as_str()) && OPEN.contains(&after.status);
    (held_before && !holds_after).then_some(agent)
}

/// How long a use case waits for the reactions to its own change before it answers anyway
/// (they still happen).
const SETTLE_WAIT: Duration = Duration::from_secs(5);
/// How often the reactor saves how far it has got, at most.
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// How often the configuration log is read when nothing announced a change (another
/// instance's change on SQLite, a lost notification).
const CONFIG_POLL: Duration = Duration::from_secs(1);
/// Configuration changes read at a time.
const CONFIG_PAGE: u64 = 100;

/// How far the reactions have got in this process, for use cases that wait for theirs.
#[derive(Default)]
pub struct Settled {
    progress: watch::Sender<ReactorProgress>,
    /// Whether a reactor runs, or is starting: without one (a tool embedding the use cases),
    /// nobody waits.
    running: AtomicBool,
}

impl Settled {
    /// A reactor is about to run: from now on, use cases wait for it.
    pub(super) fn expect_reactor(&self) {
        self.running.store(true, Ordering::Release);
    }
}

impl App {
    /// Waits until the reactions to the ticket event at `cursor` have run, or a little while.
    pub(crate) async fn settled(&self, cursor: i64) {
        self.settle(|p| p.events >= cursor).await
    }

    /// Waits for the reactions to `events`, the last of one commit, if they set any in
    /// motion; a change nothing follows answers at once.
    pub(crate) async fn settled_events(&self, events: &[TicketEvent]) {
        if events.iter().any(|e| !of_event(e).is_empty())
            && let Some(last) = events.iter().map(|e| e.cursor).max()
        {
            self.settled(last).await
        }
    }

    /// Waits for the reactions to configuration change `change` (at `id`), if it sets any in
    /// motion.
    pub(crate) async fn settled_config(&self, change: &ConfigChange, id: i64) {
        if !of_change(change).is_empty() {
            self.settle(|p| p.config >= id).await
        }
    }

    async fn settle(&self, reached: impl FnMut(&ReactorProgress) -> bool) {
        if !self.reacted.running.load(Ordering::Acquire) {
            return;
        }
        let mut progress = self.reacted.progress.subscribe();
        let _ = tokio::time::timeout(SETTLE_WAIT, progress.wait_for(reached)).await;
    }
}

/// Follows the ticket events (through the event hub, as watchers do) and the configuration
/// changes, and does what each sets in motion.
pub struct Reactor {
    app: Arc<App>,
    hub: Arc<EventHub>,
    retraining: Arc<AtomicBool>,
}

impl Reactor {
    pub fn new(app: Arc<App>, hub: Arc<EventHub>) -> Reactor {
        Reactor {
            app,
            hub,
            retraining: Arc::default(),
        }
    }

    /// Reacts until `stop`, from where the reactions last got to.
    pub async fn run(self, stop: CancellationToken) {
        let Some(mut progress) = self.start(&stop).await else {
            self.app.reacted.running.store(false, Ordering::Release);
            return;
        };
        let settled = &self.app.reacted;
        settled.progress.send_replace(progress);
        let mut saved = progress;
        let mut last_save = Instant::now();
        let mut config_committed = self.app.store.signals().config.subscribe();
        let mut config_poll = tokio::time::interval(CONFIG_POLL);
        let mut events = None;
        loop {
            if events.is_none() {
                match self.hub.follow(progress.events).await {
                    Ok(stream) => events = Some(stream),
                    Err(error) => {
                        tracing::warn!(%error, "reactions cannot follow the event log; retrying");
                        tokio::select! {
                            _ = stop.cancelled() => break,
                            _ = tokio::time::sleep(CONFIG_POLL) => continue,
                        }
                    }
                }
            }
            let Some(stream) = events.as_mut() else {
                continue;
            };
            tokio::select! {
                _ = stop.cancelled() => break,
                batch = stream.next() => match batch {
                    Some(Ok(batch)) => {
                        self.react_to_events(&batch).await;
                        if let Some(last) = batch.last() {
                            progress.events = progress.events.max(last.event.cursor);
                        }
                    }
                    Some(Err(Error::ShuttingDown(_))) => break,
                    // The watch ended without a word (its last message did not fit): unless
                    // the service stops, follow the log again from where the reactions are.
                    Some(Err(_)) | None if stop.is_cancelled() => break,
                    outcome => {
                        if let Some(Err(error)) = outcome {
                            tracing::warn!(%error, "reactions lost the event log; following it again");
                        }
                        events = None;
                        tokio::select! {
                            _ = stop.cancelled() => break,
                            _ = tokio::time::sleep(CONFIG_POLL) => {}
                        }
                    }
                },
                _ = config_committed.changed() => {
                    progress.config = self.react_to_config(progress.config).await;
                }
                _ = config_poll.tick() => {
                    progress.config = self.react_to_config(progress.config).await;
                }
            }
            settled.progress.send_replace(progress);
            if progress != saved && last_save.elapsed() >= SAVE_EVERY {
                match self.app.store.save_reactor_progress(progress).await {
                    Ok(()) => saved = progress,
                    Err(error) => tracing::warn!(%error, "cannot save how far reactions got"),
                }
                last_save = Instant::now();
            }
        }
        settled.running.store(false, Ordering::Release);
        if progress != saved
            && let Err(error) = self.app.store.save_reactor_progress(progress).await
        {
            tracing::warn!(%error, "cannot save how far reactions got");
        }
    }

    /// Where the reactions last got to, read again until it can be read or `stop`.
    async fn start(&self, stop: &CancellationToken) -> Option<ReactorProgress> {
        loop {
            match self.app.store.reactor_progress().await {
                Ok(progress) => return Some(progress),
                Err(error) => {
                    tracing::warn!(%error, "cannot read how far reactions got; retrying");
                    tokio::select! {
                        _ = stop.cancelled() => return None,
                        _ = tokio::time::sleep(CONFIG_POLL) => {}
                    }
                }
            }
        }
    }

    async fn react_to_events(&self, events: &[Arc<SharedEvent>]) {
        let reactions: BTreeSet<Reaction> = events
            .iter()
            .flat_map(|shared| of_event(&shared.event))
            .collect();
        self.react(reactions).await;
    }

    /// Reacts to the configuration changes after `cursor`; returns the last one reacted to.
    async fn react_to_config(&self, mut cursor: i64) -> i64 {
        loop {
            let changes = match self
                .app
                .store
                .config_changes_after(cursor, CONFIG_PAGE)
                .await
            {
                Ok(changes) => changes,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the configuration changes; retrying");
                    return cursor;
                }
            };
            let Some(last) = changes.last() else {
                return cursor;
            };
            cursor = last.id;
            let full = changes.len() as u64 == CONFIG_PAGE;
            self.react(changes.iter().flat_map(of_change).collect())
                .await;
            if !full {
                return cursor;
            }
        }
    }

    /// Does each reaction once; a failure is logged and left to the periodic passes.
    async fn react(&self, reactions: BTreeSet<Reaction>) {
        let mut teams = BTreeSet::new();
        for reaction in reactions {
            match reaction {
                Reaction::Dispatch(team) => {
                    teams.insert(team);
                }
                Reaction::DispatchTeamsOf(agent) => match self.app.store.agent(&agent).await {
                    Ok(Some(agent)) => teams.extend(agent.teams),
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%agent, %error, "cannot read the agent's teams"),
                },
                Reaction::Retrain => self.retrain(),
                Reaction::ForgetKeys => self.app.keys.forget(),
                Reaction::EndStreamsOf(key) => self.app.keys.revoked(key),
                Reaction::ForgetImprovementRates => self.app.improvement_rates.forget(),
            }
        }
        self.app.dispatch_all(&teams).await;
    }

    /// Retrains in the background if the model is due, one training at a time.
    fn retrain(&self) {
        if self.retraining.swap(true, Ordering::AcqRel) {
            return;
        }
        let (app, retraining) = (self.app.clone(), self.retraining.clone());
        tokio::spawn(async move {
            if let Err(error) = app.retrain_if_due().await {
                tracing::info!(%error, "retraining skipped");
            }
            retraining.store(false, Ordering::Release);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::FieldChange;
    use crate::domain::ticket::{Customer, Kind};
    use chrono::Utc;

    fn event(mut edit: impl FnMut(&mut crate::domain::ticket::Ticket)) -> TicketEvent {
        let mut ticket =
            crate::domain::ticket::sample(Kind::Problem, Customer::default(), Utc::now());
        edit(&mut ticket);
        TicketEvent::on(&ticket, EventType::TicketUpdated, "test", Utc::now())
    }

    #[test]
    fn a_waiting_ticket_asks_for_its_team() {
        let e = event(|_| {});
        assert_eq!(of_event(&e), [Reaction::Dispatch("support".into())]);
    }

    #[test]
    fn an_agent_who_lets_go_frees_room_in_their_teams() {
        let mut e = event(|t| {
            t.status = Status::Resolved;
            t.assignee = Some("ann".into());
        });
        e.event_type = EventType::TicketResolved;
        e.changes = vec![FieldChange {
            field: "status".into(),
            before: "IN_PROGRESS".into(),
            after: "RESOLVED".into(),
        }];
        assert_eq!(
            of_event(&e),
            [Reaction::DispatchTeamsOf("ann".into()), Reaction::Retrain]
        );
        let held = event(|t| {
            t.status = Status::InProgress;
            t.assignee = Some("ann".into());
        });
        assert!(
            of_event(&held).is_empty(),
            "an agent still at work frees nothing"
        );
    }

    #[test]
    fn an_agent_online_asks_for_each_of_their_teams() {
        let change = |availability: &str| ConfigChange {
            id: 1,
            resource: "agent".into(),
            key: "ann".into(),
            action: ChangeAction::Updated,
            actor: "test".into(),
            peer: None,
            occurred_at: Utc::now(),
            before: None,
            after: Some(serde_json::json!({
                "availability": availability, "teams": ["desk", "vip"]
            })),
        };
        assert_eq!(
            of_change(&change("ONLINE")),
            [
                Reaction::Dispatch("desk".into()),
                Reaction::Dispatch("vip".into())
            ]
        );
        assert!(of_change(&change("AWAY")).is_empty());
    }

    #[test]
    fn a_team_with_new_members_asks_for_its_queue() {
        let change = |before: &[&str], after: &[&str]| ConfigChange {
            id: 1,
            resource: "team".into(),
            key: "desk".into(),
            action: ChangeAction::Updated,
            actor: "test".into(),
            peer: None,
            occurred_at: Utc::now(),
            before: Some(serde_json::json!({"id": "desk", "members": before})),
            after: Some(serde_json::json!({"id": "desk", "members": after})),
        };
        assert_eq!(
            of_change(&change(&["ann"], &["ann", "bob"])),
            [Reaction::Dispatch("desk".into())]
        );
        assert!(
            of_change(&change(&["ann", "bob"], &["ann"])).is_empty(),
            "someone leaving frees nothing"
        );
    }
}
