//! The message a customer gets the moment their ticket is taken in.

use chrono::Duration;

use super::ticket::{Kind, Priority, Ticket};

/// How soon a customer can expect a first answer, by priority. These match the default
/// first-response targets of the SLA policies.
pub fn expected_response_within(priority: Priority) -> Duration {
    match priority {
        Priority::Urgent => Duration::hours(1),
        Priority::High => Duration::hours(4),
        Priority::Medium => Duration::hours(24),
        Priority::Low => Duration::hours(48),
    }
}

/// Thanks, the ticket number, and when to expect an answer, in the customer's terms.
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
    format!(
        "{greeting}, thank you for your {what}. Your ticket number is {number}; please quote it \
         whenever you contact us. We will get back to you within {within}.",
        number = ticket.number,
        within = human_duration(expected_response_within(ticket.priority)),
    )
}

fn human_duration(d: Duration) -> String {
    let hours = d.num_hours();
    match hours {
        1 => "1 hour".to_owned(),
        h if h % 24 == 0 && h >= 48 => format!("{} days", h / 24),
        h => format!("{h} hours"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ticket::{Channel, Customer, NewTicket};

    #[test]
    fn names_the_number_and_the_wait() {
        let new = NewTicket {
            request_id: None,
            channel: Channel::App,
            kind: Kind::Complaint,
            title: "t".into(),
            description: "d".into(),
            expected_outcome: String::new(),
            product: String::new(),
            customer: Customer {
                name: "Li Lei".into(),
                ..Customer::default()
            },
            tags: vec![],
            occurred_at: None,
            metadata: Default::default(),
            priority: None,
            category: None,
            actor: "test".into(),
        };
        let ticket = Ticket::intake(
            new.clone(),
            crate::domain::routing::test_route(new.kind),
            "FB202611220001".into(),
            chrono::Utc::now(),
        );
        let text = acknowledgement_text(&ticket);
        assert!(
            text.starts_with("Dear Li Lei, thank you for your complaint."),
            "{text}"
        );
        assert!(text.contains("FB202611220001"), "{text}");
        assert!(text.contains("within 4 hours"), "{text}");
        assert_eq!(human_duration(Duration::hours(48)), "2 days");
    }
}
