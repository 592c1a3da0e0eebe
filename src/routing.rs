//! The router: decides where each new ticket goes (rules, the stored classifier, the
//! history behind its priority), assigns team queues the moment capacity frees, and
//! retrains the classifier on a schedule. The decisions are the domain's; this module
//! gathers what they need from the store and runs them at the right moments.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::domain::assignment::Strategy;
use crate::domain::classifier::{MIN_EXAMPLES, RoutingModel};
use crate::domain::clock::Clock;
use crate::domain::event::TicketEvent;
use crate::domain::routing::{self, Decision, History, Intake, Route, Settings};
use crate::domain::rules::Rule;
use crate::domain::staff::{Agent, OPEN};
use crate::domain::ticket::{NewTicket, Status};
use crate::error::{Error, Result};
use crate::store::{Store, StoredModel};

/// How the router is set up.
#[derive(Debug, Clone)]
pub struct RouterOptions {
    pub settings: Settings,
    pub impact_window: Duration,
    pub repeat_window: Duration,
    /// Zero: no scheduled retraining.
    pub retrain_interval: Duration,
    pub dispatch_interval: Duration,
}

/// Who would get a ticket now, for ExplainRoute.
#[derive(Debug, Clone)]
pub struct WouldPick {
    pub strategy: Strategy,
    pub agent: Option<String>,
    pub reason: String,
}

pub struct Router {
    store: Store,
    clock: Arc<dyn Clock>,
    options: RouterOptions,
    /// What routing reads, reloaded when the routing version moves.
    snapshot: Mutex<Option<Arc<Snapshot>>>,
    /// Per team: coalesces dispatch requests, so a burst of them costs one pass or two.
    queues: std::sync::Mutex<HashMap<String, Arc<TeamQueue>>>,
}

/// Rules, teams and the model as of one routing version.
struct Snapshot {
    version: i64,
    rules: Vec<Rule>,
    teams: Vec<String>,
    model: Option<Arc<StoredModel>>,
}

#[derive(Default)]
struct TeamQueue {
    /// Dispatches asked for so far.
    requested: AtomicU64,
    /// Held while a pass runs; holds the number of requests the last pass served, and what
    /// it assigned.
    served: Mutex<(u64, Arc<Vec<TicketEvent>>)>,
}

impl Router {
    pub fn new(store: Store, clock: Arc<dyn Clock>, options: RouterOptions) -> Arc<Router> {
        Arc::new(Router {
            store,
            clock,
            options,
            snapshot: Mutex::new(None),
            queues: Default::default(),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.options.settings
    }

    /// Where a new ticket would go now, with every reason. Reads only.
    pub async fn decide(&self, new: &NewTicket) -> Result<Decision> {
        let now = self.clock.now();
        let snapshot = self.snapshot().await?;
        let customer = &new.customer;
        let intake = &Intake {
            kind: new.kind,
            channel: new.channel,
            product: &new.product,
            tier: customer.tier,
            tags: &new.tags,
            title: &new.title,
            description: &new.description,
            category: new.category.as_deref(),
            priority: new.priority,
        };
        let model = snapshot.model.as_ref().map(|m| &m.model);
        let settings = &self.options.settings;
        let (category, predictions) = routing::categorize(intake, model, settings);
        let history = History {
            similar_reports: self
                .store
                .similar_reports(
                    intake.product,
                    category.as_deref(),
                    customer,
                    now - self.options.impact_window,
                )
                .await?,
            repeat_of: self
                .store
                .earlier_ticket(
                    customer,
                    intake.product,
                    category.as_deref(),
                    now - self.options.repeat_window,
                )
                .await?,
        };
        Ok(routing::decide(
            intake,
            category,
            predictions,
            &history,
            &snapshot.rules,
            model,
            &snapshot.teams,
            settings,
        ))
    }

    /// Who would get a ticket routed by `route` now, or why it would wait. Reads only.
    pub async fn would_pick(&self, new: &NewTicket, route: &Route) -> Result<WouldPick> {
        let wanted = routing::wanted_skills(
            &new.product,
            route.category.as_deref(),
            &routing::text_of(&new.title, &new.description),
        );
        let (strategy, pick) = self
            .store
            .preview_pick(&route.team, route.priority, route.strategy, &wanted)
            .await?;
        Ok(match pick {
            Ok(pick) => WouldPick {
                strategy,
                agent: Some(pick.agent),
                reason: pick.reason,
            },
            Err(why) => WouldPick {
                strategy,
                agent: None,
                reason: why,
            },
        })
    }

    /// What routing reads, from the cache while the routing version stands (one query),
    /// reloaded when a rule, the set of teams or the model changed on any instance.
    async fn snapshot(&self) -> Result<Arc<Snapshot>> {
        let version = self.store.routing_version().await?;
        let mut cached = self.snapshot.lock().await;
        if let Some(snapshot) = cached.as_ref()
            && snapshot.version == version
        {
            return Ok(snapshot.clone());
        }
        let fresh = Arc::new(Snapshot {
            version,
            rules: self.store.list_rules().await?,
            teams: self.store.team_ids().await?,
            model: self.store.latest_model().await?.map(Arc::new),
        });
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    /// The model in use, for GetClassifier.
    pub async fn current_model(&self) -> Result<Option<Arc<StoredModel>>> {
        Ok(self.snapshot().await?.model.clone())
    }

    /// Trains on the resolved history and stores the model.
    pub async fn retrain(&self, actor: &str) -> Result<Arc<StoredModel>> {
        let examples = self
            .store
            .training_examples(&self.options.settings.triage_team)
            .await?;
        if examples.len() < MIN_EXAMPLES {
            return Err(Error::FailedPrecondition {
                subject: "classifier".into(),
                description: format!(
                    "only {} resolved tickets carry a category or a team; at least \
                     {MIN_EXAMPLES} are needed to learn from",
                    examples.len()
                ),
            });
        }
        let count = examples.len();
        let training = tokio::task::spawn_blocking(move || RoutingModel::train(&examples))
            .await
            .map_err(|e| Error::Internal(format!("training failed: {e}")))?;
        let mut stored = StoredModel {
            version: 0,
            trained_at: self.clock.now(),
            trained_by: actor.to_owned(),
            examples: count as i32,
            category_accuracy: training.category_accuracy,
            team_accuracy: training.team_accuracy,
            model: training.model,
        };
        stored.version = self.store.save_model(&stored).await?;
        tracing::info!(
            version = stored.version,
            examples = count,
            category_accuracy = stored.category_accuracy,
            team_accuracy = stored.team_accuracy,
            "classifier retrained"
        );
        Ok(Arc::new(stored))
    }

    /// Assigns `team`'s waiting tickets to members with room. Requests that arrive while a
    /// pass runs share the next pass. Returns what the latest pass assigned: a hint for the
    /// caller, since other passes (the sweep, other instances) assign too.
    pub async fn dispatch(&self, team: &str) -> Result<Arc<Vec<TicketEvent>>> {
        let queue = self
            .queues
            .lock()
            .expect("queue map lock")
            .entry(team.to_owned())
            .or_default()
            .clone();
        let mine = queue.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut served = queue.served.lock().await;
        if served.0 >= mine {
            return Ok(served.1.clone());
        }
        let upto = queue.requested.load(Ordering::SeqCst);
        let events = Arc::new(self.store.dispatch(team, self.now()).await?);
        *served = (upto, events.clone());
        Ok(events)
    }

    /// Dispatches each team in turn; a failure is logged and the others still run.
    pub async fn dispatch_all<'a>(&self, teams: impl IntoIterator<Item = &'a String>) {
        for team in teams {
            if let Err(error) = self.dispatch(team).await {
                tracing::warn!(%team, %error, "dispatch failed; the next pass retries");
            }
        }
    }

    /// What a committed change means for the queues: an agent who let go of an open ticket
    /// has room in each of their teams, and a ticket put back in a queue waits for one.
    pub async fn after_change(&self, event: &TicketEvent) {
        let mut teams = Vec::new();
        if let Some(agent) = released_agent(event)
            && let Ok(agent) = self.store.get_agent(&agent).await
        {
            teams.extend(agent.teams);
        }
        let t = &event.ticket;
        if let (Some(team), None) = (&t.team, &t.assignee)
            && crate::domain::staff::QUEUED.contains(&t.status)
            && !teams.contains(team)
        {
            teams.push(team.clone());
        }
        self.dispatch_all(&teams).await;
    }

    /// After an agent changed: their teams may have work for them now.
    pub async fn after_agent_change(&self, agent: &Agent) {
        self.dispatch_all(&agent.teams).await;
    }

    /// Background work until `stop`: a dispatch pass over every queue now and then (a safety
    /// net behind the immediate dispatches), and retraining when the model is older than the
    /// retrain interval.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut dispatch = tokio::time::interval(self.options.dispatch_interval);
        let retrain_every = self.options.retrain_interval;
        let mut retrain = tokio::time::interval(if retrain_every.is_zero() {
            Duration::from_secs(3600)
        } else {
            retrain_every.min(Duration::from_secs(3600))
        });
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                // Every team, not only those with a queue: finding those would read the
                // queues, while a team with nobody free costs one small read.
                _ = dispatch.tick() => match self.store.team_ids().await {
                    Ok(teams) => self.dispatch_all(&teams).await,
                    Err(error) => tracing::warn!(%error, "cannot read the queues"),
                },
                _ = retrain.tick(), if !retrain_every.is_zero() => {
                    if let Err(error) = self.retrain_if_due(retrain_every).await {
                        tracing::info!(%error, "scheduled retraining skipped");
                    }
                }
            }
        }
    }

    async fn retrain_if_due(&self, every: Duration) -> Result<()> {
        let due = match self.current_model().await? {
            Some(model) => {
                self.now() - model.trained_at
                    >= chrono::Duration::from_std(every).unwrap_or(chrono::Duration::MAX)
            }
            None => true,
        };
        if due {
            self.retrain("schedule").await?;
        }
        Ok(())
    }

    fn now(&self) -> DateTime<Utc> {
        use chrono::SubsecRound;
        self.clock.now().trunc_subsecs(6)
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
