//! Malicious complaints: a ticket is suspected when its sender sends many near-identical ones
//! in a short time, or when it says nothing real; a suspected ticket is held for review
//! instead of routed. A sender confirmed malicious, or blocked by hand, is refused at intake
//! until their restriction ends.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::error::{Refusal, versioned};
use super::ticket::{Customer, named_enum};

/// When intake suspects a ticket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// How far back a sender's tickets count.
    pub window: Duration,
    /// Near-identical tickets (this one included) within the window that make it suspect;
    /// 0 turns the check off.
    pub threshold: usize,
    /// How alike two texts must be to count as near-identical (0 to 1).
    pub similarity: f64,
    /// How long a sender confirmed malicious may not open tickets.
    pub restriction: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            window: Duration::minutes(10),
            threshold: 5,
            similarity: 0.7,
            restriction: Duration::days(7),
        }
    }
}

/// Why a new ticket is held for review, if it is: `earlier` are the texts (title and
/// description) of the sender's tickets within the policy's window.
pub fn suspect(
    title: &str,
    description: &str,
    earlier: &[String],
    policy: &Policy,
) -> Option<String> {
    if policy.threshold == 0 {
        return None;
    }
    let text = format!("{title} {description}");
    if says_nothing(&text) {
        return Some("its text says nothing: no real problem is described".to_owned());
    }
    let alike = earlier
        .iter()
        .filter(|e| similarity(e, &text) >= policy.similarity)
        .count();
    (alike + 1 >= policy.threshold).then(|| {
        format!(
            "{} near-identical tickets from this sender within {} minutes",
            alike + 1,
            policy.window.num_minutes()
        )
    })
}

/// Whether `text` carries no content: fewer than three different letters or digits (in any
/// script), as in "aaaaa", "???", "111".
pub fn says_nothing(text: &str) -> bool {
    let mut seen: Vec<char> = text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len() < 3
}

/// How alike two texts are, 0 to 1: the Jaccard index of their character pairs, letters and
/// digits only, case folded — which reads Chinese and English alike.
pub fn similarity(a: &str, b: &str) -> f64 {
    fn pairs(text: &str) -> Vec<(char, char)> {
        let chars: Vec<char> = text
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        let mut pairs: Vec<(char, char)> = chars.windows(2).map(|w| (w[0], w[1])).collect();
        pairs.sort_unstable();
        pairs.dedup();
        pairs
    }
    let (a, b) = (pairs(a), pairs(b));
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let shared = a.iter().filter(|p| b.binary_search(p).is_ok()).count();
    shared as f64 / (a.len() + b.len() - shared) as f64
}

named_enum!(
    /// What identifies a blocked sender.
    SenderKind {
        Customer = "customer",
        Phone = "phone",
        Email = "email",
    }
);

/// A sender whose tickets are refused until `until` (for good when `None`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockedSender {
    pub kind: SenderKind,
    pub value: String,
    pub reason: String,
    pub until: Option<DateTime<Utc>>,
    /// The ticket whose confirmation blocked them, if one did.
    pub ticket: Option<String>,
    pub created_by: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

versioned!(BlockedSender);

impl BlockedSender {
    /// A new block of `kind` `value`, version 1.
    pub fn new(
        kind: SenderKind,
        value: &str,
        reason: &str,
        until: Option<DateTime<Utc>>,
        created_by: &str,
        now: DateTime<Utc>,
    ) -> BlockedSender {
        BlockedSender {
            kind,
            value: normalized(kind, value),
            reason: reason.to_owned(),
            until,
            ticket: None,
            created_by: created_by.to_owned(),
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    /// This block as `wanted` renews it: its reason, ticket and end, except that with
    /// `lengthen_only` the end moves only later. A new version when anything changed.
    pub fn renewed(&self, wanted: BlockedSender, lengthen_only: bool, now: DateTime<Utc>) -> Self {
        let until = match (self.until, wanted.until) {
            _ if !lengthen_only => wanted.until,
            (None, _) | (_, None) => None,
            (Some(had), Some(wants)) => Some(had.max(wants)),
        };
        let mut renewed = BlockedSender {
            reason: wanted.reason,
            ticket: wanted.ticket.or_else(|| self.ticket.clone()),
            until,
            ..self.clone()
        };
        if renewed != *self {
            renewed.version += 1;
            renewed.updated_at = now;
        }
        renewed
    }

    /// The name of a block on `kind` `value`, however it is spelled: `customer:u-1001`,
    /// `phone:+8613800138000`, `email:li@example.com`.
    pub fn key_of(kind: SenderKind, value: &str) -> String {
        format!("{kind}:{}", normalized(kind, value))
    }

    pub fn key(&self) -> String {
        Self::key_of(self.kind, &self.value)
    }

    /// Whether it is in force at `now`.
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| now < until)
    }

    /// The refusal of an intake it blocks.
    pub fn refusal(&self) -> Refusal {
        Refusal::Blocked {
            sender: self.key(),
            reason: self.reason.clone(),
            until: self.until,
        }
    }
}

/// What names `customer`: their external id, phone and e-mail address, as blocks name them.
pub fn senders(customer: &Customer) -> Vec<(SenderKind, String)> {
    [
        (SenderKind::Customer, &customer.external_id),
        (SenderKind::Phone, &customer.phone),
        (SenderKind::Email, &customer.email),
    ]
    .into_iter()
    .map(|(kind, value)| (kind, normalized(kind, value)))
    .filter(|(_, value)| !value.is_empty())
    .collect()
}

/// A sender's identifier as blocks compare it, so that a blocked sender cannot pass by
/// spelling it otherwise: a phone number as its digits (and a leading `+`), an e-mail
/// address in lower case, an external id trimmed.
pub fn normalized(kind: SenderKind, value: &str) -> String {
    let value = value.trim();
    match kind {
        SenderKind::Customer => value.to_owned(),
        SenderKind::Email => value.to_lowercase(),
        SenderKind::Phone => {
            let digits = value.chars().filter(char::is_ascii_digit);
            value
                .starts_with('+')
                .then_some('+')
                .into_iter()
                .chain(digits)
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_identical_texts_are_alike_in_either_script() {
        let a = "Refund not received for order 1234, please help";
        assert!(similarity(a, "Refund not received for order 1234 please help!!") > 0.9);
        assert!(similarity(a, "The app crashes when I open my orders") < 0.3);
        let alike = Policy::default().similarity;
        assert!(
            similarity(
                "支付失败，钱被扣了但订单没有成功",
                "支付失败，钱被扣了，订单没有成功"
            ) >= alike
        );
        assert!(similarity("支付失败", "物流太慢了") < 0.1);
    }

    #[test]
    fn a_flood_of_near_identical_tickets_is_suspect_from_the_threshold_on() {
        let policy = Policy::default();
        let text = "Refund not received for order 1234";
        let earlier: Vec<String> = (0..3).map(|_| format!("{text} now")).collect();
        assert_eq!(
            suspect(text, "", &earlier, &policy),
            None,
            "the fourth is not yet"
        );
        let earlier: Vec<String> = (0..4).map(|_| format!("{text} now")).collect();
        let why = suspect(text, "", &earlier, &policy).expect("the fifth is");
        assert!(why.starts_with("5 near-identical"), "{why}");
        // Different complaints from one busy customer are not a flood.
        let varied: Vec<String> = [
            "App crashes",
            "Parcel lost in Shanghai",
            "Wrong size shipped",
            "Coupon refused",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(suspect(text, "", &varied, &policy), None);
        let off = Policy {
            threshold: 0,
            ..policy
        };
        assert_eq!(suspect("aaa", "", &earlier, &off), None);
    }

    #[test]
    fn a_text_with_nothing_in_it_is_suspect() {
        for empty in ["aaaaaa", "???", "111 111", "啊啊啊啊", ". . ."] {
            assert!(says_nothing(empty), "{empty}");
        }
        for real in ["App crashes", "退款没到", "ok no"] {
            assert!(!says_nothing(real), "{real}");
        }
        assert!(suspect("aaaa", "aaaa", &[], &Policy::default()).is_some());
    }

    #[test]
    fn blocks_end_when_they_say() {
        let now = Utc::now();
        let mut block = BlockedSender {
            kind: SenderKind::Phone,
            value: "13800138000".into(),
            reason: "confirmed".into(),
            until: Some(now + Duration::days(7)),
            ticket: None,
            created_by: "key:sue".into(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        assert!(block.in_force(now));
        assert!(!block.in_force(now + Duration::days(8)));
        block.until = None;
        assert!(block.in_force(now + Duration::days(800)));
        assert_eq!(block.key(), "phone:13800138000");
    }

    #[test]
    fn a_sender_is_the_same_however_spelled() {
        let phone = |v: &str| BlockedSender::key_of(SenderKind::Phone, v);
        assert_eq!(phone("+86 138-0013 (8000)"), "phone:+8613800138000");
        assert_eq!(phone(" 138 0013 8000"), "phone:13800138000");
        let email = BlockedSender::key_of(SenderKind::Email, " Li.Lei@Example.COM ");
        assert_eq!(email, "email:li.lei@example.com");
        let customer = Customer {
            external_id: " u-1 ".into(),
            phone: "+86 138 0013 8000".into(),
            email: String::new(),
            ..Customer::default()
        };
        assert_eq!(
            senders(&customer),
            [
                (SenderKind::Customer, "u-1".to_owned()),
                (SenderKind::Phone, "+8613800138000".to_owned())
            ]
        );
    }

    #[test]
    fn a_confirmation_only_lengthens_a_block_and_a_hand_may_shorten_it() {
        let now = Utc::now();
        let week = BlockedSender::new(
            SenderKind::Customer,
            "u-1",
            "flood",
            Some(now + Duration::days(7)),
            "key:sue",
            now,
        );
        let day = BlockedSender::new(
            SenderKind::Customer,
            "u-1",
            "again",
            Some(now + Duration::days(1)),
            "key:ann",
            now,
        );
        let confirmed = week.renewed(day.clone(), true, now);
        assert_eq!(
            (
                confirmed.until,
                confirmed.reason.as_str(),
                confirmed.version
            ),
            (week.until, "again", 2)
        );
        assert_eq!(confirmed.created_by, "key:sue", "who blocked first stays");
        let by_hand = week.renewed(day, false, now);
        assert_eq!(by_hand.until, Some(now + Duration::days(1)));
        let same = week.renewed(week.clone(), true, now);
        assert_eq!(same, week, "nothing new: no new version");
    }
}
