//! How urgent a ticket is, and why: urgency from what it says, impact from how many report the
//! same thing, the customer's tier, and whether it repeats an earlier complaint. Every step
//! that raises the priority leaves a reason for the ticket's record.

use super::ticket::{Kind, Priority, Tier};

/// Words that make a ticket urgent, by why (matched in lower case; Chinese as written).
const URGENT: &[(&str, &[&str])] = &[
    (
        "safety",
        &[
            "fire",
            "smoke",
            "explod",
            "injur",
            "burn",
            "electric shock",
            "poison",
            "起火",
            "冒烟",
            "爆炸",
            "受伤",
            "烫伤",
            "触电",
            "中毒",
        ],
    ),
    (
        "money at risk",
        &[
            "charged twice",
            "double charge",
            "fraud",
            "stolen",
            "unauthori",
            "重复扣款",
            "盗刷",
            "被盗",
            "诈骗",
            "被骗",
        ],
    ),
    (
        "service down",
        &[
            "outage",
            "service down",
            "is down",
            "all users",
            "宕机",
            "全部无法",
            "大面积",
        ],
    ),
    (
        "payment failure",
        &[
            "payment failed",
            "payment fails",
            "cannot pay",
            "can't pay",
            "支付失败",
            "付款失败",
            "无法支付",
        ],
    ),
];

/// Reports of the same thing within the window that make it a wide problem.
pub const MANY_REPORTS: usize = 5;
/// Other customers' reports are counted up to this many: enough to say how wide a problem
/// is, at a cost that does not grow with an incident's size.
pub const REPORTS_COUNTED: usize = 100;

/// What the priority is decided from.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts<'a> {
    pub kind: Kind,
    pub title: &'a str,
    pub description: &'a str,
    pub tier: Tier,
    /// Other tickets about the same thing within the impact window.
    pub similar_reports: usize,
    /// The number of an earlier ticket of the same customer about the same matter, if any.
    pub repeat_of: Option<&'a str>,
}

/// A priority and the reasons for it, first to last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub priority: Priority,
    pub reasons: Vec<String>,
}

/// Decides a ticket's priority: the kind's default, urgent when it names a danger to people,
/// money or the service, then one step higher each for wide impact, a VIP customer and a
/// repeated complaint.
pub fn assess(facts: &Facts) -> Assessment {
    let mut priority = Priority::default_for(facts.kind);
    let mut reasons = vec![format!("{priority} by default for {} tickets", facts.kind)];
    let text = format!("{} {}", facts.title, facts.description).to_lowercase();
    if let Some((why, word)) = URGENT
        .iter()
        .find_map(|(why, words)| words.iter().find(|w| text.contains(*w)).map(|w| (why, w)))
    {
        priority = Priority::Urgent;
        reasons.push(format!("URGENT: {why} (mentions \"{word}\")"));
    }
    let mut raise = |priority: &mut Priority, why: String| {
        let higher = one_step_up(*priority);
        if higher != *priority {
            reasons.push(format!("{higher}: {why}"));
            *priority = higher;
        }
    };
    if facts.similar_reports >= MANY_REPORTS {
        let how_many = if facts.similar_reports >= REPORTS_COUNTED {
            format!("{REPORTS_COUNTED} or more")
        } else {
            facts.similar_reports.to_string()
        };
        raise(
            &mut priority,
            format!("{how_many} other customers reported the same"),
        );
    }
    if facts.tier == Tier::Vip {
        raise(&mut priority, "VIP customer".to_owned());
    }
    if let Some(earlier) = facts.repeat_of {
        raise(&mut priority, format!("repeats {earlier}"));
    }
    Assessment { priority, reasons }
}

/// The next priority up; urgent stays urgent.
pub fn one_step_up(priority: Priority) -> Priority {
    match priority {
        Priority::Low => Priority::Medium,
        Priority::Medium => Priority::High,
        Priority::High | Priority::Urgent => Priority::Urgent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(kind: Kind, text: &'static str) -> Facts<'static> {
        Facts {
            kind,
            title: text,
            description: "",
            tier: Tier::Standard,
            similar_reports: 0,
            repeat_of: None,
        }
    }

    #[test]
    fn the_kind_decides_when_nothing_else_does() {
        let a = assess(&facts(Kind::Inquiry, "How do I change my address?"));
        assert_eq!(
            (a.priority, a.reasons.as_slice()),
            (
                Priority::Low,
                ["LOW by default for INQUIRY tickets".to_owned()].as_slice()
            )
        );
    }

    #[test]
    fn danger_to_people_money_or_the_service_is_urgent() {
        for text in [
            "充电器起火了",
            "My card was charged twice",
            "支付失败三次",
            "The app is down for all users",
            "Heater gave off SMOKE",
        ] {
            let a = assess(&facts(Kind::Suggestion, text));
            assert_eq!(a.priority, Priority::Urgent, "{text}: {:?}", a.reasons);
            assert!(a.reasons[1].starts_with("URGENT: "), "{:?}", a.reasons);
        }
    }

    #[test]
    fn impact_tier_and_repetition_each_raise_one_step() {
        let mut f = facts(Kind::Inquiry, "Where is my parcel?");
        f.similar_reports = 7;
        f.tier = Tier::Vip;
        f.repeat_of = Some("FB202611200003");
        let a = assess(&f);
        assert_eq!(a.priority, Priority::Urgent);
        assert_eq!(
            a.reasons,
            [
                "LOW by default for INQUIRY tickets",
                "MEDIUM: 7 other customers reported the same",
                "HIGH: VIP customer",
                "URGENT: repeats FB202611200003"
            ]
        );
        f.similar_reports = MANY_REPORTS - 1;
        f.tier = Tier::Premium;
        assert_eq!(
            assess(&f).priority,
            Priority::Medium,
            "only the repeat raises it"
        );
    }

    #[test]
    fn reports_are_counted_up_to_a_cap_and_said_so() {
        let mut f = facts(Kind::Inquiry, "Where is my parcel?");
        f.similar_reports = REPORTS_COUNTED;
        assert_eq!(
            assess(&f).reasons[1],
            format!("MEDIUM: {REPORTS_COUNTED} or more other customers reported the same")
        );
    }
}
