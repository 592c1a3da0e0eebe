//! The message a customer gets the moment their ticket is taken in.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::sla::Target;
use super::staff::Duty;
use super::ticket::{Kind, Ticket};

/// What the customer is told the moment their ticket is taken in.
#[derive(Debug, Clone, PartialEq)]
pub struct Acknowledgement {
    pub text: String,
    /// When to expect a first answer: the first-response clock's budget and due time; `None`
    /// when nobody is there to keep it (or the ticket has no clocks).
    pub expected: Option<(Duration, Option<DateTime<Utc>>)>,
}

/// Thanks, the ticket number, and when to expect an answer, in the customer's terms: within
/// a time when the clock counts around the clock, by a time of the team's when it counts
/// working hours, and that the ticket came in outside them when it did. A time is promised
/// only when someone can keep it: the ticket has an agent, a member of its team is online,
/// or, outside working hours, the team has people who come back.
pub fn acknowledge(ticket: &Ticket, duty: Duty) -> Acknowledgement {
    let what = match ticket.kind {
        Kind::Suggestion => "suggestion",
        Kind::Complaint => "complaint",
        Kind::Problem => "report",
        Kind::Inquiry => "question",
    };
    let greeting = match ticket.customer.name.trim() {
        "" => "Hello".to_owned(),
        name => format!("Dear {name}"),
    };
    let thanks = format!(
        "{greeting}, thank you for your {what}. Your ticket number is {number}; please quote \
         it whenever you contact us.",
        number = ticket.number
    );
    let someone_keeps_it = ticket.assignee.is_some()
        || match duty {
            Duty::OnDuty => true,
            Duty::Away => ticket.sla.off_hours_until.is_some(),
            Duty::Nobody => false,
        };
    let clock = ticket.sla.clock(Target::FirstResponse);
    let (Some(clock), true) = (clock, someone_keeps_it) else {
        let wait = match clock {
            Some(_) => {
                "It is in our queue, and we will get back to you as soon as one of our \
                        team can take it."
            }
            None => "We will get back to you as soon as we can.",
        };
        return Acknowledgement {
            text: format!("{thanks} {wait}"),
            expected: None,
        };
    };
    let expected = Some((clock.budget, clock.due));
    let Some(due) = clock.due else {
        return Acknowledgement {
            text: format!("{thanks} We will get back to you as soon as we can."),
            expected,
        };
    };
    let zone: Tz = ticket
        .sla
        .zone
        .as_deref()
        .and_then(|z| z.parse().ok())
        .unwrap_or(chrono_tz::UTC);
    let local = |at: DateTime<Utc>| {
        format!(
            "{} ({})",
            at.with_timezone(&zone).format("%A %-d %B %H:%M"),
            zone.name()
        )
    };
    let by = if due == ticket.created_at + clock.budget {
        format!("within {}", in_words(clock.budget))
    } else {
        format!("by {}", local(due))
    };
    let when = match ticket.sla.off_hours_until {
        // Counted around the clock: someone answers before the office opens.
        Some(opens) if due <= opens => format!(
            "Your {what} reached us outside our working hours; we will still get back to you \
             {by}."
        ),
        Some(opens) => format!(
            "Your {what} reached us outside our working hours; we are back {}, and will get \
             back to you {by}.",
            local(opens)
        ),
        None => format!("We will get back to you {by}."),
    };
    Acknowledgement {
        text: format!("{thanks} {when}"),
        expected,
    }
}

fn in_words(d: Duration) -> String {
    let plural = |n: i64, unit: &str| match n {
        1 => format!("1 {unit}"),
        n => format!("{n} {unit}s"),
    };
    let minutes = d.num_minutes();
    match minutes {
        m if m % (24 * 60) == 0 && m >= 48 * 60 => plural(m / (24 * 60), "day"),
        m if m % 60 == 0 => plural(m / 60, "hour"),
        m => plural(m, "minute"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sla::{Catalog, default_policies, follow};
    use crate::domain::ticket::Customer;
    use chrono::TimeZone;

    fn taken_in(kind: Kind, at: DateTime<Utc>) -> Ticket {
        let customer = Customer {
            name: "Li Lei".into(),
            ..Customer::default()
        };
        let mut ticket = crate::domain::ticket::sample(kind, customer, at);
        let shanghai = crate::domain::calendar::Calendar::office_hours(chrono_tz::Asia::Shanghai);
        let catalog = Catalog {
            policies: default_policies(at),
            calendars: [("default".to_owned(), shanghai)].into(),
            team_calendars: Default::default(),
            at_risk_share: 0.8,
        };
        follow(None, &mut ticket, &catalog, at);
        ticket
    }

    fn shanghai(d: u32, h: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2026, 11, d, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn names_the_number_and_the_wait() {
        // A HIGH complaint on Monday 10:00: four working hours fit in the day.
        let ticket = taken_in(Kind::Complaint, shanghai(23, 10));
        let text = acknowledge(&ticket, Duty::OnDuty).text;
        assert!(
            text.starts_with("Dear Li Lei, thank you for your complaint."),
            "{text}"
        );
        assert!(text.contains("FB202611220001"), "{text}");
        assert!(text.ends_with("within 4 hours."), "{text}");
        // At 16:00 they run into Tuesday.
        let text = acknowledge(&taken_in(Kind::Complaint, shanghai(23, 16)), Duty::OnDuty).text;
        assert!(
            text.ends_with("by Tuesday 24 November 11:00 (Asia/Shanghai)."),
            "{text}"
        );
        assert_eq!(in_words(Duration::hours(48)), "2 days");
        assert_eq!(in_words(Duration::minutes(30)), "30 minutes");
    }

    #[test]
    fn says_when_it_came_in_off_hours() {
        // A report (MEDIUM, 24 working hours) on Saturday night.
        let text = acknowledge(&taken_in(Kind::Problem, shanghai(28, 22)), Duty::Away).text;
        assert!(
            text.ends_with(
                "Your report reached us outside our working hours; we are back Monday 30 \
                 November 09:00 (Asia/Shanghai), and will get back to you by Wednesday 2 \
                 December 15:00 (Asia/Shanghai)."
            ),
            "{text}"
        );
    }

    #[test]
    fn promises_no_time_that_nobody_keeps() {
        // Monday 10:00, a working hour: nobody online, or nobody at all, in the team.
        let ticket = taken_in(Kind::Complaint, shanghai(23, 10));
        for duty in [Duty::Away, Duty::Nobody] {
            let told = acknowledge(&ticket, duty);
            assert!(
                told.text.ends_with(
                    "It is in our queue, and we will get back to you as soon as one of our team \
                     can take it."
                ),
                "{duty:?}: {}",
                told.text
            );
            assert_eq!(told.expected, None);
        }
        // Saturday night, a team with nobody in it: no "we are back" either.
        let night = acknowledge(&taken_in(Kind::Problem, shanghai(28, 22)), Duty::Nobody);
        assert!(!night.text.contains("back Monday"), "{}", night.text);
        // An agent has it: that is someone.
        let mut assigned = ticket.clone();
        assigned.assignee = Some("ann".into());
        assert!(acknowledge(&assigned, Duty::Nobody).expected.is_some());
    }
}
