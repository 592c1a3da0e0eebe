//! Top issues: the most frequent problems of a period, as clusters of similar tickets.
//!
//! Tickets are grouped by category and product; each group is then refined by the key phrases
//! its tickets share ([`super::topics::key_phrases`]). The phrase the most tickets of the group
//! carry splits them off into a cluster when they are a good share of the group
//! ([`MIN_SHARE`], at least [`MIN_TICKETS`]); the phrase grows by the phrases right beside it
//! that the very same tickets carry (adjacent Chinese character pairs join into the longer
//! phrase, 支付 + 付失 + 失败 → 支付失败; adjacent English words into "payment failed"); and the
//! next phrase is looked for among the tickets left, up to [`MAX_SPLITS`] times. What is left
//! of the group stays with the empty phrase. The phrases a group split by, in their order, are
//! the [`Clustering`]: applied to any other tickets (the previous period's, those around an
//! improvement) they put each ticket where the period's own tickets went.
//!
//! An issue's key is `category/product/phrase`; improvements name it, or `category/product/`
//! for the whole of a category and product.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::improvement::{Effect, Improvement, Status};
use super::insights::{Dimension, Facts, Ratio};
use super::period::Period;
use super::report;

/// Issues a report lists when the caller does not say.
pub const DEFAULT_LIMIT: usize = 10;
/// Most issues a report lists.
pub const MAX_LIMIT: usize = 50;
/// The share of its group a phrase's tickets must be to split off a cluster.
pub const MIN_SHARE: f64 = 0.2;
/// The fewest tickets a phrase's cluster has.
pub const MIN_TICKETS: usize = 2;
/// Most phrase clusters one category and product splits into (besides the rest).
pub const MAX_SPLITS: usize = 5;
/// Longest Chinese phrase a cluster grows to, in characters.
pub const MAX_HAN_CHARS: usize = 8;
/// Longest English phrase a cluster grows to, in words.
pub const MAX_WORDS: usize = 3;
/// Example ticket numbers per issue.
pub const EXAMPLES: usize = 5;

/// Which issue: a category and product, and the phrase that refines them (empty: the rest of
/// them, or, in an improvement's key, all of them).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IssueKey {
    pub category: String,
    pub product: String,
    pub phrase: String,
}

impl IssueKey {
    pub fn new(category: &str, product: &str, phrase: &str) -> IssueKey {
        IssueKey {
            category: category.to_owned(),
            product: product.to_owned(),
            phrase: phrase.to_owned(),
        }
    }

    /// `category/product/phrase`.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.category, self.product, self.phrase)
    }

    /// `category/product/`: the key that names the whole of its category and product.
    pub fn group_key(&self) -> String {
        format!("{}/{}/", self.category, self.product)
    }

    /// A key as [`IssueKey::key`] writes it: the category up to the first `/`, the phrase
    /// after the last (phrases hold no `/`), the product between.
    pub fn parse(key: &str) -> Option<IssueKey> {
        let (category, rest) = key.split_once('/')?;
        let (product, phrase) = rest.rsplit_once('/')?;
        Some(IssueKey::new(category, product, phrase))
    }

    /// Whether `facts` is of this key's category and product.
    pub fn of_group(&self, facts: &Facts) -> bool {
        category(facts) == self.category && product(facts) == self.product
    }

    /// Whether `facts` is of this issue: of its category and product, and carrying its phrase
    /// (any phrase, when it has none).
    pub fn covers(&self, facts: &Facts) -> bool {
        self.of_group(facts) && carries(&parts(&self.phrase), facts)
    }
}

fn category(facts: &Facts) -> &str {
    &facts.dims[Dimension::Category.index()]
}

fn product(facts: &Facts) -> &str {
    &facts.dims[Dimension::Product.index()]
}

/// Whether `c` is a CJK ideograph (as key phrases take them).
fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

/// The key phrases a ticket must carry to carry `phrase`: a longer Chinese phrase its
/// character pairs, an English one its words.
pub fn parts(phrase: &str) -> Vec<String> {
    let mut parts = Vec::new();
    for token in phrase.split_whitespace() {
        let chars: Vec<char> = token.chars().collect();
        if chars.len() > 2 && chars.iter().all(|c| is_han(*c)) {
            parts.extend(chars.windows(2).map(|w| w.iter().collect::<String>()));
        } else {
            parts.push(token.to_owned());
        }
    }
    parts
}

fn carries(parts: &[String], facts: &Facts) -> bool {
    parts.iter().all(|p| facts.phrases.contains(p))
}

/// How tickets fall into issues: per category and product, the phrases its tickets split by,
/// in the order they split off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Clustering {
    splits: BTreeMap<(String, String), Vec<Split>>,
}

/// A phrase a group splits by, and the key phrases a ticket carries it by ([`parts`]).
type Split = (String, Vec<String>);

impl Clustering {
    /// The clusters `facts` (one period's tickets) form.
    pub fn of(facts: &[&Facts]) -> Clustering {
        let mut groups: BTreeMap<(&str, &str), Vec<&Facts>> = BTreeMap::new();
        for &f in facts {
            groups.entry((category(f), product(f))).or_default().push(f);
        }
        let splits = groups
            .into_iter()
            .map(|((c, p), mut tickets)| {
                tickets.sort_by_key(|f| f.ticket_id);
                let phrases = split(&tickets)
                    .into_iter()
                    .map(|phrase| {
                        let parts = parts(&phrase);
                        (phrase, parts)
                    })
                    .collect();
                ((c.to_owned(), p.to_owned()), phrases)
            })
            .collect();
        Clustering { splits }
    }

    /// The issue `facts` falls in: the first phrase of its category and product it carries,
    /// else the rest.
    pub fn assign(&self, facts: &Facts) -> IssueKey {
        let phrase = self
            .splits
            .get(&(category(facts).to_owned(), product(facts).to_owned()))
            .and_then(|phrases| phrases.iter().find(|(_, parts)| carries(parts, facts)))
            .map_or("", |(phrase, _)| phrase.as_str());
        IssueKey::new(category(facts), product(facts), phrase)
    }

    /// The phrases category `c` and product `p` split by, in order.
    pub fn phrases(&self, c: &str, p: &str) -> Vec<&str> {
        self.splits
            .get(&(c.to_owned(), p.to_owned()))
            .map(|ps| ps.iter().map(|(phrase, _)| phrase.as_str()).collect())
            .unwrap_or_default()
    }
}

/// The phrases one group's tickets (by ticket id) split by, in the order they split off.
fn split(group: &[&Facts]) -> Vec<String> {
    let threshold = MIN_TICKETS.max((MIN_SHARE * group.len() as f64).ceil() as usize);
    let mut remaining: Vec<&Facts> = group.to_vec();
    let mut phrases = Vec::new();
    while phrases.len() < MAX_SPLITS && remaining.len() >= threshold {
        let mut carriers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, f) in remaining.iter().enumerate() {
            for phrase in &f.phrases {
                let who = carriers.entry(phrase.as_str()).or_default();
                if who.last() != Some(&i) {
                    who.push(i);
                }
            }
        }
        // The most carried phrase; among as many, the first in text order of the alphabet.
        let Some((seed, tickets)) = carriers
            .iter()
            .max_by(|a, b| a.1.len().cmp(&b.1.len()).then_with(|| b.0.cmp(a.0)))
        else {
            break;
        };
        if tickets.len() < threshold {
            break;
        }
        let phrase = grow(seed, tickets, &carriers, &remaining);
        let parts = parts(&phrase);
        remaining.retain(|f| !carries(&parts, f));
        phrases.push(phrase);
    }
    phrases
}

/// `seed` grown by the phrases right beside it in the text of every one of `tickets` (indexes
/// into `remaining`) that exactly those tickets carry: Chinese pairs that overlap it by a
/// character, English words next to English words.
fn grow<'a>(
    seed: &str,
    tickets: &[usize],
    carriers: &HashMap<&str, Vec<usize>>,
    remaining: &[&'a Facts],
) -> String {
    let of: Vec<&'a Facts> = tickets.iter().map(|&i| remaining[i]).collect();
    let same = |q: &str| carriers.get(q).is_some_and(|c| c == tickets);
    let at = |f: &Facts, q: &str| f.phrases.iter().position(|p| p == q);
    let han = seed.chars().all(is_han);
    let longest = if han { MAX_HAN_CHARS - 1 } else { MAX_WORDS };
    let mut tokens: Vec<String> = vec![seed.to_owned()];
    // Rightwards (+1), then leftwards (-1).
    for step in [1isize, -1] {
        while tokens.len() < longest {
            let edge = if step > 0 {
                tokens.last()
            } else {
                tokens.first()
            };
            let Some(edge) = edge.cloned() else { break };
            let beside = |f: &'a Facts| -> Option<&'a String> {
                at(f, &edge)
                    .and_then(|i| i.checked_add_signed(step))
                    .and_then(|i| f.phrases.get(i))
            };
            let Some(next) = beside(of[0]).cloned() else {
                break;
            };
            let joins = if han {
                let (left, right) = if step > 0 {
                    (&edge, &next)
                } else {
                    (&next, &edge)
                };
                next.chars().count() == 2
                    && next.chars().all(is_han)
                    && left.chars().last() == right.chars().next()
            } else {
                !next.chars().any(is_han)
            };
            if !joins
                || tokens.contains(&next)
                || !same(&next)
                || !of.iter().all(|f| beside(f) == Some(&next))
            {
                break;
            }
            if step > 0 {
                tokens.push(next);
            } else {
                tokens.insert(0, next);
            }
        }
    }
    if han {
        let mut phrase = tokens[0].clone();
        for pair in &tokens[1..] {
            phrase.extend(pair.chars().skip(1));
        }
        phrase
    } else {
        tokens.join(" ")
    }
}

/// One issue of a period.
#[derive(Debug, Clone, PartialEq)]
pub struct TopIssue {
    pub key: IssueKey,
    /// Its tickets created in the period.
    pub count: i64,
    /// `count` out of every ticket of the period.
    pub share: f64,
    /// Its tickets in the period just before, by the same clustering.
    pub previous_count: i64,
    /// (count - previous_count) / previous_count; none without previous tickets.
    pub change: Option<f64>,
    /// Of its tickets, those repeating an earlier complaint.
    pub repeat: Ratio,
    /// The mean created → last resolved time of its resolved tickets, in milliseconds.
    pub average_resolution_millis: Option<i64>,
    /// Of the 1-5 ratings about its tickets, those of 4 or 5.
    pub csat: Ratio,
    /// Up to [`EXAMPLES`] of its ticket numbers, newest first.
    pub example_numbers: Vec<String>,
    /// The newest improvement naming it or its category and product.
    pub improvement: Option<Improvement>,
    /// That improvement's effect, once DONE.
    pub effect: Option<Effect>,
}

/// The top issues of a period.
#[derive(Debug, Clone, PartialEq)]
pub struct TopIssuesReport {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Every ticket created in the period.
    pub tickets: i64,
    /// The most frequent issues first; as many, by key.
    pub issues: Vec<TopIssue>,
    /// Of the issues, those whose improvement is DONE (整改率).
    pub improvement_rate: Ratio,
}

/// What one issue's tickets add up to.
#[derive(Default)]
struct Sums<'a> {
    count: i64,
    repeats: i64,
    resolved: i64,
    resolution_secs: i64,
    ratings: i64,
    good_ratings: i64,
    examples: Vec<(DateTime<Utc>, i64, &'a str)>,
}

/// Whether `f` counts and was created in `p`.
fn created_in(p: Period, f: &Facts) -> bool {
    f.counted && f.created_at >= p.start && f.created_at < p.end
}

/// A period's tickets clustered into issues, without improvements (see
/// [`TopIssuesReport::link`]), with each issue's count in the period before as it is read:
/// that period's tickets need not be held at once. Tickets that do not count, or were not
/// created in their period, are left out.
pub struct Issues<'a> {
    period: Period,
    clustering: Clustering,
    tickets: i64,
    sums: BTreeMap<IssueKey, Sums<'a>>,
    before: HashMap<IssueKey, i64>,
}

impl<'a> Issues<'a> {
    /// The issues of `period` from its tickets.
    pub fn of(period: Period, current: &'a [Facts]) -> Issues<'a> {
        let current: Vec<&Facts> = current.iter().filter(|f| created_in(period, f)).collect();
        let clustering = Clustering::of(&current);
        let mut sums: BTreeMap<IssueKey, Sums> = BTreeMap::new();
        for &f in &current {
            let s = sums.entry(clustering.assign(f)).or_default();
            s.count += 1;
            s.repeats += i64::from(f.repeat);
            if let Some(resolved) = f.last_resolved.filter(|_| !f.open()) {
                s.resolved += 1;
                s.resolution_secs += resolved.secs;
            }
            for survey in &f.surveys {
                s.ratings += survey.ratings;
                s.good_ratings += survey.good_ratings;
            }
            s.examples.push((f.created_at, f.ticket_id, &f.number));
        }
        Issues {
            period,
            clustering,
            tickets: current.len() as i64,
            sums,
            before: HashMap::new(),
        }
    }

    /// Counts a ticket of the period before in the issue it falls in.
    pub fn count_before(&mut self, f: &Facts) {
        if created_in(self.period.previous(), f) {
            *self.before.entry(self.clustering.assign(f)).or_default() += 1;
        }
    }

    /// The `limit` most frequent.
    pub fn report(self, limit: usize) -> TopIssuesReport {
        let Issues {
            period,
            tickets,
            sums,
            before,
            ..
        } = self;
        let mut ranked: Vec<(IssueKey, Sums)> = sums.into_iter().collect();
        // Most tickets first; as many, by key (the map's order, kept by a stable sort).
        ranked.sort_by_key(|(_, s)| std::cmp::Reverse(s.count));
        ranked.truncate(limit);
        let issues = ranked
            .into_iter()
            .map(|(key, mut s)| {
                let previous_count = before.get(&key).copied().unwrap_or(0);
                s.examples
                    .sort_by_key(|(at, id, _)| std::cmp::Reverse((*at, *id)));
                TopIssue {
                    count: s.count,
                    share: s.count as f64 / tickets as f64,
                    previous_count,
                    change: (previous_count > 0)
                        .then(|| (s.count - previous_count) as f64 / previous_count as f64),
                    repeat: Ratio {
                        part: s.repeats,
                        whole: s.count,
                    },
                    average_resolution_millis: (s.resolved > 0)
                        .then(|| s.resolution_secs * 1000 / s.resolved),
                    csat: Ratio {
                        part: s.good_ratings,
                        whole: s.ratings,
                    },
                    example_numbers: s
                        .examples
                        .iter()
                        .take(EXAMPLES)
                        .map(|(_, _, n)| (*n).to_owned())
                        .collect(),
                    improvement: None,
                    effect: None,
                    key,
                }
            })
            .collect();
        TopIssuesReport {
            start: period.start,
            end: period.end,
            tickets,
            issues,
            improvement_rate: Ratio::default(),
        }
    }
}

impl TopIssue {
    /// The issue as the monthly report shows it.
    pub fn for_report(&self) -> report::Issue {
        report::Issue {
            key: self.key.key(),
            category: self.key.category.clone(),
            product: self.key.product.clone(),
            phrase: self.key.phrase.clone(),
            count: self.count,
            share: self.share,
            change: self.change,
            repeat: self.repeat,
            average_resolution_secs: self.average_resolution_millis.map(|ms| ms / 1000),
            csat: self.csat,
            example_numbers: self.example_numbers.clone(),
            improvement: self.improvement.as_ref().map(|i| report::Improvement {
                id: i.name(),
                title: i.title.clone(),
                status: match i.status {
                    Status::Planned => report::ImprovementStatus::Planned,
                    Status::InProgress => report::ImprovementStatus::InProgress,
                    Status::Done => report::ImprovementStatus::Done,
                    Status::Dropped => report::ImprovementStatus::Dropped,
                },
                owner_team: i.owner_team.clone(),
                due: i.due_at,
                effect: self.effect.map(|e| report::Effect {
                    tickets_before: e.tickets_before,
                    tickets_after: e.tickets_after,
                }),
            }),
        }
    }
}

impl TopIssuesReport {
    /// Links each issue to the newest of `improvements` whose key is the issue's or its
    /// category and product's, and counts the issues whose improvement is DONE.
    pub fn link(&mut self, improvements: &[Improvement]) {
        for issue in &mut self.issues {
            let (key, group) = (issue.key.key(), issue.key.group_key());
            issue.improvement = improvements
                .iter()
                .filter(|i| i.issue_key == key || i.issue_key == group)
                .max_by_key(|i| (i.created_at, i.id))
                .cloned();
        }
        self.improvement_rate = Ratio {
            part: self
                .issues
                .iter()
                .filter(|i| {
                    i.improvement
                        .as_ref()
                        .is_some_and(|i| i.status == Status::Done)
                })
                .count() as i64,
            whole: self.issues.len() as i64,
        };
    }

    /// Every key the issues' improvements may name: each issue's and its group's.
    pub fn improvement_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .issues
            .iter()
            .flat_map(|i| [i.key.key(), i.key.group_key()])
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::insights::{Mark, SurveyFacts};
    use crate::domain::ticket::Status as TicketStatus;

    /// The `limit` most frequent issues of `period` from its tickets (`current`) and the
    /// period's before it (`previous`).
    fn top_issues(
        period: Period,
        current: &[Facts],
        previous: &[Facts],
        limit: usize,
    ) -> TopIssuesReport {
        let mut issues = Issues::of(period, current);
        previous.iter().for_each(|f| issues.count_before(f));
        issues.report(limit)
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// A counted, new ticket of `category` and `product` about `text`, created at `created`.
    pub(crate) fn facts(
        id: i64,
        created: &str,
        category: &str,
        product: &str,
        text: &str,
    ) -> Facts {
        let created_at = at(created);
        let mut dims: [String; 8] = Default::default();
        dims[Dimension::Category.index()] = category.to_owned();
        dims[Dimension::Product.index()] = product.to_owned();
        Facts {
            ticket_id: id,
            number: format!("FB{id:04}"),
            created_at,
            dims,
            status: TicketStatus::New,
            counted: true,
            abusive: false,
            complaint: true,
            repeat: false,
            escalation_level: 0,
            first_assigned: None,
            acknowledged: None,
            first_response: None,
            first_resolved: None,
            last_resolved: None,
            resolves: Vec::new(),
            reopens: Vec::new(),
            public_replies: 0,
            clocks: Vec::new(),
            at_risk_now: Vec::new(),
            breached_now: Vec::new(),
            surveys: Vec::new(),
            statuses: Vec::new(),
            last_event_at: created_at,
            phrases: crate::domain::topics::key_phrases(text),
        }
    }

    fn november() -> Period {
        Period {
            start: at("2026-11-01T00:00:00Z"),
            end: at("2026-12-01T00:00:00Z"),
        }
    }

    fn keys(report: &TopIssuesReport) -> Vec<(String, i64)> {
        report
            .issues
            .iter()
            .map(|i| (i.key.key(), i.count))
            .collect()
    }

    #[test]
    fn chinese_pairs_join_into_the_phrase_their_tickets_share() {
        let day = |d: u32| format!("2026-11-{d:02}T08:00:00Z");
        let tickets = vec![
            facts(1, &day(1), "支付", "App", "支付失败，请尽快处理"),
            facts(2, &day(2), "支付", "App", "昨天订单支付失败了"),
            facts(3, &day(3), "支付", "App", "付款时一直支付失败"),
            facts(4, &day(4), "支付", "App", "退款到账太慢"),
            facts(5, &day(5), "支付", "App", "申请退款到账要多久"),
            facts(6, &day(6), "支付", "App", "页面打不开"),
        ];
        let report = top_issues(november(), &tickets, &[], 10);
        assert_eq!(
            keys(&report),
            [
                ("支付/App/支付失败".to_owned(), 3),
                ("支付/App/退款到账".to_owned(), 2),
                ("支付/App/".to_owned(), 1),
            ]
        );
        let first = &report.issues[0];
        assert_eq!(first.key.phrase, "支付失败", "not 支付 + 失败");
        assert_eq!(first.example_numbers, ["FB0003", "FB0002", "FB0001"]);
        assert!((first.share - 0.5).abs() < 1e-9);
        assert_eq!(report.tickets, 6);
    }

    #[test]
    fn english_words_join_into_the_phrase_their_tickets_share() {
        let day = |d: u32| format!("2026-11-{d:02}T08:00:00Z");
        let tickets = vec![
            facts(1, &day(1), "billing", "mall", "Payment failed at checkout"),
            facts(2, &day(2), "billing", "mall", "My payment failed twice"),
            facts(
                3,
                &day(3),
                "billing",
                "mall",
                "payment failed again, card charged",
            ),
            facts(4, &day(4), "billing", "mall", "Refund is slow"),
            facts(5, &day(5), "billing", "mall", "Where is my refund"),
            facts(6, &day(6), "billing", "mall", "Invoice address wrong"),
            facts(7, &day(7), "billing", "shop", "payment failed"),
        ];
        let report = top_issues(november(), &tickets, &[], 10);
        assert_eq!(
            keys(&report),
            [
                ("billing/mall/payment failed".to_owned(), 3),
                ("billing/mall/refund".to_owned(), 2),
                ("billing/mall/".to_owned(), 1),
                ("billing/shop/".to_owned(), 1),
            ],
            "a group of one ticket does not split"
        );
    }

    #[test]
    fn the_previous_period_falls_into_the_same_clusters() {
        let tickets = vec![
            facts(1, "2026-11-01T08:00:00Z", "支付", "App", "支付失败"),
            facts(2, "2026-11-02T08:00:00Z", "支付", "App", "又支付失败"),
            facts(3, "2026-11-03T08:00:00Z", "支付", "App", "支付失败怎么办"),
            facts(4, "2026-11-04T08:00:00Z", "支付", "App", "发票开错"),
        ];
        // October: one 支付失败 (in other words around it), two others, and one of another
        // product; and one of November that the previous period leaves out.
        let previous = vec![
            facts(
                10,
                "2026-10-05T08:00:00Z",
                "支付",
                "App",
                "今天支付失败三次",
            ),
            facts(11, "2026-10-06T08:00:00Z", "支付", "App", "发票开错"),
            facts(
                12,
                "2026-10-07T08:00:00Z",
                "支付",
                "App",
                "支付成功但没发货",
            ),
            facts(13, "2026-10-08T08:00:00Z", "支付", "Web", "支付失败"),
            facts(14, "2026-11-08T08:00:00Z", "支付", "App", "支付失败"),
        ];
        let report = top_issues(november(), &tickets, &previous, 10);
        let first = &report.issues[0];
        assert_eq!(
            (first.key.key().as_str(), first.count),
            ("支付/App/支付失败", 3)
        );
        assert_eq!(first.previous_count, 1);
        assert_eq!(first.change, Some(2.0));
        let rest = &report.issues[1];
        assert_eq!((rest.key.key().as_str(), rest.count), ("支付/App/", 1));
        assert_eq!(rest.previous_count, 2, "支付成功 is not 支付失败");
        assert_eq!(rest.change, Some(-0.5));
    }

    #[test]
    fn ties_are_ordered_by_key_and_the_limit_cuts() {
        let tickets: Vec<Facts> = ["c", "a", "b", "a", "c", "b"]
            .iter()
            .enumerate()
            .map(|(i, c)| {
                facts(
                    i as i64 + 1,
                    "2026-11-10T00:00:00Z",
                    c,
                    "p",
                    &format!("ticket{i}"),
                )
            })
            .collect();
        let report = top_issues(november(), &tickets, &[], 2);
        assert_eq!(
            keys(&report),
            [("a/p/".to_owned(), 2), ("b/p/".to_owned(), 2)]
        );
        let again = top_issues(
            november(),
            &tickets.iter().rev().cloned().collect::<Vec<_>>(),
            &[],
            2,
        );
        assert_eq!(report, again, "the input order does not matter");
        let examples = &report.issues[0].example_numbers;
        assert_eq!(
            examples,
            &["FB0004", "FB0002"],
            "same time: the later ticket first"
        );
    }

    #[test]
    fn figures_per_issue_and_the_improvement_rate() {
        let mut tickets = vec![
            facts(1, "2026-11-01T00:00:00Z", "支付", "App", "支付失败"),
            facts(2, "2026-11-02T00:00:00Z", "支付", "App", "支付失败"),
            facts(3, "2026-11-03T00:00:00Z", "物流", "App", "快递太慢"),
            facts(4, "2026-11-04T00:00:00Z", "物流", "App", "没收到"),
            facts(5, "2026-11-05T00:00:00Z", "物流", "App", "没收到"),
        ];
        tickets[0].repeat = true;
        tickets[0].status = TicketStatus::Resolved;
        tickets[0].last_resolved = Some(Mark {
            at: at("2026-11-01T02:00:00Z"),
            secs: 7200,
            business_secs: 3600,
        });
        // Resolved once, reopened since: not a resolved ticket.
        tickets[1].status = TicketStatus::Reopened;
        tickets[1].last_resolved = Some(Mark {
            at: at("2026-11-02T01:00:00Z"),
            secs: 3600,
            business_secs: 3600,
        });
        tickets[1].surveys.push(SurveyFacts {
            survey_id: 1,
            ratings: 3,
            good_ratings: 2,
            ..SurveyFacts::default()
        });
        let mut not_counted = facts(6, "2026-11-05T00:00:00Z", "支付", "App", "支付失败");
        not_counted.counted = false;
        tickets.push(not_counted);
        let mut report = top_issues(november(), &tickets, &[], 10);
        assert_eq!(report.tickets, 5);
        let pay = report
            .issues
            .iter()
            .find(|i| i.key.category == "支付")
            .unwrap();
        assert_eq!(pay.count, 2);
        assert_eq!((pay.repeat.part, pay.repeat.whole), (1, 2));
        assert_eq!(pay.average_resolution_millis, Some(7_200_000));
        assert_eq!((pay.csat.part, pay.csat.whole), (2, 3));
        let shown = pay.for_report();
        assert_eq!(
            (shown.key.as_str(), shown.average_resolution_secs),
            ("支付/App/支付失败", Some(7200))
        );

        let improvement = |id: i64, key: &str, status: Status, day: u32| Improvement {
            id,
            title: "t".into(),
            description: String::new(),
            issue_key: key.into(),
            owner_team: "tech".into(),
            due_at: at("2026-12-31T00:00:00Z"),
            status,
            done_at: None,
            created_by: "admin".into(),
            version: 1,
            created_at: at(&format!("2026-11-{day:02}T00:00:00Z")),
            updated_at: at(&format!("2026-11-{day:02}T00:00:00Z")),
        };
        report.link(&[
            improvement(1, "支付/App/支付失败", Status::Planned, 1),
            improvement(2, "支付/App/", Status::Done, 2),
            improvement(3, "物流/App/快递", Status::Done, 3),
            improvement(4, "物流/Web/没收到", Status::Done, 4),
        ]);
        let linked: Vec<(String, Option<i64>)> = report
            .issues
            .iter()
            .map(|i| (i.key.key(), i.improvement.as_ref().map(|m| m.id)))
            .collect();
        assert_eq!(
            linked,
            [
                ("支付/App/支付失败".to_owned(), Some(2)),
                ("物流/App/没收到".to_owned(), None),
                ("物流/App/".to_owned(), None),
            ],
            "the newest of the issue's and its group's; another key or product is not linked"
        );
        let shown = report.issues[0].for_report().improvement.expect("linked");
        assert_eq!(
            (shown.id.as_str(), shown.status),
            ("IMP-2", crate::domain::report::ImprovementStatus::Done)
        );
        assert_eq!(
            (report.improvement_rate.part, report.improvement_rate.whole),
            (1, 3)
        );
    }

    #[test]
    fn keys_parse_back() {
        let key = IssueKey::new("支付", "mall/app", "payment failed");
        assert_eq!(key.key(), "支付/mall/app/payment failed");
        assert_eq!(IssueKey::parse(&key.key()), Some(key.clone()));
        assert_eq!(key.group_key(), "支付/mall/app/");
        assert_eq!(IssueKey::parse("a/b/").unwrap().phrase, "");
        assert_eq!(IssueKey::parse("a/b"), None);
        assert_eq!(parts("支付失败"), ["支付", "付失", "失败"]);
        assert_eq!(parts("payment failed"), ["payment", "failed"]);
        assert_eq!(parts("退款"), ["退款"]);
        assert!(parts("").is_empty());
    }
}
