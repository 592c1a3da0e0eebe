//! Where a new ticket goes: the domain decides from the rules, the stored classifier and the
//! customer's history, which this module gathers; ExplainRoute shows the decision with who
//! would get the ticket now; the classifier is trained on the resolved tickets.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use super::App;
use crate::domain::access::Principal;
use crate::domain::assignment::{Pool, Strategy};
use crate::domain::classifier::{MIN_EXAMPLES, RoutingModel};
use crate::domain::priority::REPORTS_COUNTED;
use crate::domain::routing::{self, Decision, History, Intake, Route};
use crate::domain::rules::Rule;
use crate::domain::ticket::NewTicket;
use crate::error::{Error, Found, Result};
use crate::store::StoredModel;

/// How long a claim to train the classifier holds: a training that died with its instance
/// gives way after this.
const TRAINING_CLAIM: chrono::Duration = chrono::Duration::hours(1);

/// What routing reads, kept while the routing version stands.
#[derive(Default)]
pub struct Cache(Mutex<Option<Arc<Snapshot>>>);

/// Rules, teams and the model as of one routing version.
struct Snapshot {
    version: i64,
    rules: Vec<Rule>,
    teams: Vec<String>,
    model: Option<Arc<StoredModel>>,
}

/// Where a draft would go now, and who would get it.
#[derive(Debug, Clone)]
pub struct Explained {
    pub decision: Decision,
    pub strategy: Strategy,
    /// The agent who would get it now; `None`: it would wait, for `reason`.
    pub agent: Option<String>,
    pub reason: String,
}

impl App {
    /// Where a new ticket would go at `now`, with every reason. Reads only.
    pub(crate) async fn decide(&self, new: &NewTicket, now: DateTime<Utc>) -> Result<Decision> {
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
        let settings = &self.settings.routing;
        let (category, predictions) = routing::categorize(intake, model, settings);
        let history = History {
            similar_reports: self
                .store
                .similar_reports(
                    intake.product,
                    category.as_deref(),
                    customer,
                    now - self.settings.impact_window,
                    REPORTS_COUNTED,
                )
                .await?,
            repeat_of: self
                .store
                .earlier_ticket(
                    customer,
                    intake.product,
                    category.as_deref(),
                    now - self.settings.repeat_window,
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

    /// Where `draft` would go now and who would get it, or why it would wait. Nothing is
    /// written.
    pub async fn explain_route(&self, draft: &NewTicket, by: &Principal) -> Result<Explained> {
        // Whether a customer complained before is theirs to know who see the customer: to the
        // others, the draft is of a customer not met yet.
        let mut draft = draft.clone();
        if by.masks_contacts() {
            let customer = &mut draft.customer;
            (customer.external_id, customer.phone, customer.email) = Default::default();
        }
        let decision = self.decide(&draft, self.now()).await?;
        let (strategy, pick) = self.would_pick(&draft, &decision.route).await?;
        let (agent, reason) = match pick {
            Ok(pick) => (Some(pick.agent), pick.reason),
            Err(why) => (None, why),
        };
        Ok(Explained {
            decision,
            strategy,
            agent,
            reason,
        })
    }

    /// Who would get a ticket routed by `route` now, after the waiting tickets served before
    /// it; or why it would wait.
    async fn would_pick(
        &self,
        draft: &NewTicket,
        route: &Route,
    ) -> Result<(
        Strategy,
        std::result::Result<crate::domain::assignment::Pick, String>,
    )> {
        let team_id = &route.team;
        let team = self.store.team(team_id).await?.found("team", team_id)?;
        let strategy = route.strategy.unwrap_or(team.strategy);
        let last = self.store.last_assignee(None, team_id).await?;
        let mut pool = Pool::of(self.store.team_members(team_id).await?, last);
        let room = pool.room();
        let ahead = self
            .store
            .queue_ahead_of(team_id, route.priority, u64::from(room) + 1)
            .await?;
        for ticket in &ahead {
            pool.take(
                ticket.assignment_strategy.unwrap_or(team.strategy),
                &ticket.wanted_skills(),
            );
        }
        let wanted = routing::wanted_skills(
            &draft.product,
            route.category.as_deref(),
            self.language_of(&draft.customer, &draft.title, &draft.description),
        );
        let pick = pool.take(strategy, &wanted).ok_or_else(|| {
            if room == 0 {
                format!("nobody in {team_id} is online with room: it would wait in the queue")
            } else {
                format!(
                    "{} waiting tickets come first and fill the room left: it would wait in \
                     the queue",
                    ahead.len()
                )
            }
        });
        Ok((strategy, pick))
    }

    /// What routing reads, from the cache while the routing version stands (one query),
    /// reloaded when a rule, the set of teams or the model changed on any instance.
    async fn snapshot(&self) -> Result<Arc<Snapshot>> {
        let version = self.store.routing_version().await?;
        let mut cached = self.routing.0.lock().await;
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

    /// Trains on the resolved history and stores the model; every instance routes with it
    /// from its next ticket on.
    pub async fn retrain(&self, actor: &str) -> Result<Arc<StoredModel>> {
        let examples = self
            .store
            .training_examples(&self.settings.routing.triage_team)
            .await?;
        if examples.len() < MIN_EXAMPLES {
            return Err(Error::precondition(
                "classifier",
                format!(
                    "only {} resolved tickets carry a category or a team; at least \
                     {MIN_EXAMPLES} are needed to learn from",
                    examples.len()
                ),
            ));
        }
        let count = examples.len();
        let training = tokio::task::spawn_blocking(move || RoutingModel::train(&examples))
            .await
            .map_err(|e| Error::Internal(format!("training failed: {e}")))?;
        let mut stored = StoredModel {
            version: 0,
            trained_at: self.now(),
            trained_by: actor.to_owned(),
            examples: count as i32,
            category_accuracy: training.category_accuracy,
            team_accuracy: training.team_accuracy,
            model: training.model,
        };
        let write = self.store.begin().await?;
        stored.version = self.store.insert_model(&write, &stored).await?;
        self.store.routing_changed(&write).await?;
        self.store.commit(write).await?;
        tracing::info!(
            version = stored.version,
            examples = count,
            category_accuracy = stored.category_accuracy,
            team_accuracy = stored.team_accuracy,
            "classifier retrained"
        );
        Ok(Arc::new(stored))
    }

    /// Retrains when the model is older than the retrain interval, or there is none yet; one
    /// instance at a time, whichever claims the training first.
    pub(crate) async fn retrain_if_due(&self) -> Result<()> {
        let every = self.settings.retrain_interval;
        let now = self.now();
        let due = |model: Option<&StoredModel>| {
            !every.is_zero() && model.is_none_or(|m| now - m.trained_at >= every)
        };
        if !due(self.current_model().await?.as_deref()) {
            return Ok(());
        }
        if !self
            .store
            .claim_retraining(now, now - TRAINING_CLAIM)
            .await?
        {
            return Ok(()); // another instance is at it
        }
        // Another instance may have finished a training since the cached model was read.
        let trained = match self.store.latest_model().await {
            Ok(model) if due(model.as_ref()) => self.retrain("schedule").await.map(|_| ()),
            Ok(_) => Ok(()),
            Err(error) => Err(error),
        };
        self.store.end_retraining().await?;
        trained
    }
}
