//! The insight roll-ups follow the event log: each committed event folds into its ticket's
//! facts, and the change in what those facts add to each hour goes into the hourly sums per
//! dimension value. Facts, sums and the position in the log move in one transaction that
//! holds the position's lock, so a restart resumes exactly where the last commit left off and
//! several instances never count an event twice: whichever takes the lock first rolls the
//! events up, and the others find them done.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::App;
use crate::domain::calendar::Calendar;
use crate::domain::event::TicketEvent;
use crate::domain::insights::{Facts, changes};
use crate::error::{Error, Result};
use crate::events::{EventHub, SharedEvent};

/// Events rolled up per transaction, at most: a long catch-up holds the writer briefly at a
/// time.
const PER_TRANSACTION: usize = 500;
/// How long to wait before following the log again after losing it.
const RETRY: Duration = Duration::from_secs(1);
/// How long a query waits for the roll-ups to include what was committed before it.
const FRESH_WAIT: Duration = Duration::from_secs(1);

/// How far the roll-ups have got, as this process knows it.
#[derive(Default)]
pub struct Rolled {
    cursor: watch::Sender<i64>,
}

impl Rolled {
    /// The roll-ups include event `cursor`: never moves back, and wakes waiters only on a move.
    fn reached(&self, cursor: i64) {
        self.cursor.send_if_modified(|c| {
            let moved = cursor > *c;
            *c = (*c).max(cursor);
            moved
        });
    }
}

/// Waits [`RETRY`] before trying again; false when `stop` came first.
async fn pause(stop: &CancellationToken) -> bool {
    stop.run_until_cancelled(tokio::time::sleep(RETRY))
        .await
        .is_some()
}

impl App {
    /// The last event the figures include, as far as this process knows.
    pub fn rolled_up_to(&self) -> i64 {
        *self.rolled.cursor.borrow()
    }

    /// Something that changes whenever the roll-ups move on.
    pub fn rolled_changes(&self) -> watch::Receiver<i64> {
        self.rolled.cursor.subscribe()
    }

    /// Waits (a second at most) until the roll-ups include event `cursor`, so that a query
    /// after a change sees it.
    pub async fn rolled_past(&self, cursor: i64) {
        let mut rolled = self.rolled.cursor.subscribe();
        let _ = tokio::time::timeout(FRESH_WAIT, rolled.wait_for(|c| *c >= cursor)).await;
    }

    /// Rolls up events as they commit, until `stop`.
    pub async fn roll_up(self: Arc<Self>, hub: Arc<EventHub>, stop: CancellationToken) {
        loop {
            let from = match self.store.insight_cursor().await {
                Ok(cursor) => cursor,
                Err(error) => {
                    tracing::warn!(%error, "cannot read how far the figures got; retrying");
                    if !pause(&stop).await {
                        return;
                    }
                    continue;
                }
            };
            self.rolled.reached(from);
            let mut events = match hub.follow(from).await {
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!(%error, "the figures cannot follow the event log; retrying");
                    if !pause(&stop).await {
                        return;
                    }
                    continue;
                }
            };
            loop {
                let batch = tokio::select! {
                    _ = stop.cancelled() => return,
                    batch = events.next() => batch,
                };
                match batch {
                    Some(Ok(batch)) => {
                        if let Err(error) = self.roll_up_batch(&batch).await {
                            // The position did not move: following again retries these.
                            tracing::warn!(%error, "rolling up the figures failed; retrying");
                            break;
                        }
                    }
                    Some(Err(Error::ShuttingDown(_))) => return,
                    Some(Err(error)) => {
                        tracing::warn!(%error, "the figures lost the event log; following again");
                        break;
                    }
                    None => break,
                }
            }
            if !pause(&stop).await {
                return;
            }
        }
    }

    async fn roll_up_batch(&self, batch: &[Arc<SharedEvent>]) -> Result<()> {
        for chunk in batch.chunks(PER_TRANSACTION) {
            let events: Vec<&TicketEvent> = chunk.iter().map(|s| &s.event).collect();
            let done = self.roll_up_events(&events).await?;
            self.rolled.reached(done);
        }
        Ok(())
    }

    /// Folds `events` (in log order) into their tickets' facts and the roll-ups, unless
    /// another instance did already; returns the position the roll-ups are at after.
    pub(crate) async fn roll_up_events(&self, events: &[&TicketEvent]) -> Result<i64> {
        let write = self.store.begin().await?;
        let done = self.store.lock_insight_cursor(&write).await?;
        let events: Vec<&TicketEvent> =
            events.iter().copied().filter(|e| e.cursor > done).collect();
        let Some(last) = events.last().map(|e| e.cursor) else {
            return Ok(done);
        };
        let catalog = self.catalog_in(&write).await?;
        let mut ids: Vec<i64> = events.iter().map(|e| e.ticket_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let before = self.store.facts_in(&write, &ids).await?;
        let mut after: HashMap<i64, Facts> = before.clone();
        let always = Calendar::always();
        for event in &events {
            let team = event.ticket.team.as_deref();
            let calendar = catalog
                .calendars
                .get(catalog.team_calendar(team))
                .unwrap_or(&always);
            after
                .entry(event.ticket_id)
                .or_insert_with(|| Facts::new(&event.ticket))
                .apply(event, calendar);
        }
        let mut sums = HashMap::new();
        for (id, facts) in &after {
            changes(before.get(id), facts, &mut sums);
        }
        let changed: Vec<Facts> = after
            .into_values()
            .filter(|f| before.get(&f.ticket_id) != Some(f))
            .collect();
        self.store.save_facts(&write, &changed).await?;
        self.store.add_to_rollups(&write, sums).await?;
        self.store.set_insight_cursor(&write, last).await?;
        self.store.commit(write).await?;
        Ok(last)
    }
}
