//! Webhooks: which events a subscription wants, how a failed delivery is retried, when a
//! receiver's circuit opens, and how a body is signed.

use chrono::{DateTime, Duration, Utc};
use hmac::{KeyInit, Mac};
use serde::Serialize;

use super::error::versioned;
use super::event::{EventType, TicketEvent};
use super::ticket::named_enum;

/// A subscription of a URL to ticket events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Webhook {
    pub id: String,
    pub display_name: String,
    pub url: String,
    /// Empty: every type but NOTIFICATION.
    pub event_types: Vec<EventType>,
    /// Empty: every team.
    pub teams: Vec<String>,
    /// Never in the configuration log.
    #[serde(skip)]
    pub secret: String,
    /// `None`: the server's default.
    pub max_attempts: Option<u32>,
    pub paused: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

versioned!(Webhook);

impl Webhook {
    /// Whether the webhook wants `event`: its type is one it names (or a change, when it names
    /// none), and its ticket is in one of its teams or has just left one (as a team's watcher
    /// sees it leave).
    pub fn wants(&self, event: &TicketEvent) -> bool {
        event.event_type.wanted_by(&self.event_types)
            && (self.teams.is_empty() || self.teams.iter().any(|t| event.in_team(t)))
    }
}

named_enum!(
    /// Where a delivery stands.
    DeliveryState {
        Pending = "PENDING",
        Delivered = "DELIVERED",
        /// Every attempt failed.
        Dead = "DEAD",
    }
);

/// One event on its way to one webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: String,
    pub event_cursor: i64,
    pub event_type: EventType,
    pub ticket_id: i64,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    /// When the event committed.
    pub event_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Queued by RedeliverEvents, not by the event's commit.
    pub redelivery: bool,
}

/// One try to deliver, as the receiver answered it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub number: u32,
    pub started_at: DateTime<Utc>,
    pub duration: Duration,
    /// `None` when the receiver did not answer.
    pub http_status: Option<u16>,
    /// `None` when it was delivered.
    pub error: Option<String>,
}

impl Attempt {
    pub fn delivered(&self) -> bool {
        self.error.is_none()
    }
}

/// How a webhook's receiver stands: failures in a row, and the circuit they opened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Circuit {
    pub consecutive_failures: u32,
    pub open_until: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// A webhook with how its deliveries stand.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookStatus {
    pub webhook: Webhook,
    pub circuit: Circuit,
    pub pending: i64,
    pub dead: i64,
}

/// Failed attempts in a row that open a receiver's circuit.
pub const BREAKER_FAILURES: u32 = 5;
/// The longest wait between two attempts of one delivery.
pub const MAX_RETRY_DELAY: Duration = Duration::hours(1);

/// How deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// The wait after the first failure; it doubles with each further one.
    pub initial: Duration,
    /// Attempts before a delivery becomes a dead letter, unless the webhook says.
    pub max_attempts: u32,
    /// How long an open circuit stays open.
    pub breaker_cooldown: Duration,
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AfterFailure {
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// Every attempt is used: a dead letter.
    Dead,
}

impl RetryPolicy {
    /// What follows the `attempts`th failed attempt of a delivery for `webhook`, at `now`.
    /// `jitter` in [0, 1) spreads retries over the upper half of the wait, so receivers that
    /// failed together are not all retried at the same instant.
    pub fn after_failure(
        &self,
        webhook: &Webhook,
        attempts: u32,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> AfterFailure {
        if attempts >= webhook.max_attempts.unwrap_or(self.max_attempts) {
            return AfterFailure::Dead;
        }
        let doublings = attempts.saturating_sub(1).min(30);
        let wait = self
            .initial
            .checked_mul(1 << doublings)
            .unwrap_or(MAX_RETRY_DELAY)
            .min(MAX_RETRY_DELAY);
        let spread = 0.5 + jitter.clamp(0.0, 1.0) / 2.0;
        let wait = Duration::microseconds(
            (wait.num_microseconds().unwrap_or(i64::MAX) as f64 * spread) as i64,
        );
        AfterFailure::RetryAt(now + wait)
    }
}

impl Circuit {
    /// The receiver answered at `now`: the circuit closes.
    pub fn succeeded(&mut self, now: DateTime<Utc>) {
        self.consecutive_failures = 0;
        self.open_until = None;
        self.last_success_at = Some(now);
    }

    /// An attempt failed at `now`: after [`BREAKER_FAILURES`] in a row the circuit opens for
    /// the cooldown, and each failed probe after that opens it again.
    pub fn failed(&mut self, now: DateTime<Utc>, error: &str, cooldown: Duration) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_failure_at = Some(now);
        self.last_error = Some(error.to_owned());
        if self.consecutive_failures >= BREAKER_FAILURES {
            self.open_until = Some(now + cooldown);
        }
    }

    /// When the next attempt may go: now, or when the open circuit lets one through.
    pub fn next_allowed(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.open_until.map_or(now, |until| until.max(now))
    }
}

/// The `Feedbackd-Signature` header of `body` sent at `timestamp` (Unix seconds):
/// `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(max_attempts: Option<u32>) -> Webhook {
        Webhook {
            id: "crm".into(),
            display_name: "crm".into(),
            url: "http://127.0.0.1/".into(),
            event_types: Vec::new(),
            teams: Vec::new(),
            secret: "s".repeat(16),
            max_attempts,
            paused: false,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    const POLICY: RetryPolicy = RetryPolicy {
        initial: Duration::seconds(5),
        max_attempts: 8,
        breaker_cooldown: Duration::minutes(5),
    };

    #[test]
    fn retries_double_within_their_jitter_until_the_attempts_run_out() {
        let now = Utc::now();
        let wait =
            |attempts, jitter| match POLICY.after_failure(&webhook(None), attempts, now, jitter) {
                AfterFailure::RetryAt(at) => at - now,
                AfterFailure::Dead => Duration::MAX,
            };
        assert_eq!(wait(1, 1.0), Duration::seconds(5));
        assert_eq!(wait(1, 0.0), Duration::milliseconds(2500));
        assert_eq!(wait(3, 1.0), Duration::seconds(20));
        assert!(wait(7, 0.5) <= Duration::seconds(320));
        assert_eq!(
            POLICY.after_failure(&webhook(None), 8, now, 0.5),
            AfterFailure::Dead
        );
        assert_eq!(
            POLICY.after_failure(&webhook(Some(2)), 2, now, 0.5),
            AfterFailure::Dead,
            "the webhook's own limit wins"
        );
        let late = RetryPolicy {
            max_attempts: 50,
            ..POLICY
        };
        match late.after_failure(&webhook(None), 40, now, 1.0) {
            AfterFailure::RetryAt(at) => assert_eq!(at - now, MAX_RETRY_DELAY),
            AfterFailure::Dead => panic!("40 of 50 attempts is not dead"),
        }
    }

    #[test]
    fn the_circuit_opens_after_failures_in_a_row_and_closes_on_success() {
        let now = Utc::now();
        let mut circuit = Circuit::default();
        for _ in 1..BREAKER_FAILURES {
            circuit.failed(now, "HTTP 503", Duration::minutes(5));
        }
        assert_eq!(circuit.next_allowed(now), now, "still closed");
        circuit.failed(now, "HTTP 503", Duration::minutes(5));
        assert_eq!(circuit.next_allowed(now), now + Duration::minutes(5));
        circuit.succeeded(now);
        assert_eq!(circuit.next_allowed(now), now);
        assert_eq!(circuit.consecutive_failures, 0);
    }

    #[test]
    fn signs_timestamp_and_body_as_documented() {
        // Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            signature("whsec_test", 1_700_000_000, b"{}"),
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }
}
