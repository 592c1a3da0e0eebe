//! Intake in batches. Gap-free daily numbers hold the day's sequence row until commit and
//! event cursors follow commit order, so intakes are taken in one transaction at a time; to
//! keep up under load, whatever intakes are waiting go in together: one batch gets one range
//! of numbers, and their rows, tags and events go in with one statement each, so N tickets
//! cost about what one did. A batch that fails for any reason (a request_id committed
//! meanwhile by another instance, say) is retried one ticket at a time, which sorts out who
//! gets what.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio::sync::{mpsc, oneshot};

use super::record_events;
use crate::domain::acknowledgement::{Acknowledgement, acknowledge};
use crate::domain::event::{EventType, TicketEvent, actor};
use crate::domain::idempotency::check_replay;
use crate::domain::notification::Notifier;
use crate::domain::number::{day_key, format_number, numbering_day};
use crate::domain::routing::Route;
use crate::domain::sla;
use crate::domain::staff::Duty;
use crate::domain::ticket::{NewTicket, Status, Ticket};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::store::Store;

/// Most tickets taken in by one transaction.
const MAX_BATCH: usize = 128;
/// Intakes waiting for the batcher; callers beyond that wait to queue.
const QUEUE: usize = 1024;

/// A ticket taken in.
#[derive(Debug, Clone)]
pub struct TakenIn {
    pub ticket: Ticket,
    /// The ticket existed already under the request's request_id: nothing new was created.
    pub replayed: bool,
    /// The cursor of its last event, 0 for a replay.
    pub cursor: i64,
    /// What the customer was told, as its notification says; `None` for a replay.
    pub acknowledgement: Option<Acknowledgement>,
}

/// One ticket to take in, routed.
#[derive(Debug, Clone)]
pub struct Request {
    pub new: NewTicket,
    /// The fingerprint of the request, for its request_id.
    pub hash: String,
    pub route: Route,
    pub now: DateTime<Utc>,
    pub zone: Tz,
    /// Whether the team it goes to has someone to keep a promised time.
    pub duty: Duty,
    /// Why it is held for review as a suspected malicious complaint, if it is.
    pub held: Option<String>,
}

/// One caller's intake, and where its answer goes.
struct Job {
    request: Request,
    reply: oneshot::Sender<Result<TakenIn>>,
}

/// The batcher's queue.
pub struct Intake {
    jobs: mpsc::Sender<Job>,
}

/// What the batcher works with: the store, the at-risk share of the clocks it starts, and
/// how the acknowledgements are written.
#[derive(Clone)]
struct Batcher {
    store: Store,
    at_risk: f64,
    notifier: Notifier,
    metrics: Arc<Metrics>,
}

impl Intake {
    /// Starts the batcher for `store`, whose clocks go at risk at `at_risk` of their budget;
    /// it ends when the `Intake` is dropped.
    pub fn start(store: Store, at_risk: f64, notifier: Notifier, metrics: Arc<Metrics>) -> Intake {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let batcher = Batcher {
            store,
            at_risk,
            notifier,
            metrics,
        };
        tokio::spawn(run(batcher, queue));
        Intake { jobs }
    }

    /// Takes a ticket in as routed, together with whatever other intakes are waiting.
    pub async fn take_in(&self, request: Request) -> Result<TakenIn> {
        let (reply, answer) = oneshot::channel();
        let stopped = || Error::Unavailable("intake has stopped".into());
        self.jobs
            .send(Job { request, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Takes whatever has queued up as one batch, until nobody can send any more.
async fn run(batcher: Batcher, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        batcher.metrics.intake_batch(batch.len());
        take_in(&batcher, batch).await;
    }
}

/// Answers every job of a batch: replays of known request_ids, then the new tickets from one
/// transaction, or one by one if that fails.
async fn take_in(batcher: &Batcher, batch: Vec<Job>) {
    let store = &batcher.store;
    let request_ids: Vec<&str> = batch
        .iter()
        .filter_map(|j| j.request.new.request_id.as_deref())
        .collect();
    let Ok(known) = store.tickets_by_request_ids(&request_ids).await else {
        // One at a time, each with its own reads, sorts out what can be taken in.
        for job in batch {
            let _ = job.reply.send(one(batcher, job.request).await);
        }
        return;
    };
    // The first job of each new request_id creates the ticket; repeats get that ticket too.
    let mut fresh: Vec<Job> = Vec::new();
    let mut repeats: Vec<(usize, Job)> = Vec::new();
    let mut leaders: HashMap<String, usize> = HashMap::new();
    for job in batch {
        let Some(id) = job.request.new.request_id.clone() else {
            fresh.push(job);
            continue;
        };
        if let Some((ticket, first)) = known.get(&id) {
            let _ = job
                .reply
                .send(replay(&id, ticket, first.as_deref(), &job.request.hash));
        } else if let Some(&leader) = leaders.get(&id) {
            repeats.push((leader, job));
        } else {
            leaders.insert(id, fresh.len());
            fresh.push(job);
        }
    }
    if fresh.is_empty() {
        return;
    }
    let requests: Vec<Request> = fresh.iter().map(|j| j.request.clone()).collect();
    match insert_batch(batcher, requests).await {
        Ok(taken) => {
            for (leader, job) in repeats {
                let first = &fresh[leader].request;
                let id = first.new.request_id.as_deref().unwrap_or_default();
                let _ = job.reply.send(replay(
                    id,
                    &taken[leader].ticket,
                    Some(&first.hash),
                    &job.request.hash,
                ));
            }
            for (job, taken) in fresh.into_iter().zip(taken) {
                let _ = job.reply.send(Ok(taken));
            }
        }
        Err(error) => {
            if fresh.len() + repeats.len() > 1 {
                tracing::debug!(%error, "batched intake failed; taking the tickets one by one");
            }
            let retry = fresh
                .into_iter()
                .chain(repeats.into_iter().map(|(_, job)| job));
            for job in retry {
                let answer = one(batcher, job.request).await;
                let _ = job.reply.send(answer);
            }
        }
    }
}

/// A ticket taken in alone, in a transaction of its own.
async fn one(batcher: &Batcher, request: Request) -> Result<TakenIn> {
    let store = &batcher.store;
    let Some(id) = request.new.request_id.clone() else {
        return first(insert_batch(batcher, vec![request]).await?);
    };
    let hash = request.hash.clone();
    let found = |known: HashMap<String, (Ticket, Option<String>)>| {
        known
            .get(&id)
            .map(|(ticket, first)| replay(&id, ticket, first.as_deref(), &hash))
    };
    if let Some(answer) = found(store.tickets_by_request_ids(&[&id]).await?) {
        return answer;
    }
    match insert_batch(batcher, vec![request]).await {
        Ok(taken) => first(taken),
        // A concurrent retry won the race: answer with its ticket.
        Err(error) => found(store.tickets_by_request_ids(&[&id]).await?).unwrap_or(Err(error)),
    }
}

/// The answer to a repeat of `request_id`: the first ticket, unless the request differs.
fn replay(request_id: &str, ticket: &Ticket, first: Option<&str>, given: &str) -> Result<TakenIn> {
    check_replay(request_id, first, given)?;
    Ok(TakenIn {
        ticket: ticket.clone(),
        replayed: true,
        cursor: 0,
        acknowledgement: None,
    })
}

/// The one ticket a batch of one took in.
fn first(taken: Vec<TakenIn>) -> Result<TakenIn> {
    taken
        .into_iter()
        .next()
        .ok_or_else(|| Error::Internal("a batch of one took nothing in".into()))
}

/// Stores new tickets in one transaction, in order, numbered consecutively per local day,
/// with their clocks started and their events.
async fn insert_batch(batcher: &Batcher, requests: Vec<Request>) -> Result<Vec<TakenIn>> {
    let store = &batcher.store;
    let write = store.begin().await?;
    let days: Vec<_> = requests
        .iter()
        .map(|r| numbering_day(r.now, r.zone))
        .collect();
    let mut next_number: HashMap<_, i64> = HashMap::new();
    for day in &days {
        *next_number.entry(*day).or_default() += 1;
    }
    for (day, next) in next_number.iter_mut() {
        let count = *next;
        *next = store
            .advance_sequence(&write, &day_key(*day), count)
            .await?
            - count
            + 1;
    }
    let mut catalog = store.catalog_in(&write).await?;
    catalog.at_risk_share = batcher.at_risk;
    let mut tickets: Vec<Ticket> = Vec::with_capacity(requests.len());
    let mut hashes = Vec::with_capacity(requests.len());
    let mut actors = Vec::with_capacity(requests.len());
    let mut clocks = Vec::with_capacity(requests.len());
    let mut duties = Vec::with_capacity(requests.len());
    let mut holds = Vec::with_capacity(requests.len());
    for (request, day) in requests.into_iter().zip(days) {
        let sequence = next_number.entry(day).or_default();
        let number = format_number(day, *sequence);
        *sequence += 1;
        let Request {
            new,
            hash,
            route,
            now,
            duty,
            held,
            ..
        } = request;
        duties.push(duty);
        actors.push((new.actor.clone(), new.via.clone()));
        hashes.push(new.request_id.is_some().then_some(hash));
        let mut ticket = Ticket::intake(new, route, number, now);
        if let Some(why) = &held {
            ticket.status = Status::Quarantined;
            ticket.status_reason = Some(why.clone());
        }
        clocks.push((sla::follow(None, &mut ticket, &catalog, now), now));
        tickets.push(ticket);
        holds.push(held);
    }
    store.insert_tickets(&write, &mut tickets, &hashes).await?;
    let mut per_ticket = Vec::with_capacity(tickets.len());
    let mut events = Vec::new();
    let mut acks = Vec::with_capacity(tickets.len());
    let mut notifications = Vec::with_capacity(tickets.len());
    for ((((ticket, actor), (changes, now)), duty), held) in tickets
        .iter()
        .zip(actors)
        .zip(clocks)
        .zip(duties)
        .zip(holds)
    {
        let created = created(ticket, actor);
        let ack = acknowledge(ticket, duty);
        // A held ticket tells nobody anything: a flood sent in someone else's name must not
        // flood their phone with acknowledgements.
        if held.is_none() {
            notifications.push(batcher.notifier.acknowledgement(&created, &ack));
        }
        acks.push(ack);
        events.push(created);
        if let Some(why) = held {
            events.push(TicketEvent {
                reason: Some(why),
                ..TicketEvent::on(ticket, EventType::TicketQuarantined, actor::ABUSE, now)
            });
        }
        events.extend(changes.into_iter().map(|c| c.event(ticket, now)));
        per_ticket.push(events.len());
    }
    let cursors = record_events(store, &write, &batcher.notifier, &events, notifications).await?;
    store.commit(write).await?;
    Ok(tickets
        .into_iter()
        .zip(per_ticket)
        .zip(acks)
        .map(|((ticket, last), ack)| TakenIn {
            ticket,
            replayed: false,
            cursor: cursors.get(last - 1).copied().unwrap_or_default(),
            acknowledgement: Some(ack),
        })
        .collect())
}

/// The event that records a ticket's intake, with how it was routed as its reason.
fn created(ticket: &Ticket, (actor, via): (String, Option<String>)) -> TicketEvent {
    TicketEvent {
        reason: ticket.routing_reason.clone(),
        via,
        ..TicketEvent::on(ticket, EventType::TicketCreated, &actor, ticket.created_at)
    }
}
