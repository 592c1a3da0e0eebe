//! Tasks (协作清单): what a ticket asks of another team. Each names the team (and maybe one of
//! its agents), what is asked, and two clocks counted in that team's calendar: one for the
//! team to accept it, one for the answer. A task moves open → accepted → done, or is
//! declined with a reason, or cancelled when its ticket is resolved without it. A milestone
//! task tells the customer when it is done.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::error::{Refusal, quote};
use super::format::human;
use super::language::Language;
use super::sla::{ClockState, Counting, SlaClock, Target, Trigger};
use super::ticket::{Ticket, named_enum};

/// The longest a task's text fields may be, in characters.
pub mod limits {
    pub const ASK: usize = 2_000;
    pub const MILESTONE: usize = 200;
    pub const NOTE: usize = 2_000;
    /// Open tasks one ticket may hold at once.
    pub const OPEN_PER_TICKET: u32 = 20;
    /// The furthest a task may be due, or accepted: a year (the calendars count that far).
    pub const LONGEST: chrono::Duration = chrono::Duration::days(365);
}

named_enum!(
    /// Where a task stands.
    TaskStatus {
        /// Asked; the team has not accepted it yet.
        Open = "OPEN",
        /// The team took it on.
        Accepted = "ACCEPTED",
        /// The team did what was asked.
        Done = "DONE",
        /// The team will not do it, and said why.
        Declined = "DECLINED",
        /// Withdrawn: its ticket was resolved without it.
        Cancelled = "CANCELLED",
    }
);

named_enum!(
    /// Which of a task's clocks.
    TaskClock {
        /// The team accepts the task.
        Accept = "ACCEPT",
        /// The team answers it: done or declined.
        Answer = "ANSWER",
    }
);

/// A task's two clocks. They reuse the SLA clock: the accept clock is an ACKNOWLEDGE target,
/// the answer clock a RESOLUTION target, and both count the team's working hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskClocks {
    pub accept: SlaClock,
    pub answer: SlaClock,
}

impl TaskClocks {
    fn each(&mut self) -> [(TaskClock, &mut SlaClock); 2] {
        [
            (TaskClock::Accept, &mut self.accept),
            (TaskClock::Answer, &mut self.answer),
        ]
    }

    /// The next instant the scheduler must look at either clock.
    pub fn wake_at(&self) -> Option<DateTime<Utc>> {
        [self.accept.wake_at(), self.answer.wake_at()]
            .into_iter()
            .flatten()
            .min()
    }
}

/// One task of one ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: i64,
    pub ticket_id: i64,
    /// The ticket's number, for the team's work queue.
    pub ticket_number: String,
    /// The team asked.
    pub team: String,
    /// The agent of that team who has it: named when asked, or whoever accepted it.
    pub agent: Option<String>,
    /// What is asked, for staff.
    pub ask: String,
    pub status: TaskStatus,
    /// For a milestone task: what the customer is told was reached when it is done.
    pub milestone: Option<String>,
    pub clocks: TaskClocks,
    /// The calendar the clocks count by; `None`: calendar time.
    pub calendar: Option<String>,
    /// The outcome when done, the reason when declined or cancelled.
    pub note: Option<String>,
    pub request_id: Option<String>,
    pub created_by: String,
    pub accepted_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub version: i64,
}

super::error::versioned!(Task);

/// When the answer is due: an instant, or an amount of the team's working time from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Due {
    At(DateTime<Utc>),
    /// Kept in whole milliseconds, as clocks keep time.
    Within(#[serde(serialize_with = "millis")] Duration),
}

fn optional_millis<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(d.map_or(-1, |d| d.num_milliseconds()))
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(d.num_milliseconds())
}

/// A task as asked, before it has an id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewTask {
    pub ticket_id: i64,
    pub team: String,
    pub agent: Option<String>,
    pub ask: String,
    pub due: Due,
    /// Working time the team has to accept; `None`: the service's default.
    #[serde(serialize_with = "optional_millis")]
    pub accept_within: Option<Duration>,
    pub milestone: Option<String>,
    pub request_id: Option<String>,
}

impl Task {
    /// The task `new` asks of its team on `ticket` at `now`, its clocks counted `by` the
    /// team's calendar (`calendar`); `accept_within` when the request names none.
    pub fn ask(
        ticket: &Ticket,
        new: NewTask,
        created_by: &str,
        calendar: Option<String>,
        by: Counting,
        accept_within: Duration,
        now: DateTime<Utc>,
    ) -> Result<Task, Refusal> {
        let answer_budget = match new.due {
            Due::Within(work) => work,
            Due::At(at) if at <= now => {
                return Err(Refusal::invalid(
                    "due_time",
                    "is in the past: a task is due after it is asked",
                ));
            }
            Due::At(at) => by.calendar.between(now, at),
        };
        if answer_budget <= Duration::zero() {
            return Err(Refusal::invalid(
                "due_time",
                format!(
                    "leaves no working time of team {}'s calendar before it",
                    quote(&new.team)
                ),
            ));
        }
        // Accepting comes before answering: its clock never runs past the answer's.
        let accept_budget = new
            .accept_within
            .unwrap_or(accept_within)
            .min(answer_budget);
        Ok(Task {
            id: 0,
            ticket_id: ticket.id,
            ticket_number: ticket.number.clone(),
            team: new.team,
            agent: new.agent,
            ask: new.ask,
            status: TaskStatus::Open,
            milestone: new.milestone,
            clocks: TaskClocks {
                accept: SlaClock::start(Target::Acknowledge, accept_budget, now, by),
                answer: SlaClock::start(Target::Resolution, answer_budget, now, by),
            },
            calendar,
            note: None,
            request_id: new.request_id,
            created_by: created_by.to_owned(),
            accepted_by: None,
            created_at: now,
            updated_at: now,
            accepted_at: None,
            finished_at: None,
            version: 1,
        })
    }

    /// Whether the team still owes an answer.
    pub fn is_open(&self) -> bool {
        matches!(self.status, TaskStatus::Open | TaskStatus::Accepted)
    }

    /// The team takes the task on; `agent` has it from now, unless one was named.
    pub fn accept(&mut self, agent: &str, by: Counting, now: DateTime<Utc>) -> Result<(), Refusal> {
        self.check_status(&[TaskStatus::Open], "accepted")?;
        self.status = TaskStatus::Accepted;
        self.accepted_by = Some(agent.to_owned());
        self.accepted_at = Some(now);
        self.agent.get_or_insert_with(|| agent.to_owned());
        self.clocks.accept.stop(now, by);
        Ok(())
    }

    /// The team did what was asked (accepting it on the way, if it had not).
    pub fn complete(
        &mut self,
        agent: &str,
        outcome: Option<String>,
        by: Counting,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        self.check_status(&[TaskStatus::Open, TaskStatus::Accepted], "completed")?;
        if self.status == TaskStatus::Open {
            self.accept(agent, by, now)?;
        }
        self.finish(TaskStatus::Done, outcome, by, now);
        Ok(())
    }

    /// The team will not do it, for `reason`.
    pub fn decline(
        &mut self,
        reason: String,
        by: Counting,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        self.check_status(&[TaskStatus::Open, TaskStatus::Accepted], "declined")?;
        self.finish(TaskStatus::Declined, Some(reason), by, now);
        Ok(())
    }

    /// Withdrawn, for `reason`: its ticket no longer waits for it.
    pub fn cancel(&mut self, reason: String, by: Counting, now: DateTime<Utc>) {
        if self.is_open() {
            self.finish(TaskStatus::Cancelled, Some(reason), by, now);
        }
    }

    /// Ends the task: both clocks stop, met if the team answered within them.
    fn finish(
        &mut self,
        status: TaskStatus,
        note: Option<String>,
        by: Counting,
        now: DateTime<Utc>,
    ) {
        self.status = status;
        self.note = note;
        self.finished_at = Some(now);
        self.clocks.accept.stop(now, by);
        self.clocks.answer.stop(now, by);
    }

    fn check_status(&self, from: &[TaskStatus], verb: &str) -> Result<(), Refusal> {
        if from.contains(&self.status) {
            return Ok(());
        }
        Err(Refusal::precondition(
            format!("task {}", self.id),
            format!("a {} task cannot be {verb}", self.status),
        ))
    }

    /// Marks the clocks at risk and overdue as their times pass; returns what it just
    /// recorded, each at most once per clock.
    pub fn check(&mut self, now: DateTime<Utc>) -> Vec<(TaskClock, Trigger)> {
        if !self.is_open() {
            return Vec::new();
        }
        self.clocks
            .each()
            .into_iter()
            .flat_map(|(which, clock)| clock.check(now).into_iter().map(move |t| (which, t)))
            .collect()
    }

    /// The next instant the scheduler must look at the task.
    pub fn wake_at(&self) -> Option<DateTime<Utc>> {
        self.is_open().then(|| self.clocks.wake_at()).flatten()
    }

    /// Whether either clock came due before the team answered.
    pub fn overdue(&self) -> bool {
        self.clocks.accept.state == ClockState::Breached
            || self.clocks.answer.state == ClockState::Breached
    }

    /// What a trigger of `which` clock says, for the event's reason.
    pub fn describe(&self, which: TaskClock, trigger: Trigger) -> String {
        let (clock, verb) = match which {
            TaskClock::Accept => (&self.clocks.accept, "accept"),
            TaskClock::Answer => (&self.clocks.answer, "answer"),
        };
        match trigger {
            Trigger::AtRisk => format!(
                "team {} has not yet {verb}ed task {} ({} allowed)",
                self.team,
                self.id,
                human(clock.budget)
            ),
            Trigger::Breached => format!(
                "team {} did not {verb} task {} within {}",
                self.team,
                self.id,
                human(clock.budget)
            ),
        }
    }
}

/// The public message a done milestone adds to its ticket, in the customer's language. The
/// notification that carries it names the ticket already.
pub fn milestone_message(ticket: &Ticket, milestone: &str) -> String {
    match ticket.language() {
        Language::Zh => format!("新进展：{milestone}。"),
        Language::En => format!("Progress: {milestone}."),
    }
}

/// A ticket's open tasks stand in the way of resolving it, unless the resolve cancels them.
pub fn check_resolve(ticket: &Ticket, cancel_open_tasks: bool) -> Result<(), Refusal> {
    if ticket.open_tasks == 0 || cancel_open_tasks {
        return Ok(());
    }
    Err(Refusal::precondition(
        format!("ticket {}", ticket.number),
        format!(
            "{} of its tasks {} still open: finish them first, or resolve with \
             cancel_open_tasks to withdraw them",
            ticket.open_tasks,
            if ticket.open_tasks == 1 { "is" } else { "are" }
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::Calendar;
    use crate::domain::ticket::{Customer, Kind, sample};
    use chrono::TimeZone;

    fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, minute, 0)
            .unwrap()
    }

    /// Monday 23 November 2026 onward, Monday to Friday 09:00–18:00 UTC.
    fn office() -> Calendar {
        Calendar::office_hours(chrono_tz::UTC)
    }

    fn by(calendar: &Calendar) -> Counting<'_> {
        Counting {
            calendar,
            at_risk_share: 0.8,
        }
    }

    fn new_task(due: Due) -> NewTask {
        NewTask {
            ticket_id: 1,
            team: "billing".into(),
            agent: None,
            ask: "Refund the second charge".into(),
            due,
            accept_within: None,
            milestone: Some("退款已批准".into()),
            request_id: None,
        }
    }

    fn asked(due: Due, now: DateTime<Utc>, cal: &Calendar) -> Task {
        let ticket = sample(Kind::Complaint, Customer::default(), now);
        Task::ask(
            &ticket,
            new_task(due),
            "amy",
            None,
            by(cal),
            Duration::hours(1),
            now,
        )
        .unwrap()
    }

    #[test]
    fn clocks_count_the_teams_working_hours() {
        let cal = office();
        // Asked at 17:30 on Monday: half an hour today, the rest on Tuesday morning.
        let task = asked(Due::Within(Duration::hours(4)), at(23, 17, 30), &cal);
        assert_eq!(task.clocks.accept.due, Some(at(24, 9, 30)));
        assert_eq!(task.clocks.answer.due, Some(at(24, 12, 30)));
        assert_eq!(task.wake_at(), task.clocks.accept.at_risk_at);
    }

    #[test]
    fn a_due_time_is_counted_in_working_time_and_must_leave_some() {
        let cal = office();
        let task = asked(Due::At(at(24, 12, 0)), at(23, 17, 0), &cal);
        assert_eq!(task.clocks.answer.budget, Duration::hours(4));
        let ticket = sample(Kind::Complaint, Customer::default(), at(23, 17, 0));
        let refuse = |due| {
            Task::ask(
                &ticket,
                new_task(due),
                "amy",
                None,
                by(&cal),
                Duration::hours(1),
                at(23, 17, 0),
            )
            .unwrap_err()
        };
        assert!(refuse(Due::At(at(23, 16, 0))).to_string().contains("past"));
        // Saturday morning: no working time between Friday evening and then.
        let friday = at(27, 18, 30);
        let err = Task::ask(
            &ticket,
            new_task(Due::At(at(28, 10, 0))),
            "amy",
            None,
            by(&cal),
            Duration::hours(1),
            friday,
        )
        .unwrap_err();
        assert!(err.to_string().contains("no working time"), "{err}");
    }

    #[test]
    fn the_accept_clock_never_outlasts_the_answer() {
        let cal = office();
        let task = asked(Due::Within(Duration::minutes(30)), at(23, 10, 0), &cal);
        assert_eq!(task.clocks.accept.budget, Duration::minutes(30));
    }

    #[test]
    fn moves_open_accepted_done_and_stops_its_clocks() {
        let cal = office();
        let mut task = asked(Due::Within(Duration::hours(4)), at(23, 10, 0), &cal);
        task.accept("bob", by(&cal), at(23, 10, 20)).unwrap();
        assert_eq!(task.agent.as_deref(), Some("bob"));
        assert_eq!(task.clocks.accept.state, ClockState::Met);
        assert!(task.accept("bob", by(&cal), at(23, 10, 21)).is_err());
        task.complete("bob", Some("refunded".into()), by(&cal), at(23, 15, 0))
            .unwrap();
        assert_eq!(task.status, TaskStatus::Done);
        // 5 h of work against 4 h allowed: answered late.
        assert_eq!(task.clocks.answer.state, ClockState::Breached);
        assert_eq!(task.wake_at(), None);
        assert!(task.decline("no".into(), by(&cal), at(23, 15, 1)).is_err());
    }

    #[test]
    fn completing_an_open_task_accepts_it_on_the_way() {
        let cal = office();
        let mut task = asked(Due::Within(Duration::hours(4)), at(23, 10, 0), &cal);
        task.complete("bob", None, by(&cal), at(23, 10, 5)).unwrap();
        assert_eq!(task.accepted_by.as_deref(), Some("bob"));
        assert_eq!(task.clocks.accept.state, ClockState::Met);
        assert_eq!(task.clocks.answer.state, ClockState::Met);
    }

    #[test]
    fn fires_at_risk_then_overdue_once_each() {
        let cal = office();
        let mut task = asked(Due::Within(Duration::hours(4)), at(23, 10, 0), &cal);
        assert!(task.check(at(23, 10, 30)).is_empty());
        assert_eq!(
            task.check(at(23, 10, 48)),
            vec![(TaskClock::Accept, Trigger::AtRisk)]
        );
        assert_eq!(
            task.check(at(23, 11, 0)),
            vec![(TaskClock::Accept, Trigger::Breached)]
        );
        assert!(task.check(at(23, 11, 1)).is_empty());
        assert!(task.overdue());
        // A late accept still counts the time over, and the answer clock goes on.
        task.accept("bob", by(&cal), at(23, 11, 30)).unwrap();
        assert_eq!(task.wake_at(), task.clocks.answer.at_risk_at);
    }

    #[test]
    fn open_tasks_hold_the_resolve_unless_it_cancels_them() {
        let mut ticket = sample(Kind::Complaint, Customer::default(), at(23, 10, 0));
        assert!(check_resolve(&ticket, false).is_ok());
        ticket.open_tasks = 2;
        let err = check_resolve(&ticket, false).unwrap_err();
        assert!(
            err.to_string().contains("2 of its tasks are still open"),
            "{err}"
        );
        assert!(check_resolve(&ticket, true).is_ok());
    }
}
