//! Routing rules: ordered conditions on a ticket, each with actions; the first enabled rule
//! whose every condition holds decides. Every rule tried says why it did or did not match,
//! which is what an operator reads to understand a dispatch.

use chrono::{DateTime, Utc};

use super::error::Refusal;
use serde::{Deserialize, Serialize};

use super::assignment::Strategy;
use super::ticket::{Channel, Kind, Priority, Tier};

/// What a rule asks of a ticket. An empty list asks nothing; a list matches any of its values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conditions {
    pub kinds: Vec<Kind>,
    pub channels: Vec<Channel>,
    pub products: Vec<String>,
    pub categories: Vec<String>,
    pub tiers: Vec<Tier>,
    pub priorities: Vec<Priority>,
    /// Any of these tags.
    pub tags: Vec<String>,
    /// Any of these words or phrases in the title or description: whole words for Latin
    /// script, anywhere for Chinese (which has no spaces between words); case is ignored.
    pub keywords: Vec<String>,
}

/// What a matching rule decides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Actions {
    pub team: Option<String>,
    pub category: Option<String>,
    /// The priority is raised to at least this.
    pub priority_floor: Option<Priority>,
    pub tags: Vec<String>,
    pub strategy: Option<Strategy>,
}

/// A routing rule; rules are tried by ascending position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub id: i64,
    /// 1 = tried first. At creation, where to insert it: 0 or beyond the end appends it.
    pub position: usize,
    pub name: String,
    pub enabled: bool,
    pub conditions: Conditions,
    pub actions: Actions,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

super::error::versioned!(Rule);

/// The ticket as routing sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft<'a> {
    pub kind: Kind,
    pub channel: Channel,
    pub product: &'a str,
    pub category: Option<&'a str>,
    pub tier: Tier,
    pub priority: Priority,
    pub tags: &'a [String],
    pub title: &'a str,
    pub description: &'a str,
}

/// One rule tried: whether it matched, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trial {
    pub rule_id: i64,
    pub rule: String,
    pub matched: bool,
    pub why: String,
}

/// Tries the rules in order; returns the first that matches (if any) and every trial up to it.
pub fn first_match<'r>(rules: &'r [Rule], draft: &Draft) -> (Option<&'r Rule>, Vec<Trial>) {
    let mut trials = Vec::new();
    for rule in rules {
        let outcome = if rule.enabled {
            check(&rule.conditions, draft)
        } else {
            Err("disabled".to_owned())
        };
        let matched = outcome.is_ok();
        trials.push(Trial {
            rule_id: rule.id,
            rule: rule.name.clone(),
            matched,
            why: outcome.unwrap_or_else(|why| why),
        });
        if matched {
            return (Some(rule), trials);
        }
    }
    (None, trials)
}

/// `Ok` with what held, or `Err` with the first condition that did not.
fn check(c: &Conditions, d: &Draft) -> Result<String, String> {
    let mut held = Vec::new();
    one_of("kind", &c.kinds, &d.kind, &mut held)?;
    one_of("channel", &c.channels, &d.channel, &mut held)?;
    one_of("tier", &c.tiers, &d.tier, &mut held)?;
    one_of("priority", &c.priorities, &d.priority, &mut held)?;
    one_of("product", &c.products, &d.product.to_owned(), &mut held)?;
    match (c.categories.is_empty(), d.category) {
        (true, _) => {}
        (false, Some(category)) => {
            one_of("category", &c.categories, &category.to_owned(), &mut held)?
        }
        (false, None) => return Err("no category yet".to_owned()),
    }
    if !c.tags.is_empty() {
        let tag = c
            .tags
            .iter()
            .find(|t| d.tags.iter().any(|have| have.eq_ignore_ascii_case(t)));
        match tag {
            Some(tag) => held.push(format!("tag {tag}")),
            None => return Err(format!("none of the tags {}", c.tags.join(", "))),
        }
    }
    if !c.keywords.is_empty() {
        let text = super::routing::text_of(d.title, d.description).to_lowercase();
        match c
            .keywords
            .iter()
            .find(|k| contains_keyword(&text, &k.to_lowercase()))
        {
            Some(keyword) => held.push(format!("keyword \"{keyword}\"")),
            None => return Err(format!("none of the keywords {}", c.keywords.join(", "))),
        }
    }
    Ok(if held.is_empty() {
        "no conditions".to_owned()
    } else {
        held.join("; ")
    })
}

fn one_of<T: PartialEq + std::fmt::Display>(
    name: &str,
    wanted: &[T],
    have: &T,
    held: &mut Vec<String>,
) -> Result<(), String> {
    if wanted.is_empty() {
        return Ok(());
    }
    if wanted.contains(have) {
        held.push(format!("{name} {have}"));
        Ok(())
    } else {
        let wanted: Vec<String> = wanted.iter().map(ToString::to_string).collect();
        Err(format!(
            "{name} is {have}, the rule wants {}",
            wanted.join(" or ")
        ))
    }
}

/// Whether lower-cased `text` holds lower-cased `keyword`: at word boundaries when the
/// keyword starts and ends with Latin letters or digits, anywhere otherwise.
fn contains_keyword(text: &str, keyword: &str) -> bool {
    if keyword.is_empty() {
        return false;
    }
    let wordlike = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let bounded = wordlike(keyword.chars().next()) && wordlike(keyword.chars().last());
    text.match_indices(keyword).any(|(at, _)| {
        !bounded
            || (!wordlike(text[..at].chars().last())
                && !wordlike(text[at + keyword.len()..].chars().next()))
    })
}

/// Puts `new` into `order` at its position (1 = first; 0 or beyond the end: last), and
/// numbers them all.
pub fn place(order: &mut Vec<Rule>, new: Rule) {
    let at = match new.position {
        0 => order.len(),
        p => (p - 1).min(order.len()),
    };
    order.insert(at, new);
    renumber(order);
}

/// Numbers rules by their place in `order`, 1 first.
pub fn renumber(order: &mut [Rule]) {
    for (i, rule) in order.iter_mut().enumerate() {
        rule.position = i + 1;
    }
}

/// The rules in the order of `ids`, which must name each rule exactly once.
pub fn reorder(rules: Vec<Rule>, ids: &[i64]) -> Result<Vec<Rule>, Refusal> {
    let mut given = ids.to_vec();
    given.sort_unstable();
    let mut have: Vec<i64> = rules.iter().map(|r| r.id).collect();
    have.sort_unstable();
    if given != have {
        let unknown = given.iter().filter(|id| !have.contains(id)).count();
        let missing = have.iter().filter(|id| !given.contains(id)).count();
        let repeated = given.windows(2).filter(|w| w[0] == w[1]).count();
        return Err(Refusal::invalid(
            "rule_ids",
            format!(
                "must name each of the {} rules exactly once; {unknown} unknown, {missing} \
                 missing, {repeated} repeated",
                have.len()
            ),
        ));
    }
    let mut ordered: Vec<Rule> = ids
        .iter()
        .filter_map(|id| rules.iter().find(|r| r.id == *id).cloned())
        .collect();
    renumber(&mut ordered);
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft<'a>(title: &'a str, tags: &'a [String]) -> Draft<'a> {
        Draft {
            kind: Kind::Complaint,
            channel: Channel::App,
            product: "mall",
            category: None,
            tier: Tier::Vip,
            priority: Priority::High,
            tags,
            title,
            description: "",
        }
    }

    fn rule(name: &str, conditions: Conditions, team: &str) -> Rule {
        Rule {
            id: 1,
            position: 1,
            name: name.into(),
            enabled: true,
            conditions,
            actions: Actions {
                team: Some(team.into()),
                ..Actions::default()
            },
            version: 1,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn the_first_matching_rule_wins_and_every_trial_says_why() {
        let rules = [
            rule(
                "suggestions",
                Conditions {
                    kinds: vec![Kind::Suggestion],
                    ..Default::default()
                },
                "product",
            ),
            Rule {
                enabled: false,
                ..rule("off", Conditions::default(), "nobody")
            },
            rule(
                "refunds",
                Conditions {
                    keywords: vec!["退款".into(), "refund".into()],
                    ..Default::default()
                },
                "finance",
            ),
            rule(
                "vip",
                Conditions {
                    tiers: vec![Tier::Vip],
                    ..Default::default()
                },
                "vip-desk",
            ),
        ];
        let (chosen, trials) = first_match(&rules, &draft("申请退款一直没到账", &[]));
        assert_eq!(chosen.unwrap().actions.team.as_deref(), Some("finance"));
        let whys: Vec<_> = trials
            .iter()
            .map(|t| (t.rule.as_str(), t.matched, t.why.as_str()))
            .collect();
        assert_eq!(
            whys,
            [
                (
                    "suggestions",
                    false,
                    "kind is COMPLAINT, the rule wants SUGGESTION"
                ),
                ("off", false, "disabled"),
                ("refunds", true, "keyword \"退款\""),
            ]
        );
        let (chosen, trials) = first_match(&rules, &draft("Parcel late", &[]));
        assert_eq!((chosen.unwrap().name.as_str(), trials.len()), ("vip", 4));
    }

    #[test]
    fn every_condition_must_hold() {
        let tags = vec!["Urgent".to_owned()];
        let conditions = Conditions {
            channels: vec![Channel::App, Channel::Wechat],
            products: vec!["mall".into()],
            priorities: vec![Priority::High],
            tags: vec!["urgent".into()],
            ..Default::default()
        };
        let rules = [rule("app mall", conditions.clone(), "mall")];
        let (chosen, trials) = first_match(&rules, &draft("x", &tags));
        assert!(chosen.is_some(), "{trials:?}");
        assert_eq!(
            trials[0].why,
            "channel APP; priority HIGH; product mall; tag urgent"
        );
        let (chosen, trials) = first_match(&rules, &draft("x", &[]));
        assert!(chosen.is_none());
        assert_eq!(trials[0].why, "none of the tags urgent");
        let by_category = [rule(
            "cat",
            Conditions {
                categories: vec!["refund".into()],
                ..Default::default()
            },
            "finance",
        )];
        assert_eq!(
            first_match(&by_category, &draft("x", &[])).1[0].why,
            "no category yet"
        );
        let mut categorized = draft("x", &[]);
        categorized.category = Some("refund");
        assert!(first_match(&by_category, &categorized).0.is_some());
    }

    #[test]
    fn latin_keywords_match_whole_words_chinese_anywhere() {
        assert!(contains_keyword("my refund is late", "refund"));
        assert!(contains_keyword("refund!", "refund"));
        assert!(
            !contains_keyword("refunded twice", "refund"),
            "a whole word"
        );
        assert!(!contains_keyword("the start page", "art"));
        assert!(contains_keyword(
            "the app crashed on login",
            "crashed on login"
        ));
        assert!(contains_keyword("app闪退了", "闪退"));
        assert!(
            contains_keyword("我的refund呢", "refund"),
            "Chinese around a Latin word is a boundary"
        );
        assert!(!contains_keyword("anything", ""));
    }
}
