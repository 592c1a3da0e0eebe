//! What an operator scrapes: Prometheus metrics of the RPCs, intake, routing and dispatch,
//! the team queues, the watchers, the schedulers and the database. Each server has its own
//! registry (tests run several in one process); `--metrics-listen` serves it as text.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::store::Store;

/// An RPC by its full method path (`/feedback.v1.TicketService/CreateTicket`) and gRPC code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    pub method: String,
    pub code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TeamLabels {
    team: String,
}

/// A periodic pass: `sla`, `survey` or `dispatch`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PassLabels {
    pass: &'static str,
}

/// A webhook, and whether an attempt was accepted.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    webhook: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    webhook: String,
    outcome: &'static str,
}

/// Buckets from 0.5 ms to about 16 s, doubling: RPCs, routing and passes all fit.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Counts an open connection until dropped.
pub struct Connection(Arc<Metrics>);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.connections.dec();
    }
}

pub struct Metrics {
    registry: Registry,
    rpcs: Family<RpcLabels, Counter>,
    rpc_seconds: Family<RpcLabels, Histogram, fn() -> Histogram>,
    intake_batch: Histogram,
    routing_seconds: Histogram,
    dispatch_seconds: Histogram,
    queue_length: Family<TeamLabels, Gauge>,
    /// The teams with a queue at the last sweep.
    queued_teams: std::sync::Mutex<Vec<String>>,
    watchers: Gauge,
    lagging_watchers: Gauge,
    pass_seconds: Family<PassLabels, Histogram, fn() -> Histogram>,
    pass_lag: Family<PassLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pass_failures: Family<PassLabels, Counter>,
    webhook_latency: Family<WebhookLabels, Histogram, fn() -> Histogram>,
    webhook_attempts: Family<AttemptLabels, Counter>,
    connections: Gauge,
    connections_refused: Counter,
    connections_idle_closed: Counter,
    intake_blocked: Counter,
    intake_quarantined: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// The metrics of a server on `store`, whose pool is read at each scrape.
    pub fn new(store: &Store) -> Arc<Metrics> {
        let mut metrics = Metrics {
            registry: Registry::with_prefix("feedbackd"),
            rpcs: Family::default(),
            rpc_seconds: Family::new_with_constructor(seconds),
            intake_batch: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            routing_seconds: seconds(),
            dispatch_seconds: seconds(),
            queue_length: Family::default(),
            queued_teams: Default::default(),
            watchers: Gauge::default(),
            lagging_watchers: Gauge::default(),
            pass_seconds: Family::new_with_constructor(seconds),
            pass_lag: Family::default(),
            pass_failures: Family::default(),
            webhook_latency: Family::new_with_constructor(seconds),
            webhook_attempts: Family::default(),
            connections: Gauge::default(),
            connections_refused: Counter::default(),
            connections_idle_closed: Counter::default(),
            intake_blocked: Counter::default(),
            intake_quarantined: Counter::default(),
        };
        let registry = &mut metrics.registry;
        registry.register(
            "rpc_requests",
            "RPCs ended, by method and gRPC code",
            metrics.rpcs.clone(),
        );
        registry.register_with_unit(
            "rpc_duration",
            "Whole duration of an RPC, from the request to the end of its reply or stream",
            Unit::Seconds,
            metrics.rpc_seconds.clone(),
        );
        registry.register_with_unit(
            "webhook_delivery_latency",
            "From an event's commit to the first attempt to deliver it, by webhook \
             (redeliveries left out)",
            Unit::Seconds,
            metrics.webhook_latency.clone(),
        );
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts, by webhook and outcome (delivered or failed); the \
             success rate is delivered / all",
            metrics.webhook_attempts.clone(),
        );
        registry.register(
            "intake_batch_size",
            "Tickets taken in by one intake transaction",
            metrics.intake_batch.clone(),
        );
        registry.register_with_unit(
            "routing_duration",
            "Time to route one ticket at intake: the reads and the decision",
            Unit::Seconds,
            metrics.routing_seconds.clone(),
        );
        registry.register_with_unit(
            "dispatch_duration",
            "Time of one pass over a team's queue",
            Unit::Seconds,
            metrics.dispatch_seconds.clone(),
        );
        registry.register(
            "queue_length",
            "Tickets waiting for an agent, by team, as of the last sweep of the queues",
            metrics.queue_length.clone(),
        );
        registry.register(
            "watchers",
            "Open WatchTickets streams",
            metrics.watchers.clone(),
        );
        registry.register(
            "watchers_lagging",
            "Watch streams reading the log because they fell behind the live broadcast",
            metrics.lagging_watchers.clone(),
        );
        registry.register_with_unit(
            "pass_duration",
            "Duration of one pass of a periodic scheduler (sla, survey, dispatch)",
            Unit::Seconds,
            metrics.pass_seconds.clone(),
        );
        registry.register_with_unit(
            "pass_lag",
            "How late a periodic pass's last run started (after the one before overran)",
            Unit::Seconds,
            metrics.pass_lag.clone(),
        );
        registry.register(
            "pass_failures",
            "Periodic passes that failed (the database unavailable, say); the next one retries",
            metrics.pass_failures.clone(),
        );
        registry.register(
            "connections",
            "Open client connections (at most --max-connections)",
            metrics.connections.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections closed as they came because --max-connections were open",
            metrics.connections_refused.clone(),
        );
        registry.register(
            "connections_idle_closed",
            "Connections closed because nothing arrived on them for --idle-timeout",
            metrics.connections_idle_closed.clone(),
        );
        registry.register(
            "intake_blocked",
            "Tickets refused at intake because their sender is blocked",
            metrics.intake_blocked.clone(),
        );
        registry.register(
            "intake_quarantined",
            "Tickets held for review at intake as suspected malicious complaints",
            metrics.intake_quarantined.clone(),
        );
        registry.register_collector(Box::new(PoolCollector(store.clone())));
        Arc::new(metrics)
    }

    /// The registry in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    pub fn rpc_ended(&self, labels: &RpcLabels, duration: Duration) {
        self.rpcs.get_or_create(labels).inc();
        self.rpc_seconds
            .get_or_create(labels)
            .observe(duration.as_secs_f64());
    }

    pub fn intake_batch(&self, tickets: usize) {
        self.intake_batch.observe(tickets as f64);
    }

    pub fn routed(&self, duration: Duration) {
        self.routing_seconds.observe(duration.as_secs_f64());
    }

    pub fn dispatched(&self, duration: Duration) {
        self.dispatch_seconds.observe(duration.as_secs_f64());
    }

    /// The queues as a sweep counted them: teams not listed have nobody waiting (any that
    /// had someone at the last sweep go to zero, rather than leaving a gap for a scrape).
    pub fn queue_lengths(&self, waiting: Vec<(String, i64)>) {
        let mut counted = self.queued_teams.lock().unwrap_or_else(|p| p.into_inner());
        let now: Vec<String> = waiting.iter().map(|(team, _)| team.clone()).collect();
        for team in counted.iter().filter(|t| !now.contains(t)) {
            self.queue_length
                .get_or_create(&TeamLabels { team: team.clone() })
                .set(0);
        }
        for (team, count) in waiting {
            self.queue_length
                .get_or_create(&TeamLabels { team })
                .set(count);
        }
        *counted = now;
    }

    /// A connection opened; the guard counts it until it is dropped.
    pub fn connection(self: &Arc<Self>) -> Connection {
        self.connections.inc();
        Connection(self.clone())
    }

    /// A connection came while the most were open, and was closed.
    pub fn connection_refused(&self) {
        self.connections_refused.inc();
    }

    /// A connection was closed for sending nothing for the idle timeout.
    pub fn connection_idle(&self) {
        self.connections_idle_closed.inc();
    }

    /// A ticket was refused because its sender is blocked.
    pub fn intake_blocked(&self) {
        self.intake_blocked.inc();
    }

    /// A ticket was held for review at intake.
    pub fn intake_quarantined(&self) {
        self.intake_quarantined.inc();
    }

    /// A watcher opened; the guard counts it until it is dropped.
    pub fn watching(self: &Arc<Self>) -> Watching {
        self.watchers.inc();
        Watching {
            metrics: self.clone(),
            lagging: false,
        }
    }

    /// An event reached webhook `id`'s receiver `latency` after it committed.
    pub fn webhook_latency(&self, id: &str, latency: chrono::Duration) {
        let labels = WebhookLabels {
            webhook: id.to_owned(),
        };
        // A clock that stepped back makes it negative: zero.
        let seconds = latency.to_std().unwrap_or_default().as_secs_f64();
        self.webhook_latency.get_or_create(&labels).observe(seconds);
    }

    /// An attempt to deliver to webhook `id` was made.
    pub fn webhook_attempt(&self, id: &str, delivered: bool) {
        let labels = AttemptLabels {
            webhook: id.to_owned(),
            outcome: if delivered { "delivered" } else { "failed" },
        };
        self.webhook_attempts.get_or_create(&labels).inc();
    }

    /// A periodic pass took `duration`, started `lag` after it was due, and `failed` or not.
    pub fn pass(&self, pass: &'static str, duration: Duration, lag: Duration, failed: bool) {
        let labels = PassLabels { pass };
        if failed {
            self.pass_failures.get_or_create(&labels).inc();
        }
        self.pass_seconds
            .get_or_create(&labels)
            .observe(duration.as_secs_f64());
        self.pass_lag.get_or_create(&labels).set(lag.as_secs_f64());
    }
}

/// One open watch stream, counted while it lives.
pub struct Watching {
    metrics: Arc<Metrics>,
    lagging: bool,
}

impl Watching {
    /// The watcher reads the log (`true`) or the live broadcast again (`false`).
    pub fn set_lagging(&mut self, lagging: bool) {
        if lagging != self.lagging {
            self.lagging = lagging;
            if lagging {
                self.metrics.lagging_watchers.inc();
            } else {
                self.metrics.lagging_watchers.dec();
            }
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.set_lagging(false);
        self.metrics.watchers.dec();
    }
}

/// The database pool's connections, read at each scrape.
struct PoolCollector(Store);

impl std::fmt::Debug for PoolCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PoolCollector")
    }
}

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let pool = self.0.pool_use();
        for (name, help, value) in [
            (
                "database_connections",
                "Connections the database pool holds open",
                pool.open,
            ),
            (
                "database_connections_idle",
                "Open connections of the pool not in use",
                pool.idle,
            ),
            (
                "database_connections_max",
                "The most connections the pool opens (--db-max-connections)",
                pool.max,
            ),
        ] {
            let gauge = ConstGauge::new(i64::from(value));
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}
