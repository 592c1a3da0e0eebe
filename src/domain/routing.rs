//! Routing a new ticket: the classifier proposes a category, the priority is assessed, the
//! first matching rule may decide, the classifier proposes a team when no rule names one,
//! and whatever is left undecided goes to triage. Every step leaves its reason.

use super::assignment::Strategy;
use super::classifier::{Candidate, RoutingModel};
use super::language::Language;
use super::priority::{self, Facts};
use super::rules::{self, Draft, Rule, Trial};
use super::ticket::{Channel, Kind, Priority, Tier};

/// How the router is set up.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Where tickets go that no rule and no confident prediction decides.
    pub triage_team: String,
    /// Predictions below this confidence are not acted on.
    pub confidence_threshold: f64,
}

/// A new ticket as routing reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Intake<'a> {
    pub kind: Kind,
    pub channel: Channel,
    pub product: &'a str,
    pub tier: Tier,
    pub tags: &'a [String],
    pub title: &'a str,
    pub description: &'a str,
    /// What the caller already decided.
    pub category: Option<&'a str>,
    pub priority: Option<Priority>,
}

impl Intake<'_> {
    fn text(&self) -> String {
        text_of(self.title, self.description)
    }
}

/// What the classifier and skill matching read of a ticket: its title and description.
pub fn text_of(title: &str, description: &str) -> String {
    format!("{title}\n{description}")
}

/// What the history says about a new ticket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Other customers' tickets about the same product and category within the impact window,
    /// counted up to [`REPORTS_COUNTED`](super::priority::REPORTS_COUNTED).
    pub similar_reports: usize,
    /// The number of the same customer's earlier ticket about the same product or category.
    pub repeat_of: Option<String>,
}

/// Where a ticket goes and what it carries, with the reasons.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub team: String,
    /// How the team was chosen.
    pub reason: String,
    pub category: Option<String>,
    pub priority: Priority,
    pub priority_reasons: Vec<String>,
    pub repeat_of: Option<String>,
    /// `None`: the team's own strategy.
    pub strategy: Option<Strategy>,
    /// Tags the matching rule adds.
    pub tags: Vec<String>,
}

/// A route and everything that went into it, for ExplainRoute.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub route: Route,
    pub trials: Vec<Trial>,
    pub category_predictions: Vec<Candidate>,
    pub team_predictions: Vec<Candidate>,
}

/// How many predictions an explanation shows.
const SHOWN_PREDICTIONS: usize = 3;

/// The category the ticket is known by before rules run: the caller's, or the model's
/// confident proposal. Returns it with the model's top predictions.
pub fn categorize(
    intake: &Intake,
    model: Option<&RoutingModel>,
    settings: &Settings,
) -> (Option<String>, Vec<Candidate>) {
    let mut predictions = model
        .map(|m| m.category.classify(&intake.text()))
        .unwrap_or_default();
    predictions.truncate(SHOWN_PREDICTIONS);
    let category = match intake.category {
        Some(category) => Some(category.to_owned()),
        None => predictions
            .first()
            .filter(|p| p.confidence >= settings.confidence_threshold)
            .map(|p| p.label.clone()),
    };
    (category, predictions)
}

/// Routes a ticket whose category is `category` (from [`categorize`]). `teams` are the teams
/// that exist: a prediction of a team since removed goes to triage.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    intake: &Intake,
    category: Option<String>,
    category_predictions: Vec<Candidate>,
    history: &History,
    rules: &[Rule],
    model: Option<&RoutingModel>,
    teams: &[String],
    settings: &Settings,
) -> Decision {
    let (priority, priority_reasons) = assess(intake, history);
    let mut route = Route {
        team: settings.triage_team.clone(),
        reason: String::new(),
        category,
        priority,
        priority_reasons,
        repeat_of: history.repeat_of.clone(),
        strategy: None,
        tags: Vec::new(),
    };
    let (matched, trials) = rules::first_match(
        rules,
        &Draft {
            kind: intake.kind,
            channel: intake.channel,
            product: intake.product,
            category: route.category.as_deref(),
            tier: intake.tier,
            priority: route.priority,
            tags: intake.tags,
            title: intake.title,
            description: intake.description,
        },
    );
    let team = matched.and_then(|rule| {
        let why = trials.last().map(|t| t.why.as_str()).unwrap_or_default();
        apply_rule(&mut route, rule, why, teams, settings)
    });
    let mut team_predictions = match (&team, model) {
        (None, Some(model)) => model.team.classify(&intake.text()),
        _ => Vec::new(),
    };
    team_predictions.truncate(SHOWN_PREDICTIONS);
    (route.team, route.reason) = team.unwrap_or_else(|| {
        let no_rule = if matched.is_some() {
            "the matching rule names no team"
        } else {
            "no rule matched"
        };
        team_by_classifier(team_predictions.first(), no_rule, teams, settings)
    });
    Decision {
        route,
        trials,
        category_predictions,
        team_predictions,
    }
}

/// The priority from urgency, impact, tier and repetition, unless the caller set one.
fn assess(intake: &Intake, history: &History) -> (Priority, Vec<String>) {
    let assessed = priority::assess(&Facts {
        kind: intake.kind,
        title: intake.title,
        description: intake.description,
        tier: intake.tier,
        similar_reports: history.similar_reports,
        repeat_of: history.repeat_of.as_deref(),
    });
    let (mut priority, mut reasons) = (assessed.priority, assessed.reasons);
    if let Some(given) = intake.priority
        && given != priority
    {
        reasons.push(format!("{given}: set by the caller"));
        priority = given;
    }
    (priority, reasons)
}

/// Applies the matching rule's actions to `route` (category, priority floor, tags,
/// strategy); returns its team with the reason, if it names one.
fn apply_rule(
    route: &mut Route,
    rule: &Rule,
    why: &str,
    teams: &[String],
    settings: &Settings,
) -> Option<(String, String)> {
    let actions = &rule.actions;
    if let Some(set) = &actions.category {
        route.category = Some(set.clone());
    }
    if let Some(floor) = actions.priority_floor
        && floor < route.priority
    {
        route
            .priority_reasons
            .push(format!("{floor}: raised by rule \"{}\"", rule.name));
        route.priority = floor;
    }
    route.tags = actions.tags.clone();
    route.strategy = actions.strategy;
    let team = actions.team.clone()?;
    Some(if teams.contains(&team) {
        (team, format!("rule \"{}\" matched ({why})", rule.name))
    } else {
        let reason = format!(
            "rule \"{}\" matched ({why}) but its team {team} no longer exists: triage",
            rule.name
        );
        (settings.triage_team.clone(), reason)
    })
}

/// The team the classifier's `best` guess names, when it is confident enough and the team
/// exists; triage otherwise. `no_rule` says why no rule decided.
fn team_by_classifier(
    best: Option<&Candidate>,
    no_rule: &str,
    teams: &[String],
    settings: &Settings,
) -> (String, String) {
    let triage = settings.triage_team.clone();
    let threshold = settings.confidence_threshold;
    match best {
        Some(best) if best.confidence >= threshold && teams.contains(&best.label) => (
            best.label.clone(),
            format!(
                "{no_rule}; the classifier proposes {} ({:.2})",
                best.label, best.confidence
            ),
        ),
        Some(best) if best.confidence >= threshold => (
            triage,
            format!(
                "{no_rule}; the classifier proposes {}, which no longer exists: triage",
                best.label
            ),
        ),
        Some(best) => (
            triage,
            format!(
                "{no_rule}; the classifier's best guess, {} ({:.2}), is below {threshold:.2}: \
                 triage",
                best.label, best.confidence
            ),
        ),
        None => (
            triage,
            format!("{no_rule}; no classifier is trained yet: triage"),
        ),
    }
}

/// The skills a ticket calls for, as agents list theirs: its product, its category and its
/// customer's language.
pub fn wanted_skills(product: &str, category: Option<&str>, language: Language) -> Vec<String> {
    let mut wanted = Vec::new();
    if !product.is_empty() {
        wanted.push(format!("product:{}", product.to_lowercase()));
    }
    if let Some(category) = category {
        wanted.push(format!("category:{}", category.to_lowercase()));
    }
    wanted.push(format!("lang:{language}"));
    wanted
}

/// A plain route for other modules' tests: the kind's default priority, team "support".
#[cfg(test)]
pub(crate) fn test_route(kind: Kind) -> Route {
    Route {
        team: "support".into(),
        reason: "test".into(),
        category: None,
        priority: Priority::default_for(kind),
        priority_reasons: Vec::new(),
        repeat_of: None,
        strategy: None,
        tags: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::classifier::Classifier;
    use crate::domain::rules::{Actions, Conditions};

    fn settings() -> Settings {
        Settings {
            triage_team: "triage".into(),
            confidence_threshold: 0.6,
        }
    }

    fn intake<'a>(title: &'a str) -> Intake<'a> {
        Intake {
            kind: Kind::Complaint,
            channel: Channel::App,
            product: "mall",
            tier: Tier::Standard,
            tags: &[],
            title,
            description: "",
            category: None,
            priority: None,
        }
    }

    fn rule(name: &str, conditions: Conditions, actions: Actions) -> Rule {
        Rule {
            id: 7,
            position: 1,
            name: name.into(),
            enabled: true,
            conditions,
            actions,
            version: 1,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    fn model() -> RoutingModel {
        let examples = [
            ("refund not received", "refund", "finance"),
            ("退款没有到账", "refund", "finance"),
            ("refund still missing", "refund", "finance"),
            ("parcel lost", "delivery", "logistics"),
            ("快递丢了", "delivery", "logistics"),
            ("parcel late again", "delivery", "logistics"),
        ];
        RoutingModel {
            category: Classifier::train(examples.iter().map(|(t, c, _)| (*t, *c))),
            team: Classifier::train(examples.iter().map(|(t, _, team)| (*t, *team))),
        }
    }

    fn route(intake: &Intake, rules: &[Rule], model: Option<&RoutingModel>) -> Decision {
        let (category, predictions) = categorize(intake, model, &settings());
        let teams = ["finance".to_owned(), "logistics".to_owned()];
        decide(
            intake,
            category,
            predictions,
            &History::default(),
            rules,
            model,
            &teams,
            &settings(),
        )
    }

    #[test]
    fn a_rule_naming_a_team_decides_and_applies_its_actions() {
        let rules = [rule(
            "refunds",
            Conditions {
                keywords: vec!["退款".into()],
                ..Default::default()
            },
            Actions {
                team: Some("finance".into()),
                category: Some("refund".into()),
                priority_floor: Some(Priority::Urgent),
                tags: vec!["money".into()],
                strategy: Some(Strategy::Skills),
            },
        )];
        let d = route(&intake("申请退款"), &rules, None);
        assert_eq!(d.route.team, "finance");
        assert_eq!(
            d.route.reason,
            "rule \"refunds\" matched (keyword \"退款\")"
        );
        assert_eq!(d.route.category.as_deref(), Some("refund"));
        assert_eq!(d.route.priority, Priority::Urgent);
        assert_eq!(
            d.route.priority_reasons.last().unwrap(),
            "URGENT: raised by rule \"refunds\""
        );
        assert_eq!(d.route.tags, ["money"]);
        assert_eq!(d.route.strategy, Some(Strategy::Skills));
        assert!(
            d.team_predictions.is_empty(),
            "the classifier was not asked"
        );
    }

    #[test]
    fn without_a_rule_a_confident_classifier_decides_otherwise_triage() {
        let model = model();
        let d = route(&intake("my refund is not received"), &[], Some(&model));
        assert_eq!(d.route.team, "finance", "{d:?}");
        assert_eq!(d.route.category.as_deref(), Some("refund"));
        assert!(
            d.route
                .reason
                .starts_with("no rule matched; the classifier proposes finance ("),
            "{}",
            d.route.reason
        );
        let d = route(&intake("hello there"), &[], Some(&model));
        assert_eq!(d.route.team, "triage");
        assert!(d.route.reason.contains("is below 0.60: triage"), "{d:?}");
        let d = route(&intake("my refund"), &[], None);
        assert_eq!(
            (d.route.team.as_str(), d.route.reason.as_str()),
            (
                "triage",
                "no rule matched; no classifier is trained yet: triage"
            )
        );
    }

    #[test]
    fn a_rule_without_a_team_leaves_the_team_to_the_classifier() {
        let rules = [rule(
            "vip tag",
            Conditions {
                tiers: vec![Tier::Vip],
                ..Default::default()
            },
            Actions {
                tags: vec!["vip".into()],
                ..Default::default()
            },
        )];
        let mut vip = intake("parcel lost");
        vip.tier = Tier::Vip;
        let model = model();
        let d = route(&vip, &rules, Some(&model));
        assert_eq!(d.route.team, "logistics");
        assert_eq!(d.route.tags, ["vip"]);
        assert!(
            d.route
                .reason
                .starts_with("the matching rule names no team"),
            "{}",
            d.route.reason
        );
    }

    #[test]
    fn the_callers_category_and_priority_win() {
        let mut given = intake("申请退款");
        given.category = Some("billing");
        given.priority = Some(Priority::Low);
        let d = route(&given, &[], Some(&model()));
        assert_eq!(d.route.category.as_deref(), Some("billing"));
        assert_eq!(d.route.priority, Priority::Low);
        assert_eq!(
            d.route.priority_reasons,
            [
                "HIGH by default for COMPLAINT tickets",
                "LOW: set by the caller"
            ]
        );
    }

    #[test]
    fn skills_come_from_product_category_and_language() {
        assert_eq!(
            wanted_skills("Mall", Some("refund"), Language::Zh),
            ["product:mall", "category:refund", "lang:zh"]
        );
        assert_eq!(wanted_skills("", None, Language::En), ["lang:en"]);
    }
}
