//! Live fan-out of the event log to watchers.
//!
//! One tailer per process reads new events from the log once and broadcasts them in
//! batches; each watcher replays what it missed from the log, then follows the broadcast.
//! The log is the truth: a watcher that falls behind the broadcast catches up from the log
//! again instead of being dropped, and on PostgreSQL a NOTIFY from any instance wakes every
//! instance's tailer.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use sea_orm::DbBackend;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::domain::access::Look;
use crate::domain::error::Refusal;
use crate::domain::event::TicketEvent;
use crate::domain::query::WatchFilter;
use crate::error::{Error, Result};
use crate::metrics::{Metrics, Watching};
use crate::runtime::AppRuntime;
use crate::store::{CONFIG_CHANNEL, NOTIFY_CHANNEL, Store};

/// Events one read of the log returns at most; also the most one stream message carries.
const PAGE: u64 = 500;
/// How often the tailer looks at the log when nothing woke it: a safety net for a lost
/// notification, not the delivery path.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// An event as the hub hands it to every watcher: one copy for all of them, with its
/// encodings made the first time a watcher needs each, for every other watcher that sees the
/// event alike.
#[derive(Debug)]
pub struct SharedEvent {
    pub event: TicketEvent,
    encodings: [OnceLock<prost::bytes::Bytes>; Look::COUNT],
}

impl SharedEvent {
    pub fn new(event: TicketEvent) -> Arc<SharedEvent> {
        Arc::new(SharedEvent {
            event,
            encodings: Default::default(),
        })
    }

    /// The event as it looks to watchers with `look`, encoded by `encode` the first time a
    /// watcher with that look needs it.
    pub fn encoded(
        &self,
        look: Look,
        encode: impl FnOnce(TicketEvent) -> prost::bytes::Bytes,
    ) -> prost::bytes::Bytes {
        self.encodings[look.index()]
            .get_or_init(|| {
                let mut event = self.event.clone();
                look.apply(&mut event);
                encode(event)
            })
            .clone()
    }
}

type Batch = Arc<Vec<Arc<SharedEvent>>>;

/// A stream of event batches for one watcher; ends with an error when the server shuts down.
pub type EventStream = BoxStream<'static, Result<Vec<Arc<SharedEvent>>>>;

/// The process's fan-out of the event log.
pub struct EventHub {
    store: Store,
    live: broadcast::Sender<Batch>,
    /// The newest cursor the tailer has broadcast.
    published: AtomicI64,
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
    /// Where watchers read the log (the runtime the hub started on): their streams are
    /// polled on the network runtime.
    runtime: AppRuntime,
}

impl EventHub {
    /// Starts the tailer (and, on PostgreSQL, the listener that wakes it for other instances'
    /// commits); both stop when `shutdown` is cancelled. A watcher may trail the broadcast by
    /// `live_buffer` batches before it falls back to the log.
    pub async fn start(
        store: Store,
        live_buffer: usize,
        shutdown: CancellationToken,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<EventHub>> {
        let (live, _) = broadcast::channel(live_buffer.max(1));
        let hub = Arc::new(EventHub {
            metrics,
            published: AtomicI64::new(store.last_cursor().await?),
            store: store.clone(),
            live,
            shutdown,
            runtime: AppRuntime::current(),
        });
        if store.backend() == DbBackend::Postgres {
            tokio::spawn(listen(store, hub.shutdown.clone()));
        }
        tokio::spawn(hub.clone().tail());
        Ok(hub)
    }

    /// Reads the log after the last broadcast cursor whenever a commit is announced, and
    /// broadcasts what it finds in order.
    async fn tail(self: Arc<Self>) {
        let mut committed = self.store.signals().events.subscribe();
        loop {
            let mut last = self.published.load(Ordering::Acquire);
            loop {
                match self.store.events_after(last, PAGE).await {
                    Ok(events) if events.is_empty() => {
                        self.store.read_the_log();
                        break;
                    }
                    Ok(events) => {
                        let full = events.len() as u64 == PAGE;
                        self.store
                            .remember_tickets(events.iter().map(|e| &e.ticket));
                        last = events.last().map_or(last, |e| e.cursor);
                        self.published.store(last, Ordering::Release);
                        let batch = events.into_iter().map(SharedEvent::new).collect();
                        // No receivers is fine: nobody is watching.
                        let _ = self.live.send(Arc::new(batch));
                        if !full {
                            self.store.read_the_log();
                            break;
                        }
                    }
                    Err(error) => {
                        self.store.lost_the_log();
                        tracing::warn!(%error, "reading the event log failed; retrying");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = committed.changed() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }

    /// Cancelled when the server stops: what long streams end on.
    pub fn stopping(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The newest cursor broadcast: every event up to it is committed.
    pub fn newest(&self) -> i64 {
        self.published.load(Ordering::Acquire)
    }

    /// A watcher's stream: events after `after_cursor` (from now when `None`) that match
    /// `filter`, replayed from the log and then live, with no gap and no duplicate. Counted
    /// in the metrics as a watcher while it lives.
    pub async fn watch(
        self: &Arc<Self>,
        filter: WatchFilter,
        after_cursor: Option<i64>,
    ) -> Result<EventStream> {
        self.stream(filter, after_cursor, Some(self.metrics.watching()))
            .await
    }

    /// The same stream for the service's own use (the reactions), not counted as a watcher.
    pub async fn follow(self: &Arc<Self>, after_cursor: i64) -> Result<EventStream> {
        self.stream(WatchFilter::default(), Some(after_cursor), None)
            .await
    }

    async fn stream(
        self: &Arc<Self>,
        filter: WatchFilter,
        after_cursor: Option<i64>,
        watching: Option<Watching>,
    ) -> Result<EventStream> {
        // Subscribing before reading the log closes the seam: whatever the log read misses
        // arrives on the broadcast, and duplicates are skipped by cursor.
        let live = self.live.subscribe();
        let cursor = match after_cursor {
            None => self.published.load(Ordering::Acquire),
            Some(cursor) => {
                let newest = self.store.last_cursor().await?;
                if cursor > newest || cursor < 0 {
                    return Err(Refusal::OutOfRange {
                        field: "after_cursor",
                        description: format!(
                            "cursor {cursor} is not in the log, whose newest event is {newest}"
                        ),
                    }
                    .into());
                }
                cursor
            }
        };
        let watcher = Watcher {
            watching,
            hub: self.clone(),
            filter,
            cursor,
            live,
            // From now on: the broadcast, subscribed before the newest cursor was read, has
            // everything after it, so there is nothing in the log to read first.
            caught_up: after_cursor.is_none(),
            ended: false,
        };
        Ok(futures::stream::unfold(watcher, |mut watcher| async move {
            let message = watcher.next().await?;
            Some((message, watcher))
        })
        .boxed())
    }
}

/// One watcher's place in the log. It is the stream itself, read as the client reads: no task
/// or queue of its own, so an event wakes one task per watcher (the one writing its stream),
/// and a client that stops reading leaves its place in the broadcast behind, to catch up from
/// the log when it reads again.
struct Watcher {
    /// Counts a client's watcher in the metrics while it lives.
    watching: Option<Watching>,
    hub: Arc<EventHub>,
    filter: WatchFilter,
    /// The newest event this watcher has passed (sent or filtered out).
    cursor: i64,
    live: broadcast::Receiver<Batch>,
    /// Read the log up to the broadcast: what comes next comes live.
    caught_up: bool,
    /// Sent its last message (the server is stopping, or the log cannot be read).
    ended: bool,
}

impl Watcher {
    /// The next message: events after the cursor that match the filter, from the log until it
    /// has caught up, then live.
    async fn next(&mut self) -> Option<Result<Vec<Arc<SharedEvent>>>> {
        if self.ended {
            return None;
        }
        loop {
            let read = if self.caught_up {
                self.follow().await
            } else {
                self.catch_up().await
            };
            match read {
                Ok(message) if message.is_empty() => continue,
                Ok(message) => return Some(Ok(message)),
                Err(error) => {
                    self.ended = true;
                    return Some(Err(error));
                }
            }
        }
    }

    /// The next page of the log after the cursor.
    async fn catch_up(&mut self) -> Result<Vec<Arc<SharedEvent>>> {
        let (hub, after) = (self.hub.clone(), self.cursor);
        let read = self
            .hub
            .runtime
            .run(async move { hub.store.events_after(after, PAGE).await });
        let events = tokio::select! {
            _ = self.hub.shutdown.cancelled() => return Err(self.shutting_down()),
            read = read => read?,
        };
        if (events.len() as u64) < PAGE {
            self.caught_up = true;
            self.lagging(false);
        }
        let events: Vec<_> = events.into_iter().map(SharedEvent::new).collect();
        Ok(self.take(events.iter()))
    }

    /// The broadcast batches that have come, several per message when they queued up.
    async fn follow(&mut self) -> Result<Vec<Arc<SharedEvent>>> {
        let first = tokio::select! {
            _ = self.hub.shutdown.cancelled() => return Err(self.shutting_down()),
            batch = self.live.recv() => batch,
        };
        let mut batches = match first {
            Ok(batch) => vec![batch],
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                self.fell_behind(missed);
                return Ok(Vec::new());
            }
            Err(broadcast::error::RecvError::Closed) => return Err(self.shutting_down()),
        };
        let mut queued = batches[0].len();
        while queued < PAGE as usize {
            match self.live.try_recv() {
                Ok(batch) => {
                    queued += batch.len();
                    batches.push(batch);
                }
                Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                    let message = self.take(batches.iter().flat_map(|b| b.iter()));
                    self.fell_behind(missed);
                    return Ok(message);
                }
                Err(_) => break,
            }
        }
        Ok(self.take(batches.iter().flat_map(|b| b.iter())))
    }

    /// The events after the cursor that match the filter; the cursor moves past all of them.
    fn take<'a>(
        &mut self,
        events: impl Iterator<Item = &'a Arc<SharedEvent>>,
    ) -> Vec<Arc<SharedEvent>> {
        let mut message = Vec::new();
        for shared in events {
            let event = &shared.event;
            if event.cursor <= self.cursor {
                continue;
            }
            self.cursor = event.cursor;
            if self.filter.matches(event) {
                message.push(shared.clone());
            }
        }
        message
    }

    /// Reported, never silent: the watcher is slow (or its network is) and reads the log
    /// again, from a fresh place in the broadcast taken first, so nothing falls in between.
    fn fell_behind(&mut self, missed: u64) {
        self.live = self.hub.live.subscribe();
        self.caught_up = false;
        self.lagging(true);
        tracing::info!(
            cursor = self.cursor,
            missed_batches = missed,
            "watcher fell behind the live buffer; catching up from the log"
        );
    }

    fn lagging(&mut self, lagging: bool) {
        if let Some(watching) = &mut self.watching {
            watching.set_lagging(lagging);
        }
    }

    fn shutting_down(&self) -> Error {
        Error::ShuttingDown(format!("reconnect with after_cursor={}", self.cursor))
    }
}

/// Announces in this process what any instance commits to the logs (PostgreSQL
/// LISTEN/NOTIFY): ticket events wake the tailer, configuration changes the reactions.
async fn listen(store: Store, shutdown: CancellationToken) {
    use sea_orm::sqlx::postgres::PgListener;
    let signals = store.signals().clone();
    loop {
        let pool = store.connection().get_postgres_connection_pool().clone();
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "cannot LISTEN for events; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(POLL_INTERVAL) => continue,
                }
            }
        };
        if let Err(error) = listener.listen_all([NOTIFY_CHANNEL, CONFIG_CHANNEL]).await {
            tracing::warn!(%error, "cannot LISTEN for events; retrying");
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(POLL_INTERVAL) => continue,
            }
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) if notification.channel() == CONFIG_CHANNEL => {
                        signals.config_committed()
                    }
                    Ok(Some(_)) => signals.events_committed(),
                    // Reconnected: what was announced meanwhile is read again from the logs.
                    Ok(None) => {
                        signals.events_committed();
                        signals.config_committed();
                    }
                    Err(error) => {
                        tracing::warn!(%error, "event listener lost its connection; reconnecting");
                        // Whatever was announced meanwhile is read again from the logs.
                        signals.events_committed();
                        signals.config_committed();
                        break;
                    }
                }
            }
        }
    }
}
