//! Improvements (整改): actions against a top issue, with an owner team, a due date and a
//! status that moves PLANNED → IN_PROGRESS → DONE or DROPPED (PLANNED → DROPPED too). Once
//! DONE, its effect is its issue's tickets in equal windows before and after it was done.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::error::{Refusal, versioned};
use super::insights::{Facts, Ratio};
use super::ticket::named_enum;
use super::top_issues::IssueKey;

named_enum!(
    /// Where an improvement stands.
    Status {
        /// Agreed, not started.
        Planned = "PLANNED",
        /// Being carried out.
        InProgress = "IN_PROGRESS",
        /// Carried out: its effect is measured from its done time.
        Done = "DONE",
        /// Given up.
        Dropped = "DROPPED",
    }
);

impl Status {
    /// The statuses it may move to.
    pub fn next(self) -> &'static [Status] {
        match self {
            Status::Planned => &[Status::InProgress, Status::Dropped],
            Status::InProgress => &[Status::Done, Status::Dropped],
            Status::Done | Status::Dropped => &[],
        }
    }
}

/// How long an improvement's fields may be.
pub mod limits {
    pub const TITLE: usize = 200;
    pub const DESCRIPTION: usize = 4_000;
    pub const ISSUE_KEY: usize = 300;
}

/// The longest window an improvement's effect is measured over, on each side of its done time.
pub const EFFECT_WINDOW: Duration = Duration::days(30);

/// What an improvement's id looks like: this prefix, then its number.
const PREFIX: &str = "IMP-";

/// An action against a top issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Improvement {
    /// Its number, assigned by the store (0 before); named as `IMP-<n>`.
    pub id: i64,
    pub title: String,
    pub description: String,
    /// The top issue it answers (`category/product/phrase`, or `category/product/` for all of
    /// a category and product).
    pub issue_key: String,
    pub owner_team: String,
    pub due_at: DateTime<Utc>,
    pub status: Status,
    /// When it became DONE.
    pub done_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

versioned!(Improvement);

/// What a list of improvements keeps.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImprovementFilter {
    /// Only these statuses; empty: all.
    pub statuses: Vec<Status>,
    pub owner_team: Option<String>,
    pub issue_key: Option<String>,
}

impl Improvement {
    /// Its id as callers see it: `IMP-7`.
    pub fn name(&self) -> String {
        name(self.id)
    }

    /// Takes the status it is created in (PLANNED unless given): a new one cannot be
    /// DROPPED, and one created DONE was done `now`.
    pub fn start(&mut self, now: DateTime<Utc>) -> Result<(), Refusal> {
        if self.status == Status::Dropped {
            return Err(Refusal::invalid(
                "improvement.status",
                "a new improvement is PLANNED, IN_PROGRESS or DONE, not DROPPED",
            ));
        }
        self.done_at = (self.status == Status::Done).then_some(now);
        Ok(())
    }

    /// Checks the move from `before`'s status to this one's, and stamps the done time on a
    /// move to DONE. Staying in the same status is no move.
    pub fn moved_from(&mut self, before: &Improvement, now: DateTime<Utc>) -> Result<(), Refusal> {
        self.done_at = before.done_at;
        if self.status == before.status {
            return Ok(());
        }
        if !before.status.next().contains(&self.status) {
            let allowed = before.status.next();
            let allowed = if allowed.is_empty() {
                "it moves no further".to_owned()
            } else {
                format!(
                    "it moves to {} only",
                    allowed
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" or ")
                )
            };
            return Err(Refusal::precondition(
                format!("improvement {}", before.name()),
                format!(
                    "is {}, cannot become {}: {allowed}",
                    before.status, self.status
                ),
            ));
        }
        if self.status == Status::Done {
            self.done_at = Some(now);
        }
        Ok(())
    }
}

/// The id `IMP-<n>` of improvement number `n`.
pub fn name(n: i64) -> String {
    format!("{PREFIX}{n}")
}

/// The number in an improvement id (`IMP-7` → 7; the prefix in any case), if it is one.
pub fn number(id: &str) -> Option<i64> {
    let id = id.trim();
    let digits = id
        .get(..PREFIX.len())
        .filter(|p| p.eq_ignore_ascii_case(PREFIX))
        .and_then(|_| id.get(PREFIX.len()..))?;
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n > 0)
}

/// What an improvement changed: its issue's tickets in equal windows before and after it was
/// done.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Effect {
    /// Each window's length.
    pub window: Duration,
    pub tickets_before: i64,
    pub tickets_after: i64,
    pub repeat_before: Ratio,
    pub repeat_after: Ratio,
}

/// How long each window of an improvement done at `done_at` is, `now`: [`EFFECT_WINDOW`], or
/// the time since it was done when shorter (never negative).
pub fn effect_window(done_at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - done_at).clamp(Duration::zero(), EFFECT_WINDOW)
}

/// The effect of an improvement of issue `key` done at `done_at`, measured over windows of
/// `window`, from `facts` (tickets created around then; others are ignored).
pub fn effect(key: &IssueKey, done_at: DateTime<Utc>, window: Duration, facts: &[Facts]) -> Effect {
    let mut effect = Effect {
        window,
        ..Effect::default()
    };
    for f in facts.iter().filter(|f| f.counted && key.covers(f)) {
        let (tickets, repeat) = if f.created_at >= done_at - window && f.created_at < done_at {
            (&mut effect.tickets_before, &mut effect.repeat_before)
        } else if f.created_at >= done_at && f.created_at < done_at + window {
            (&mut effect.tickets_after, &mut effect.repeat_after)
        } else {
            continue;
        };
        *tickets += 1;
        repeat.whole += 1;
        repeat.part += i64::from(f.repeat);
    }
    effect
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::top_issues::tests::facts;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn planned() -> Improvement {
        let now = at("2026-12-01T00:00:00Z");
        Improvement {
            id: 7,
            title: "Fix the payment retry".into(),
            description: String::new(),
            issue_key: "支付/mall/支付失败".into(),
            owner_team: "tech".into(),
            due_at: now,
            status: Status::Planned,
            done_at: None,
            created_by: "admin".into(),
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn ids_read_both_ways() {
        assert_eq!(name(7), "IMP-7");
        assert_eq!(number("IMP-7"), Some(7));
        assert_eq!(number(" imp-12 "), Some(12));
        for bad in [
            "",
            "IMP-",
            "IMP-0",
            "IMP-x",
            "7",
            "IMP--1",
            "IMP-99999999999999999999",
        ] {
            assert_eq!(number(bad), None, "{bad}");
        }
    }

    #[test]
    fn status_moves_forward_only() {
        let now = at("2026-12-02T00:00:00Z");
        let before = planned();
        let mut done = before.clone();
        done.status = Status::Done;
        let refused = done.moved_from(&before, now).unwrap_err();
        assert!(matches!(refused, Refusal::Precondition { .. }), "{refused}");
        assert!(
            refused.to_string().contains("IN_PROGRESS or DROPPED"),
            "{refused}"
        );

        let mut going = before.clone();
        going.status = Status::InProgress;
        going.moved_from(&before, now).unwrap();
        assert_eq!(going.done_at, None);
        let mut done = going.clone();
        done.status = Status::Done;
        done.moved_from(&going, now).unwrap();
        assert_eq!(done.done_at, Some(now), "DONE sets the done time");

        let mut again = done.clone();
        again.moved_from(&done, now + Duration::days(1)).unwrap();
        assert_eq!(again.done_at, Some(now), "staying DONE keeps it");
        let mut back = done.clone();
        back.status = Status::InProgress;
        assert!(back.moved_from(&done, now).is_err(), "DONE is final");

        let mut dropped = before.clone();
        dropped.status = Status::Dropped;
        dropped.moved_from(&before, now).unwrap();
        assert_eq!(dropped.done_at, None);
    }

    #[test]
    fn a_new_one_is_not_dropped() {
        let now = at("2026-12-02T00:00:00Z");
        let mut new = planned();
        new.start(now).unwrap();
        assert_eq!(new.done_at, None);
        new.status = Status::Done;
        new.start(now).unwrap();
        assert_eq!(new.done_at, Some(now));
        new.status = Status::Dropped;
        assert!(new.start(now).is_err());
    }

    #[test]
    fn the_effect_compares_equal_windows() {
        let done = at("2026-11-15T00:00:00Z");
        let now = at("2026-11-20T00:00:00Z");
        let window = effect_window(done, now);
        assert_eq!(
            window,
            Duration::days(5),
            "shorter than 30 days: the time since done"
        );
        assert_eq!(
            effect_window(done, done + Duration::days(90)),
            EFFECT_WINDOW
        );
        assert_eq!(
            effect_window(done, done - Duration::days(1)),
            Duration::zero()
        );
        let key = IssueKey::parse("支付/mall/支付失败").unwrap();
        let mut tickets = vec![
            facts(1, "2026-11-10T00:00:00Z", "支付", "mall", "支付失败了"),
            facts(2, "2026-11-12T00:00:00Z", "支付", "mall", "订单支付失败"),
            facts(3, "2026-11-14T23:00:00Z", "支付", "mall", "支付失败"),
            facts(4, "2026-11-16T00:00:00Z", "支付", "mall", "支付失败"),
            // Outside the windows, another phrase, another product.
            facts(5, "2026-11-01T00:00:00Z", "支付", "mall", "支付失败"),
            facts(6, "2026-11-16T00:00:00Z", "支付", "mall", "退款太慢"),
            facts(7, "2026-11-16T00:00:00Z", "支付", "shop", "支付失败"),
        ];
        tickets[2].repeat = true;
        tickets[3].repeat = true;
        let e = effect(&key, done, window, &tickets);
        assert_eq!(
            (e.tickets_before, e.tickets_after),
            (3, 1),
            "the window's start is in"
        );
        assert_eq!((e.repeat_before.part, e.repeat_before.whole), (1, 3));
        assert_eq!((e.repeat_after.part, e.repeat_after.whole), (1, 1));
    }
}
