//! Rate limits: a token bucket per credential, sized by its role, and one per customer for
//! intake. Limits are kept in each instance's memory: with several instances, a caller may
//! spend each one's allowance.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::domain::access::{Principal, Role};
use crate::domain::error::Refusal;

/// How fast something may go: `amount` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub amount: NonZeroU32,
    pub per: Duration,
}

impl Rate {
    /// `2/s`, `600/m`, `10/h`.
    pub fn parse(text: &str) -> Result<Rate, String> {
        let (amount, unit) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not a rate such as 2/s, 600/m or 10/h"))?;
        let amount: u32 = amount
            .trim()
            .parse()
            .map_err(|_| format!("{amount:?} is not a whole number of calls"))?;
        let amount = NonZeroU32::new(amount)
            .ok_or_else(|| "a rate of 0 would refuse everything".to_owned())?;
        let per = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            other => return Err(format!("{other:?} is not a unit: s, m or h")),
        };
        Ok(Rate { amount, per })
    }

    /// A bucket that holds `amount` calls and refills at this rate.
    fn quota(self) -> Quota {
        let each = self.per / self.amount.get();
        Quota::with_period(each.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(self.amount))
            .allow_burst(self.amount)
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "second",
            60 => "minute",
            _ => "hour",
        };
        write!(f, "{} calls per {unit}", self.amount)
    }
}

/// The defaults of `--rate-limit`: enough for bulk intake by connectors and admins, a person's
/// pace for staff, and a little for a customer.
pub const DEFAULT_RATES: &str =
    "admin=1000/s,connector=2000/s,supervisor=100/s,agent=100/s,analyst=50/s,customer=5/s";

/// Parses `role=rate,…` (the roles not named keep their default).
pub fn parse_rates(text: &str) -> Result<HashMap<Role, Rate>, String> {
    let mut rates = HashMap::new();
    for item in [DEFAULT_RATES, text]
        .join(",")
        .split(',')
        .filter(|i| !i.trim().is_empty())
    {
        let (role, rate) = item
            .split_once('=')
            .ok_or_else(|| format!("{item:?} is not role=rate, e.g. customer=2/s"))?;
        let role: Role = role.trim().parse().map_err(|_| {
            format!(
                "{role:?} is not a role: {}",
                Role::ALL
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        rates.insert(role, Rate::parse(rate)?);
    }
    Ok(rates)
}

/// The buckets of one instance.
pub struct RateLimits {
    per_role: HashMap<Role, (Rate, DefaultKeyedRateLimiter<String>)>,
    intake: (Rate, DefaultKeyedRateLimiter<String>),
}

impl RateLimits {
    pub fn new(per_role: &HashMap<Role, Rate>, intake: Rate) -> RateLimits {
        RateLimits {
            per_role: per_role
                .iter()
                .map(|(&role, &rate)| (role, (rate, DefaultKeyedRateLimiter::keyed(rate.quota()))))
                .collect(),
            intake: (intake, DefaultKeyedRateLimiter::keyed(intake.quota())),
        }
    }

    /// Takes one call from the caller's bucket.
    pub fn call(&self, caller: &Principal) -> Result<(), Refusal> {
        match self.per_role.get(&caller.role) {
            Some((rate, limiter)) => take(limiter, *rate, &caller.name, || caller.actor()),
            None => Ok(()),
        }
    }

    /// Takes one ticket from a customer's intake bucket.
    pub fn intake(&self, customer: &str) -> Result<(), Refusal> {
        if customer.is_empty() {
            return Ok(());
        }
        let (rate, limiter) = &self.intake;
        take(limiter, *rate, customer, || format!("customer:{customer}"))
    }

    /// Forgets the buckets that are full again, so that memory follows the active callers.
    pub fn forget_idle(&self) {
        for (_, limiter) in self.per_role.values() {
            limiter.retain_recent();
        }
        self.intake.1.retain_recent();
    }
}

fn take(
    limiter: &DefaultKeyedRateLimiter<String>,
    rate: Rate,
    key: &str,
    subject: impl FnOnce() -> String,
) -> Result<(), Refusal> {
    // Looking up by &str would need the key's own type: one small allocation per call.
    match limiter.check_key(&key.to_owned()) {
        Ok(()) => Ok(()),
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Err(Refusal::Exhausted {
                subject: subject(),
                description: format!(
                    "over the limit of {rate}; retry in {} ms",
                    wait.as_millis().max(1)
                ),
                retry_after: wait,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_keep_defaults() {
        let rates = parse_rates("customer=2/s, analyst=600/m").unwrap();
        assert_eq!(rates[&Role::Customer].amount.get(), 2);
        assert_eq!(rates[&Role::Analyst].per, Duration::from_secs(60));
        assert_eq!(rates[&Role::Connector].amount.get(), 2000);
        assert!(parse_rates("customer=0/s").is_err());
        assert!(parse_rates("king=1/s").is_err());
        assert!(parse_rates("customer=1/d").is_err());
    }

    #[test]
    fn a_bucket_refuses_past_its_burst_and_says_when_to_retry() {
        let limits = RateLimits::new(
            &parse_rates("customer=2/m").unwrap(),
            Rate::parse("1/h").unwrap(),
        );
        let customer = Principal {
            name: "c".into(),
            role: Role::Customer,
            agent: None,
            teams: Vec::new(),
            customer: Some("c-1".into()),
        };
        assert!(limits.call(&customer).is_ok());
        assert!(limits.call(&customer).is_ok());
        match limits.call(&customer) {
            Err(Refusal::Exhausted { retry_after, .. }) => {
                assert!(retry_after > Duration::from_secs(20), "{retry_after:?}")
            }
            other => panic!("{other:?}"),
        }
        assert!(limits.intake("c-1").is_ok());
        assert!(limits.intake("c-1").is_err());
        assert!(limits.intake("c-2").is_ok());
    }
}
