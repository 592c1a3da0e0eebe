//! The survey loop around the store: a customer's response and what follows it (the router
//! serves a reopened ticket's queue), and the scheduler that sends surveys coming due and
//! expires unanswered ones on every instance.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use tokio_util::sync::CancellationToken;

use crate::domain::clock::Clock;
use crate::domain::survey::{InvitePolicy, Survey, verdict};
use crate::error::Result;
use crate::routing::Router;
use crate::store::{ReopenTo, Response, Store};

/// Surveys handled per scheduler statement: a pass repeats until fewer come due.
const BATCH: u64 = 200;

/// How surveys behave; from the `--survey-*` flags.
#[derive(Debug, Clone)]
pub struct SurveySettings {
    pub policy: InvitePolicy,
    /// A rating at or below this reopens the ticket.
    pub low_score: i32,
    pub reopen_to: ReopenTo,
    /// Where a reopened ticket goes when the team that resolved it no longer exists.
    pub fallback_team: String,
    /// How often the scheduler runs.
    pub interval: Duration,
}

pub struct Surveys {
    store: Store,
    router: Arc<Router>,
    clock: Arc<dyn Clock>,
    settings: SurveySettings,
}

impl Surveys {
    pub fn new(
        store: Store,
        router: Arc<Router>,
        clock: Arc<dyn Clock>,
        settings: SurveySettings,
    ) -> Arc<Surveys> {
        Arc::new(Surveys {
            store,
            router,
            clock,
            settings,
        })
    }

    pub fn settings(&self) -> &SurveySettings {
        &self.settings
    }

    /// Records a checked response to `survey` and routes a ticket it reopened.
    pub async fn answer(
        &self,
        survey: &Survey,
        answers: std::collections::BTreeMap<String, crate::domain::survey::Answer>,
    ) -> Result<Survey> {
        let scored = crate::domain::survey::scores(&survey.questions, &answers);
        let response = Response {
            verdict: verdict(&scored, self.settings.low_score),
            answers,
        };
        let (answered, events) = self
            .store
            .answer_survey(
                survey,
                response,
                self.settings.reopen_to,
                &self.settings.fallback_team,
                self.now(),
            )
            .await?;
        if let Some(last) = events.last() {
            self.router.after_change(last).await;
        }
        Ok(answered)
    }

    /// One scheduler pass: sends what came due, then expires what ran out.
    pub async fn sweep(&self) -> Result<()> {
        let now = self.now();
        while self.store.send_due_surveys(now, BATCH).await? == BATCH as usize {}
        while self.store.expire_due_surveys(now, BATCH).await? == BATCH as usize {}
        Ok(())
    }

    /// Runs the scheduler every interval until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        crate::schedule::every(self.settings.interval, stop, "survey", || self.sweep()).await
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(6)
    }
}
