//! SLA clocks: one per target of a ticket (acknowledge, first response, resolution), each
//! counting the working time of a calendar against a budget, paused while the ticket waits
//! on the customer.
//!
//! A clock keeps the working time used up to its last pause or resume, and while it runs,
//! the instant it comes due; everything else follows from those and the calendar.

use chrono::{DateTime, Duration, Utc};

use super::calendar::Calendar;
use super::ticket::named_enum;

named_enum!(
    /// What a clock measures.
    Target {
        Acknowledge = "ACKNOWLEDGE",
        FirstResponse = "FIRST_RESPONSE",
        Resolution = "RESOLUTION",
    }
);

named_enum!(
    /// Where a clock stands.
    ClockState {
        Running = "RUNNING",
        Paused = "PAUSED",
        Met = "MET",
        Breached = "BREACHED",
    }
);

/// One target's clock on one ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaClock {
    pub target: Target,
    /// Working time allowed.
    pub budget: Duration,
    pub state: ClockState,
    /// Working time used before the current run (all of it when paused or stopped).
    used: Duration,
    /// When the current run began; `None` unless running.
    running_since: Option<DateTime<Utc>>,
    /// When the clock comes due; `None` unless running.
    pub due: Option<DateTime<Utc>>,
    /// Wall-clock time spent paused, and since when it is paused now.
    paused: Duration,
    paused_since: Option<DateTime<Utc>>,
    /// When it was met or breached.
    pub stopped_at: Option<DateTime<Utc>>,
}

impl SlaClock {
    /// Starts a clock with `budget` of working time at `now`.
    pub fn start(
        target: Target,
        budget: Duration,
        now: DateTime<Utc>,
        calendar: &Calendar,
    ) -> SlaClock {
        let mut clock = SlaClock {
            target,
            budget,
            state: ClockState::Running,
            used: Duration::zero(),
            running_since: Some(now),
            due: None,
            paused: Duration::zero(),
            paused_since: None,
            stopped_at: None,
        };
        clock.due = clock.due_at(calendar);
        clock
    }

    /// Working time used by `now`.
    pub fn elapsed(&self, now: DateTime<Utc>, calendar: &Calendar) -> Duration {
        self.used
            + self
                .running_since
                .map_or(Duration::zero(), |since| calendar.between(since, now))
    }

    /// Wall-clock time spent paused by `now`.
    pub fn paused(&self, now: DateTime<Utc>) -> Duration {
        self.paused
            + self
                .paused_since
                .map_or(Duration::zero(), |since| now - since)
    }

    /// Stops counting: the ticket waits on the customer. Only a running clock pauses.
    pub fn pause(&mut self, now: DateTime<Utc>, calendar: &Calendar) {
        if self.state != ClockState::Running {
            return;
        }
        self.used = self.elapsed(now, calendar);
        self.running_since = None;
        self.due = None;
        self.paused_since = Some(now);
        self.state = ClockState::Paused;
    }

    /// Counts again from `now`, with what was left at the pause.
    pub fn resume(&mut self, now: DateTime<Utc>, calendar: &Calendar) {
        if self.state != ClockState::Paused {
            return;
        }
        self.paused = self.paused(now);
        self.paused_since = None;
        self.running_since = Some(now);
        self.state = ClockState::Running;
        self.due = self.due_at(calendar);
    }

    /// The target was reached at `now`: met if in time, breached otherwise.
    pub fn stop(&mut self, now: DateTime<Utc>, calendar: &Calendar) {
        if matches!(self.state, ClockState::Met | ClockState::Breached) {
            return;
        }
        self.resume(now, calendar);
        self.used = self.elapsed(now, calendar);
        self.running_since = None;
        self.due = None;
        self.state = if self.used <= self.budget {
            ClockState::Met
        } else {
            ClockState::Breached
        };
        self.stopped_at = Some(now);
    }

    /// The budget changed (the priority did): what is left is recomputed from what was used.
    pub fn rebudget(&mut self, budget: Duration, calendar: &Calendar) {
        self.budget = budget;
        if self.state == ClockState::Running {
            self.due = self.due_at(calendar);
        }
    }

    /// Marks a running clock breached once its due time has passed; true when it just did.
    pub fn check_breach(&mut self, now: DateTime<Utc>) -> bool {
        let overdue = self.state == ClockState::Running && self.due.is_some_and(|due| now >= due);
        if overdue {
            self.state = ClockState::Breached;
            self.stopped_at = self.due;
        }
        overdue
    }

    /// When the clock will have used `share` of its budget (the at-risk warning), while it runs.
    pub fn at_risk_at(&self, share: f64, calendar: &Calendar) -> Option<DateTime<Utc>> {
        let since = self
            .running_since
            .filter(|_| self.state == ClockState::Running)?;
        let threshold =
            Duration::milliseconds((self.budget.num_milliseconds() as f64 * share) as i64);
        calendar.add(since, (threshold - self.used).max(Duration::zero()))
    }

    /// When a running clock comes due: what its budget leaves after the time used before
    /// this run, counted from the start of this run.
    fn due_at(&self, calendar: &Calendar) -> Option<DateTime<Utc>> {
        calendar.add(
            self.running_since?,
            (self.budget - self.used).max(Duration::zero()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::Period;
    use chrono::TimeZone;

    /// Monday to Friday 09:00–18:00 UTC.
    fn office() -> Calendar {
        let day = vec![Period::parse("09:00", "18:00").unwrap()];
        let week = [
            day.clone(),
            day.clone(),
            day.clone(),
            day.clone(),
            day,
            vec![],
            vec![],
        ];
        Calendar::new(chrono_tz::UTC, week, [].into(), [].into()).unwrap()
    }

    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap()
    }

    #[test]
    fn runs_pauses_resumes_and_meets() {
        let cal = office();
        // Monday 23 November 16:00, four working hours: due Tuesday 11:00.
        let mut clock =
            SlaClock::start(Target::Resolution, Duration::hours(4), at(23, 16, 0), &cal);
        assert_eq!(clock.due, Some(at(24, 11, 0)));
        // Waiting on the customer from 17:00 Monday to 10:00 Wednesday: one hour used.
        clock.pause(at(23, 17, 0), &cal);
        assert_eq!((clock.state, clock.due), (ClockState::Paused, None));
        assert_eq!(clock.elapsed(at(25, 9, 0), &cal), Duration::hours(1));
        clock.resume(at(25, 10, 0), &cal);
        assert_eq!(clock.paused(at(25, 10, 0)), Duration::hours(41));
        // Three hours left from Wednesday 10:00.
        assert_eq!(clock.due, Some(at(25, 13, 0)));
        clock.stop(at(25, 12, 0), &cal);
        assert_eq!(
            (clock.state, clock.elapsed(at(26, 12, 0), &cal)),
            (ClockState::Met, Duration::hours(3))
        );
    }

    #[test]
    fn breaches_once_due() {
        let cal = Calendar::always();
        let mut clock = SlaClock::start(
            Target::Acknowledge,
            Duration::minutes(15),
            at(23, 10, 0),
            &cal,
        );
        assert!(!clock.check_breach(at(23, 10, 14)));
        assert!(clock.check_breach(at(23, 10, 15)));
        assert!(
            !clock.check_breach(at(23, 10, 16)),
            "a breach is reported once"
        );
        assert_eq!(
            (clock.state, clock.stopped_at),
            (ClockState::Breached, Some(at(23, 10, 15)))
        );
        // Acknowledging late does not make it met.
        clock.stop(at(23, 10, 40), &cal);
        assert_eq!(clock.state, ClockState::Breached);
        let mut late = SlaClock::start(
            Target::Acknowledge,
            Duration::minutes(15),
            at(23, 10, 0),
            &cal,
        );
        late.stop(at(23, 10, 20), &cal);
        assert_eq!(
            late.state,
            ClockState::Breached,
            "stopped after its due time without a check"
        );
    }

    #[test]
    fn a_new_priority_recomputes_what_is_left() {
        let cal = Calendar::always();
        let mut clock = SlaClock::start(
            Target::FirstResponse,
            Duration::hours(24),
            at(23, 10, 0),
            &cal,
        );
        // Two hours in, a higher priority cuts the budget to four hours: two are left.
        clock.rebudget(Duration::hours(4), &cal);
        assert_eq!(clock.due, Some(at(23, 14, 0)));
        clock.rebudget(Duration::hours(1), &cal);
        assert_eq!(
            clock.due,
            Some(at(23, 11, 0)),
            "over the new budget already: due in the past"
        );
        assert!(clock.check_breach(at(23, 12, 0)));
    }

    #[test]
    fn at_risk_at_a_share_of_the_budget() {
        let cal = office();
        let clock = SlaClock::start(Target::Resolution, Duration::hours(10), at(23, 9, 0), &cal);
        // 80 % of ten working hours is eight: Monday 17:00.
        assert_eq!(clock.at_risk_at(0.8, &cal), Some(at(23, 17, 0)));
        assert_eq!(clock.due, Some(at(24, 10, 0)));
    }
}
