//! Webhooks: their configuration, the outbox that fills their queues from the committed
//! event log, and the deliverer that works the queues.
//!
//! The outbox keeps its position in the log in the database and moves it in the transaction
//! that queues the deliveries, so an event is queued exactly once, after it committed, and a
//! crash loses nothing. Each webhook's queue goes in order, one delivery at a time, by one
//! instance at a time (a lease on the webhook's row, renewed while it works); a delivery stays
//! PENDING until the receiver accepts it, so a process killed mid-attempt sends it again
//! after the restart, with the same event id.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::App;
use super::admin::{Change, Resource};
use super::staff::check_teams;
use crate::domain::access::Caller;
use crate::domain::error::Refusal;
use crate::domain::event::TicketEvent;
use crate::domain::idempotency::Requested;
use crate::domain::patch::Patch;
use crate::domain::webhook::{
    AfterFailure, Attempt, Circuit, Delivery, DeliveryState, RetryPolicy, Webhook, WebhookStatus,
};
use crate::error::{Error, Found, Result};
use crate::store::{Inserted, Queued, Store, Write};

/// How deliveries behave; from the command line.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub retry: RetryPolicy,
    /// How long a receiver has to answer.
    pub timeout: StdDuration,
    /// How long accepted deliveries stay listed.
    pub history: Duration,
}

/// What one attempt is: an event of the log, or the ping of TestWebhook.
pub enum Outgoing<'a> {
    Event {
        event: &'a TicketEvent,
        delivery: i64,
        attempt: u32,
    },
    Ping,
}

/// How a receiver answered one POST.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// `None`: no answer (refused, timed out, not HTTP).
    pub http_status: Option<u16>,
    /// `None`: accepted (2xx).
    pub error: Option<String>,
}

/// What POSTs to receivers: the HTTP client, outside the use cases.
pub trait Sender: Send + Sync + 'static {
    fn send<'a>(
        &'a self,
        to: &'a Webhook,
        what: Outgoing<'a>,
    ) -> Pin<Box<dyn Future<Output = Answer> + Send + 'a>>;
}

/// Events read from the log at a time.
const OUTBOX_PAGE: u64 = 500;
/// Deliveries of one queue read at a time.
const QUEUE_PAGE: u64 = 64;
/// How often queues are looked at when nothing announced work (another instance's events,
/// a retry coming due, a lease that lapsed).
const POLL: StdDuration = StdDuration::from_secs(1);
/// How often accepted deliveries past their history are forgotten.
const PRUNE_EVERY: StdDuration = StdDuration::from_secs(600);
/// Most events a range redelivery reads.
pub const MAX_REDELIVER: i64 = 1_000;

/// What RedeliverEvents queues again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeliver {
    DeadLetters,
    /// Cursors, both included.
    Range(i64, i64),
}

impl Resource for Webhook {
    const KIND: &'static str = "webhook";
    type Key = str;

    fn key(&self) -> String {
        self.id.clone()
    }

    async fn lock(store: &Store, write: &Write, key: &str) -> Result<Option<Webhook>> {
        store.lock_webhook(write, key).await
    }

    /// While there are no webhooks the outbox stands still (nothing wants anything): the
    /// first one starts it at the newest committed event, so it wants what comes after.
    async fn insert(
        &mut self,
        store: &Store,
        write: &Write,
        _: Option<&Requested>,
    ) -> Result<Inserted> {
        if store.all_webhooks(write).await?.is_empty() {
            let newest = store.last_cursor().await?;
            if store.lock_outbox(write).await? < newest {
                store.advance_outbox(write, newest).await?;
            }
        }
        store.insert_webhook(write, self).await
    }

    async fn update(store: &Store, write: &Write, _: &Self, after: &Self) -> Result<()> {
        store.update_webhook(write, after).await
    }

    async fn delete(&self, store: &Store, write: &Write) -> Result<()> {
        store.delete_webhook(write, &self.id).await
    }

    async fn guard(app: &App, write: &Write, change: Change<'_, Webhook>) -> Result<()> {
        match change {
            Change::Create(w) => check_teams(app, write, &w.teams).await,
            Change::Update { before, after } if after.teams != before.teams => {
                check_teams(app, write, &after.teams).await
            }
            Change::Update { .. } | Change::Delete(_) => Ok(()),
        }
    }
}

impl App {
    /// Subscribes a webhook; generates its secret when it has none. The reply is the only
    /// place the secret is shown.
    pub async fn create_webhook(&self, by: &Caller, mut webhook: Webhook) -> Result<WebhookStatus> {
        if webhook.secret.is_empty() {
            webhook.secret = format!("whsec_{}", super::random_token()?);
        }
        let created = self.create(webhook, None, by).await?;
        let mut status = self.webhook(&created.id).await?;
        status.webhook.secret = created.secret;
        Ok(status)
    }

    /// A webhook with how its deliveries stand; its secret is not read out.
    pub async fn webhook(&self, id: &str) -> Result<WebhookStatus> {
        let mut status = self.store.webhook(id).await?.found(Webhook::KIND, id)?;
        status.webhook.secret.clear();
        Ok(status)
    }

    pub async fn list_webhooks(
        &self,
        after: Option<String>,
        limit: u64,
    ) -> Result<Vec<WebhookStatus>> {
        let mut webhooks = self.store.list_webhooks(after.as_deref(), limit).await?;
        for status in &mut webhooks {
            status.webhook.secret.clear();
        }
        Ok(webhooks)
    }

    pub async fn update_webhook(
        &self,
        by: &Caller,
        id: &str,
        etag: Option<&str>,
        patch: &Patch<Webhook>,
    ) -> Result<WebhookStatus> {
        self.update(id, etag, patch, by).await?;
        self.webhooks.announce();
        self.webhook(id).await
    }

    pub async fn delete_webhook(&self, by: &Caller, id: &str, etag: Option<&str>) -> Result<()> {
        self.delete::<Webhook>(id, etag, by).await
    }

    /// Sends a signed PING to the webhook now; nothing is queued or retried.
    pub async fn test_webhook(&self, id: &str) -> Result<Attempt> {
        let (webhook, _, _) = self
            .store
            .webhook_circuit(id)
            .await?
            .found(Webhook::KIND, id)?;
        let sender = self.sender()?;
        let started_at = self.now();
        let clock = std::time::Instant::now();
        let answer = sender.send(&webhook, Outgoing::Ping).await;
        Ok(attempt(1, started_at, clock.elapsed(), answer))
    }

    /// Webhook `id`'s deliveries before `before`, newest first, in `state` if given.
    pub async fn list_deliveries(
        &self,
        id: &str,
        state: Option<DeliveryState>,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<(Delivery, Vec<Attempt>)>> {
        self.store
            .webhook_circuit(id)
            .await?
            .found(Webhook::KIND, id)?;
        self.store.list_deliveries(id, state, before, limit).await
    }

    /// Queues events again for webhook `id`; returns how many deliveries were queued.
    pub async fn redeliver(&self, id: &str, what: Redeliver) -> Result<u64> {
        let now = self.now();
        let write = self.store.begin().await?;
        let webhook = self
            .store
            .lock_webhook(&write, id)
            .await?
            .found(Webhook::KIND, id)?;
        let queued = match what {
            Redeliver::DeadLetters => self.store.requeue_dead(&write, id, now).await?,
            Redeliver::Range(first, last) => {
                // Only what the outbox has queued: a later event is still on its way, and
                // sent ahead of it would come out of order.
                let queued_up_to = self.store.lock_outbox(&write).await?;
                if first > queued_up_to {
                    return Err(Refusal::OutOfRange {
                        field: "range.first",
                        description: format!(
                            "is past the events queued for webhooks so far (up to {queued_up_to})"
                        ),
                    }
                    .into());
                }
                let last = last.min(queued_up_to);
                let events = self
                    .store
                    .events_after_in(&write, first - 1, (last - first + 1) as u64)
                    .await?;
                let again: Vec<Queued> = events
                    .iter()
                    .filter(|e| e.cursor <= last && webhook.wants(e))
                    .map(|e| queued(&webhook, e, true))
                    .collect();
                self.store.enqueue(&write, &again, now).await?;
                again.len() as u64
            }
        };
        self.store.commit(write).await?;
        self.webhooks.announce();
        Ok(queued)
    }

    fn sender(&self) -> Result<Arc<dyn Sender>> {
        self.webhooks
            .sender
            .get()
            .cloned()
            .ok_or_else(|| Error::Unavailable("outbound delivery is not running".into()))
    }

    /// Puts every committed event a webhook wants in its queue, from where the outbox got
    /// to; true if it queued anything.
    async fn fan_out(&self) -> Result<bool> {
        // Most commits find nothing to do (no webhooks, or nothing new): a look without the
        // write lock, which SQLite's intake needs.
        if !self.store.outbox_behind().await? {
            return Ok(false);
        }
        let mut queued_any = false;
        loop {
            let now = self.now();
            let write = self.store.begin().await?;
            let cursor = self.store.lock_outbox(&write).await?;
            let events = self
                .store
                .events_after_in(&write, cursor, OUTBOX_PAGE)
                .await?;
            let Some(last) = events.last().map(|e| e.cursor) else {
                return Ok(queued_any);
            };
            let webhooks = self.store.all_webhooks(&write).await?;
            let deliveries: Vec<Queued> = events
                .iter()
                .flat_map(|e| {
                    webhooks
                        .iter()
                        .filter(|w| w.wants(e))
                        .map(move |w| queued(w, e, false))
                })
                .collect();
            self.store.enqueue(&write, &deliveries, now).await?;
            self.store.advance_outbox(&write, last).await?;
            self.store.commit(write).await?;
            queued_any |= !deliveries.is_empty();
            if (events.len() as u64) < OUTBOX_PAGE {
                return Ok(queued_any);
            }
        }
    }
}

fn queued(webhook: &Webhook, e: &TicketEvent, redelivery: bool) -> Queued {
    Queued {
        webhook_id: webhook.id.clone(),
        redelivery,
        event_cursor: e.cursor,
        event_type: e.event_type,
        ticket_id: e.ticket_id,
        event_at: e.occurred_at,
    }
}

/// An attempt as it went.
fn attempt(number: u32, started_at: DateTime<Utc>, took: StdDuration, answer: Answer) -> Attempt {
    Attempt {
        number,
        started_at,
        duration: Duration::from_std(took).unwrap_or(Duration::MAX),
        http_status: answer.http_status,
        error: answer.error,
    }
}

/// The deliverer's shared state: who delivers, and what says that a queue has new work.
#[derive(Default)]
pub struct Outbound {
    sender: std::sync::OnceLock<Arc<dyn Sender>>,
    /// Moves on whenever deliveries are queued (or a webhook changes) in this process.
    queued: watch::Sender<u64>,
}

impl Outbound {
    /// Tells the deliverer and its workers that a queue may have new work.
    fn announce(&self) {
        self.queued.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl App {
    /// Follows the event log into the webhooks' queues and works the queues, until `stop`.
    pub(super) fn deliver(
        self: &Arc<Self>,
        sender: Arc<dyn Sender>,
        stop: CancellationToken,
    ) -> Vec<JoinHandle<()>> {
        let _ = self.webhooks.sender.set(sender);
        let outbox = tokio::spawn(self.clone().run_outbox(stop.clone()));
        let deliverer = tokio::spawn(self.clone().run_deliverer(stop));
        vec![outbox, deliverer]
    }

    /// Queues what each commit appended, and looks again every [`POLL`] for what other
    /// instances committed; forgets old accepted deliveries now and then.
    async fn run_outbox(self: Arc<Self>, stop: CancellationToken) {
        let mut committed = self.store.signals().events.subscribe();
        let mut pruned: Option<std::time::Instant> = None;
        loop {
            match self.fan_out().await {
                Ok(true) => self.webhooks.announce(),
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "cannot queue webhook deliveries; retrying"),
            }
            if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                let before = self.now() - self.settings.webhooks.history;
                match self.store.prune_deliveries(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        deliveries = n,
                        "forgot webhook deliveries past their history"
                    ),
                    Err(error) => tracing::warn!(%error, "cannot forget old webhook deliveries"),
                }
                pruned = Some(std::time::Instant::now());
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = committed.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Starts a worker for each webhook with work whose lease this instance gets; waits for
    /// the workers at `stop`.
    async fn run_deliverer(self: Arc<Self>, stop: CancellationToken) {
        // Unique across hosts and restarts: a pid alone repeats in every container.
        let holder = match super::random_token() {
            Ok(token) => format!("{}-{token}", std::process::id()),
            Err(error) => {
                tracing::error!(%error, "no webhook deliveries from this instance");
                return;
            }
        };
        let mut workers: HashMap<String, JoinHandle<()>> = HashMap::new();
        let mut queued = self.webhooks.queued.subscribe();
        loop {
            workers.retain(|_, worker| !worker.is_finished());
            match self.store.webhooks_with_work().await {
                Ok(ids) => {
                    for id in ids {
                        if workers.contains_key(&id) {
                            continue;
                        }
                        let app = self.clone();
                        let worker = Worker {
                            webhook: id.clone(),
                            holder: holder.clone(),
                            held_until: None,
                        };
                        workers.insert(id, tokio::spawn(worker.run(app, stop.clone())));
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot look for webhook deliveries"),
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = queued.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
        for (_, worker) in workers {
            let _ = worker.await;
        }
    }
}

/// Works one webhook's queue while this instance holds its lease.
struct Worker {
    webhook: String,
    holder: String,
    /// Until when this instance holds the lease, as far as it knows.
    held_until: Option<DateTime<Utc>>,
}

/// How long a worker with an empty queue waits for more before it lets the webhook go.
const IDLE: StdDuration = StdDuration::from_secs(5);

impl Worker {
    /// How long a lease lasts: renewed once an attempt's time has passed, it always has two
    /// attempts' time left when an attempt starts, so it lapses neither during the attempt
    /// nor while the attempt is recorded.
    fn lease(app: &App) -> Duration {
        Self::attempt_time(app) * 3 + Duration::seconds(1)
    }

    /// The longest an attempt takes.
    fn attempt_time(app: &App) -> Duration {
        Duration::from_std(app.settings.webhooks.timeout).unwrap_or(Duration::MAX)
    }

    async fn run(mut self, app: Arc<App>, stop: CancellationToken) {
        if let Err(error) = self.work(&app, &stop).await {
            tracing::warn!(webhook = %self.webhook, %error, "webhook delivery stopped; retrying");
        }
        if let Err(error) = app.store.release_webhook(&self.webhook, &self.holder).await {
            tracing::debug!(webhook = %self.webhook, %error, "cannot release the webhook's lease");
        }
    }

    /// Takes the lease, or renews it once an attempt's time of it has passed; false when
    /// another instance holds it.
    async fn hold(&mut self, app: &App) -> Result<bool> {
        let now = app.now();
        let lease = Self::lease(app);
        if self
            .held_until
            .is_some_and(|until| until - now > lease - Self::attempt_time(app))
        {
            return Ok(true);
        }
        let held = app
            .store
            .lease_webhook(&self.webhook, &self.holder, now, now + lease)
            .await?;
        self.held_until = held.then_some(now + lease);
        Ok(held)
    }

    /// The webhook as it stands now, while it is this worker's to deliver: not deleted, not
    /// paused, and its lease still ours.
    async fn current(&mut self, app: &App) -> Result<Option<(Webhook, Circuit)>> {
        if !self.hold(app).await? {
            return Ok(None);
        }
        match app.store.webhook_circuit(&self.webhook).await? {
            Some((webhook, circuit, holder))
                if !webhook.paused && holder.as_deref() == Some(self.holder.as_str()) =>
            {
                Ok(Some((webhook, circuit)))
            }
            _ => Ok(None),
        }
    }

    /// Delivers the queue in order until it has been empty for [`IDLE`], or the webhook is
    /// deleted, paused, another instance's, or `stop`.
    async fn work(&mut self, app: &App, stop: &CancellationToken) -> Result<()> {
        let settings = app.settings.webhooks;
        let sender = app.sender()?;
        let mut queued = app.webhooks.queued.subscribe();
        loop {
            if stop.is_cancelled() || self.current(app).await?.is_none() {
                return Ok(());
            }
            queued.mark_unchanged();
            let queue = app.store.next_deliveries(&self.webhook, QUEUE_PAGE).await?;
            if queue.is_empty() {
                // Stays a moment for what comes next, renewing the lease meanwhile.
                let wait = IDLE.min(Self::attempt_time(app).to_std().unwrap_or(IDLE));
                tokio::select! {
                    _ = stop.cancelled() => return Ok(()),
                    changed = queued.changed() => if changed.is_err() { return Ok(()) },
                    _ = tokio::time::sleep(wait) => return Ok(()),
                }
                continue;
            }
            for (mut delivery, event) in queue {
                // Read again before every attempt: a pause, a new URL or secret, a deletion
                // or a lost lease takes effect at once.
                if stop.is_cancelled() {
                    return Ok(());
                }
                let Some((webhook, mut circuit)) = self.current(app).await? else {
                    return Ok(());
                };
                let now = app.now();
                let due = delivery.next_attempt_at.max(circuit.next_allowed(now));
                if due > now {
                    // Waits at most an attempt's time, then renews the lease and reads again.
                    let wait = (due - now).min(Self::attempt_time(app));
                    tokio::select! {
                        _ = stop.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(wait.to_std().unwrap_or_default()) => {}
                    }
                    break;
                }
                let number = delivery.attempts + 1;
                let started_at = app.now();
                let clock = std::time::Instant::now();
                let answer = match &event {
                    Some(event) => {
                        let what = Outgoing::Event {
                            event,
                            delivery: delivery.id,
                            attempt: number,
                        };
                        sender.send(&webhook, what).await
                    }
                    None => Answer {
                        http_status: None,
                        error: Some("the event is no longer in the log".into()),
                    },
                };
                let tried = attempt(number, started_at, clock.elapsed(), answer);
                let finished = app.now();
                delivery.attempts = number;
                if number == 1 && !delivery.redelivery {
                    app.metrics
                        .webhook_latency(&webhook.id, started_at - delivery.event_at);
                }
                if tried.delivered() {
                    delivery.state = DeliveryState::Delivered;
                    delivery.delivered_at = Some(finished);
                    circuit.succeeded(finished);
                } else {
                    let error = tried.error.as_deref().unwrap_or_default();
                    circuit.failed(finished, error, settings.retry.breaker_cooldown);
                    match settings
                        .retry
                        .after_failure(&webhook, number, finished, jitter())
                    {
                        AfterFailure::RetryAt(at) => delivery.next_attempt_at = at,
                        AfterFailure::Dead => {
                            delivery.state = DeliveryState::Dead;
                            tracing::warn!(
                                webhook = %webhook.id,
                                event = delivery.event_cursor,
                                attempts = number,
                                error,
                                "webhook delivery failed for good: a dead letter"
                            );
                        }
                    }
                }
                app.metrics.webhook_attempt(&webhook.id, tried.delivered());
                let write = app.store.begin().await?;
                let recorded = app
                    .store
                    .record_attempt(&write, &self.holder, &delivery, &tried, &circuit)
                    .await?;
                if !recorded {
                    // Another instance holds the queue now: it sends this one again.
                    tracing::info!(webhook = %webhook.id, "lost the webhook's lease mid-attempt");
                    return Ok(());
                }
                app.store.commit(write).await?;
                if delivery.state == DeliveryState::Pending {
                    // Order holds: nothing after it goes before it.
                    break;
                }
            }
        }
    }
}

/// A number in [0, 1) from the operating system, to spread retries.
fn jitter() -> f64 {
    getrandom::u32().map_or(0.5, |n| f64::from(n) / (f64::from(u32::MAX) + 1.0))
}
