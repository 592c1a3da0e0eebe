//! The message a customer gets the moment their ticket is taken in, in their language.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::language::Language;
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

/// When the answer comes, as the acknowledgement says it.
enum Answer {
    /// No time: the ticket has no clocks, or its clock has no working time left.
    Soon,
    /// No time, because nobody is there to keep one: it waits in the queue.
    Queued,
    /// Within the budget, counted around the clock from now.
    Within(Duration),
    /// By a time of the team's.
    By(DateTime<Utc>),
}

/// Thanks, the ticket number, and when to expect an answer, in the customer's language and
/// terms: within a time when the clock counts around the clock, by a time of the team's (in
/// its calendar's zone) when it counts working hours, and that the ticket came in outside
/// them when it did. A time is promised only when someone can keep it: the ticket has an
/// agent, a member of its team is online, or, outside working hours, the team has people who
/// come back.
pub fn acknowledge(ticket: &Ticket, duty: Duty) -> Acknowledgement {
    let someone_keeps_it = ticket.assignee.is_some()
        || match duty {
            Duty::OnDuty => true,
            Duty::Away => ticket.sla.off_hours_until.is_some(),
            Duty::Nobody => false,
        };
    let clock = ticket.sla.clock(Target::FirstResponse);
    let (answer, expected) = match clock {
        None => (Answer::Soon, None),
        Some(_) if !someone_keeps_it => (Answer::Queued, None),
        Some(clock) => {
            let answer = match clock.due {
                None => Answer::Soon,
                Some(due) if due == ticket.created_at + clock.budget => {
                    Answer::Within(clock.budget)
                }
                Some(due) => Answer::By(due),
            };
            (answer, Some((clock.budget, clock.due)))
        }
    };
    // Outside working hours: when the team is back, unless the answer comes before that.
    let back = match (&answer, ticket.sla.off_hours_until) {
        (Answer::Queued | Answer::Soon, _) | (_, None) => None,
        (Answer::Within(d), Some(opens)) if ticket.created_at + *d <= opens => Some(None),
        (Answer::By(due), Some(opens)) if *due <= opens => Some(None),
        (_, Some(opens)) => Some(Some(opens)),
    };
    let zone: Tz = ticket
        .sla
        .zone
        .as_deref()
        .and_then(|z| z.parse().ok())
        .unwrap_or(chrono_tz::UTC);
    let text = match ticket.language() {
        Language::En => english(ticket, &answer, back, zone),
        Language::Zh => chinese(ticket, &answer, back, zone),
    };
    Acknowledgement { text, expected }
}

/// `back`: `None` in working hours; `Some(None)` outside them with the answer before the
/// team is back; `Some(Some(opens))` outside them until `opens`.
fn english(
    ticket: &Ticket,
    answer: &Answer,
    back: Option<Option<DateTime<Utc>>>,
    zone: Tz,
) -> String {
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
        "{greeting}, thank you for your {what}. Your ticket number is {}; please quote it \
         whenever you contact us.",
        ticket.number
    );
    let at = |t| Language::En.datetime(t, zone);
    let by = match answer {
        Answer::Soon => return format!("{thanks} We will get back to you as soon as we can."),
        Answer::Queued => {
            return format!(
                "{thanks} It is in our queue, and we will get back to you as soon as one of our \
                 team can take it."
            );
        }
        Answer::Within(d) => format!("within {}", Language::En.duration(*d)),
        Answer::By(due) => format!("by {}", at(*due)),
    };
    let when = match back {
        None => format!("We will get back to you {by}."),
        Some(None) => format!(
            "Your {what} reached us outside our working hours; we will still get back to you \
             {by}."
        ),
        Some(Some(opens)) => format!(
            "Your {what} reached us outside our working hours; we are back {}, and will get \
             back to you {by}.",
            at(opens)
        ),
    };
    format!("{thanks} {when}")
}

/// The same in Chinese; `back` as in [`english`].
fn chinese(
    ticket: &Ticket,
    answer: &Answer,
    back: Option<Option<DateTime<Utc>>>,
    zone: Tz,
) -> String {
    let what = match ticket.kind {
        Kind::Suggestion => "建议",
        Kind::Complaint => "投诉",
        Kind::Problem => "问题反馈",
        Kind::Inquiry => "咨询",
    };
    let greeting = match ticket.customer.name.trim() {
        "" => "您好！".to_owned(),
        name => format!("尊敬的{name}，您好！"),
    };
    let thanks = format!(
        "{greeting}感谢您的{what}。您的工单号是 {}，今后联系我们时请提供此工单号。",
        ticket.number
    );
    let at = |t| Language::Zh.datetime(t, zone);
    let by = match answer {
        Answer::Soon => return format!("{thanks}我们会尽快与您联系。"),
        Answer::Queued => {
            return format!(
                "{thanks}您的{what}已进入处理队列，我们的工作人员接手后会尽快与您联系。"
            );
        }
        Answer::Within(d) => format!("{}内", Language::Zh.duration(*d)),
        Answer::By(due) => format!("{}前", at(*due)),
    };
    let when = match back {
        None => format!("我们将在{by}回复您。"),
        Some(None) => format!("您的{what}是在我们的工作时间以外收到的，我们仍将在{by}回复您。"),
        Some(Some(opens)) => format!(
            "您的{what}是在我们的工作时间以外收到的。我们将于{}恢复工作，并在{by}回复您。",
            at(opens)
        ),
    };
    format!("{thanks}{when}")
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

    #[test]
    fn writes_to_a_chinese_customer_in_chinese() {
        let mut ticket = taken_in(Kind::Complaint, shanghai(23, 16));
        ticket.customer.name = "王芳".into();
        ticket.customer.language = Some(Language::Zh);
        assert_eq!(
            acknowledge(&ticket, Duty::OnDuty).text,
            "尊敬的王芳，您好！感谢您的投诉。您的工单号是 FB202611220001，今后联系我们时请提供此\
             工单号。我们将在2026年11月24日（星期二）11:00（北京时间）前回复您。"
        );
        let mut night = taken_in(Kind::Problem, shanghai(28, 22));
        night.customer.language = Some(Language::Zh);
        assert!(
            acknowledge(&night, Duty::Away).text.ends_with(
                "您的问题反馈是在我们的工作时间以外收到的。我们将于2026年11月30日（星期一）\
                 09:00（北京时间）恢复工作，并在2026年12月2日（星期三）15:00（北京时间）前回复您。"
            ),
            "{}",
            acknowledge(&night, Duty::Away).text
        );
        assert!(
            acknowledge(&night, Duty::Nobody)
                .text
                .ends_with("您的问题反馈已进入处理队列，我们的工作人员接手后会尽快与您联系。")
        );
    }
}
