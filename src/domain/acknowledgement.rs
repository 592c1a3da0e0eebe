//! The message a customer gets the moment their ticket is taken in.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::sla::Target;
use super::ticket::{Kind, Ticket};

/// When the customer can expect a first answer: the first-response clock's budget and due
/// time. `None` for a ticket without clocks.
pub fn expected_response(ticket: &Ticket) -> Option<(Duration, Option<DateTime<Utc>>)> {
    let clock = ticket.sla.clock(Target::FirstResponse)?;
    Some((clock.budget, clock.due))
}

/// Thanks, the ticket number, and when to expect an answer, in the customer's terms: within
/// a time when the clock counts around the clock, by a time of the team's when it counts
/// working hours, and that the ticket came in outside them when it did.
pub fn acknowledgement_text(ticket: &Ticket) -> String {
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
    let Some((within, Some(due))) = expected_response(ticket) else {
        return format!(
            "{greeting}, thank you for your {what}. Your ticket number is {number}; please \
             quote it whenever you contact us. We will get back to you as soon as we can.",
            number = ticket.number
        );
    };
    let by = if due == ticket.created_at + within {
        format!("within {}", in_words(within))
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
    format!(
        "{greeting}, thank you for your {what}. Your ticket number is {number}; please quote it \
         whenever you contact us. {when}",
        number = ticket.number,
    )
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
        let text = acknowledgement_text(&ticket);
        assert!(
            text.starts_with("Dear Li Lei, thank you for your complaint."),
            "{text}"
        );
        assert!(text.contains("FB202611220001"), "{text}");
        assert!(text.ends_with("within 4 hours."), "{text}");
        // At 16:00 they run into Tuesday.
        let text = acknowledgement_text(&taken_in(Kind::Complaint, shanghai(23, 16)));
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
        let text = acknowledgement_text(&taken_in(Kind::Problem, shanghai(28, 22)));
        assert!(
            text.ends_with(
                "Your report reached us outside our working hours; we are back Monday 30 \
                 November 09:00 (Asia/Shanghai), and will get back to you by Wednesday 2 \
                 December 15:00 (Asia/Shanghai)."
            ),
            "{text}"
        );
    }
}
