//! The use cases: one function per thing a caller (or the clock) can make happen. Each opens
//! the write, loads what it needs through the store, asks the domain for every decision, and
//! commits; what follows a commit is declared once, in [`reactions`].
//!
//! | area | module |
//! |---|---|
//! | intake, the lifecycle verbs, comments, reads | [`tickets`], [`intake`] |
//! | where a ticket goes: decide, explain, the classifier | [`routing`] |
//! | teams, agents, their queues | [`staff`], [`dispatch`] |
//! | routing rules | [`rules`] |
//! | SLA policies, calendars, the scheduler's pass | [`sla`] |
//! | survey templates, invitations, answers, the scheduler's pass | [`surveys`] |
//! | API keys, who a credential is, the audit | [`access`] |
//! | create / update / delete of any configuration resource | [`admin`] |
//! | what a committed change sets in motion | [`reactions`] |

pub mod abuse;
pub mod access;
pub mod admin;
pub mod attachments;
pub mod dispatch;
pub mod improvements;
pub mod insights;
pub mod intake;
pub mod links;
pub mod reactions;
pub mod replies;
pub mod report;
pub mod rollups;
pub mod routing;
pub mod rules;
pub mod sla;
pub mod staff;
pub mod surveys;
pub mod tasks;
pub mod tickets;
pub mod top_issues;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::domain::clock::Clock;
use crate::domain::event::TicketEvent;
use crate::domain::language::Language;
use crate::domain::notification::Notifier;
use crate::domain::survey::{InvitePolicy, ReopenTo};
use crate::error::Result;
use crate::events::EventHub;
use crate::metrics::Metrics;
use crate::store::{Store, Write};

/// How the service behaves; from the command line (see `config.rs`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The zone of the date in ticket numbers.
    pub zone: Tz,
    /// What customers are written to in when neither they nor their ticket's text say.
    pub language: Language,
    pub routing: crate::domain::routing::Settings,
    /// How far back other customers' reports count as impact.
    pub impact_window: chrono::Duration,
    /// How far back a customer's earlier ticket makes a repeat.
    pub repeat_window: chrono::Duration,
    /// When intake holds a ticket as a suspected malicious complaint, and how long a
    /// confirmed sender is restricted.
    pub abuse: crate::domain::abuse::Policy,
    /// Retrain the classifier when its model is older than this; zero: never by itself.
    pub retrain_interval: chrono::Duration,
    /// How often every queue is swept, behind the dispatches that reactions make.
    pub dispatch_interval: Duration,
    pub survey: SurveySettings,
    /// How often the SLA scheduler runs.
    pub sla_interval: Duration,
    /// The share of a clock's budget at which it is at risk.
    pub sla_at_risk: f64,
    /// Working time a team has to accept a task that names none.
    pub task_accept_within: chrono::Duration,
    /// How the notifications a change calls for are written.
    pub notifier: Notifier,
    /// How webhook deliveries are retried.
    pub webhooks: webhooks::Settings,
    /// What may be attached to tickets.
    pub attachments: crate::domain::attachment::Policy,
    /// Where attachments' bytes are kept: this directory, else the database.
    pub attachment_dir: Option<std::path::PathBuf>,
    /// The most tickets whose facts one insights read sums (two dimensions, top issues).
    pub insights_max_tickets: u64,
}

/// How surveys behave.
#[derive(Debug, Clone)]
pub struct SurveySettings {
    pub policy: InvitePolicy,
    /// A rating at or below this reopens the ticket.
    pub low_score: i32,
    pub reopen_to: ReopenTo,
    /// How often the survey scheduler runs.
    pub interval: Duration,
}

/// The service's use cases, over one store and one clock.
pub struct App {
    store: Store,
    clock: Arc<dyn Clock>,
    settings: Settings,
    routing: routing::Cache,
    queues: dispatch::Queues,
    intake: intake::Intake,
    reacted: reactions::Settled,
    rolled: rollups::Rolled,
    improvement_rates: insights::Rates,
    /// Reads that sum tickets one by one, at most [`insights::FACT_READS`] at once.
    fact_reads: tokio::sync::Semaphore,
    webhooks: webhooks::Outbound,
    keys: access::Keys,
    metrics: Arc<Metrics>,
}

impl App {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        settings: Settings,
        metrics: Arc<Metrics>,
    ) -> Arc<App> {
        Arc::new(App {
            intake: intake::Intake::start(
                store.clone(),
                settings.sla_at_risk,
                settings.notifier.clone(),
                metrics.clone(),
            ),
            store,
            clock,
            settings,
            routing: Default::default(),
            queues: Default::default(),
            reacted: Default::default(),
            rolled: Default::default(),
            improvement_rates: Default::default(),
            fact_reads: tokio::sync::Semaphore::new(insights::FACT_READS),
            webhooks: Default::default(),
            keys: Default::default(),
            metrics,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Appends the events of one change, and the notifications they call for (see
    /// [`record_events`]); returns the cursors of `events`.
    pub(crate) async fn record_events(
        &self,
        write: &Write,
        events: &[TicketEvent],
    ) -> Result<Vec<i64>> {
        record_events(
            &self.store,
            write,
            &self.settings.notifier,
            events,
            Vec::new(),
        )
        .await
    }

    /// The current time to microseconds, the precision both databases keep, so that what a
    /// call returns is exactly what a later read finds.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(6)
    }

    /// What a fresh database needs before the first call: the triage team, the default survey
    /// template, the default calendar and SLA policies. Another instance may install them at
    /// the same time; what is there already stays as it is.
    pub async fn install_defaults(&self) -> Result<()> {
        self.install_triage_team().await?;
        self.install_default_template().await?;
        self.install_sla_defaults().await
    }

    /// Runs what goes on in the background until `stop`: the reactions to every committed
    /// change, the periodic passes (queues, surveys, SLA clocks), and webhook deliveries by
    /// `sender`. Each task ends after `stop`, once the work in hand is done: await them
    /// before closing the database.
    pub fn run(
        self: &Arc<Self>,
        hub: Arc<EventHub>,
        sender: Arc<dyn webhooks::Sender>,
        stop: CancellationToken,
    ) -> Vec<JoinHandle<()>> {
        self.reacted.expect_reactor();
        let rollups = tokio::spawn(self.clone().roll_up(hub.clone(), stop.clone()));
        let reactions = tokio::spawn(reactions::Reactor::new(self.clone(), hub).run(stop.clone()));
        let app = self.clone();
        // The queues are served by the reactions, which pick up at start whatever the last run
        // left; the sweep is the safety net behind them, first after one interval. The clocks
        // and the surveys come due by time alone: their passes start at once.
        let sweep = self.settings.dispatch_interval;
        let metrics = self.metrics.clone();
        let dispatch = tokio::spawn(every(
            sweep,
            sweep,
            stop.clone(),
            "dispatch",
            metrics,
            move || {
                let app = app.clone();
                async move { app.sweep_queues().await }
            },
        ));
        let app = self.clone();
        let surveys = tokio::spawn(every(
            self.settings.survey.interval,
            Duration::ZERO,
            stop.clone(),
            "survey",
            self.metrics.clone(),
            move || {
                let app = app.clone();
                async move { app.survey_pass().await }
            },
        ));
        let app = self.clone();
        let sla = tokio::spawn(every(
            self.settings.sla_interval,
            Duration::ZERO,
            stop.clone(),
            "sla",
            self.metrics.clone(),
            move || {
                let app = app.clone();
                async move { app.sla_pass().await.map(|_| ()) }
            },
        ));
        let mut tasks = vec![reactions, rollups, dispatch, surveys, sla];
        tasks.extend(self.deliver(sender, stop));
        tasks
    }
}

/// Runs `pass` every `interval`, the first after `first`, until `stop`; a failed pass is
/// logged and the next one retries. A pass that overruns delays the next instead of bunching
/// them up; how late each starts is its lag in the metrics.
async fn every<F, Fut>(
    interval: Duration,
    first: Duration,
    stop: CancellationToken,
    what: &'static str,
    metrics: Arc<Metrics>,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let interval = interval.max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + first, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            due = ticks.tick() => {
                let started = tokio::time::Instant::now();
                let result = pass().instrument(tracing::info_span!("pass", pass = what)).await;
                if let Err(error) = &result {
                    tracing::warn!(%error, "{what} pass failed; the next one retries");
                }
                metrics.pass(what, started.elapsed(), started.duration_since(due), result.is_err());
            }
        }
    }
}

/// Appends the events of one change to the log, in the change's transaction, followed by
/// the notifications they call for and `notifications` besides; returns the cursors of
/// `events`, in order.
async fn record_events(
    store: &Store,
    write: &Write,
    notifier: &Notifier,
    events: &[TicketEvent],
    notifications: Vec<TicketEvent>,
) -> Result<Vec<i64>> {
    let mut all = Vec::with_capacity(events.len() * 2);
    all.extend_from_slice(events);
    all.extend(notifications);
    all.extend(notifier.for_events(events));
    let mut cursors = store.append_events(write, all).await?;
    cursors.truncate(events.len());
    Ok(cursors)
}

/// 24 bytes from the operating system's random source, URL-safe: 192 bits nobody can guess
/// (survey tokens, webhook secrets).
fn random_token() -> Result<String> {
    use base64::Engine;
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| {
        crate::error::Error::Unavailable(format!("no random numbers from the system: {e}"))
    })?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// A create at start that another instance may have done first: already there is fine.
fn created_or_there<T>(created: Result<T>) -> Result<()> {
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.is_already_exists() => Ok(()),
        Err(e) => Err(e),
    }
}
