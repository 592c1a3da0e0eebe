//! Canned replies (统一话术): a reply written once, in Chinese and/or English, with typed
//! variables, and the field changes that go with it; rendered for one ticket and applied to it
//! as one change.
//!
//! A body is text with variables in double braces: `{{customer.name}}`, `{{ refund_amount }}`
//! (spaces inside the braces are ignored). A name with a dot is a built-in ([`Builtin`]),
//! filled from the ticket and whoever applies the reply; a name without one is a free variable
//! the template declares ([`Variable`]) and the agent fills. `\{{` writes a literal `{{` (the
//! backslash is dropped); a lone `{`, `}` or `}}` is text as it stands. Anything else between
//! `{{` and `}}` — an unclosed `{{`, a blank or malformed name, an unknown built-in, a free
//! variable the template does not declare — is refused when the template is written, so a
//! stored template always renders.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::error::{FieldViolation, Refusal, quote, versioned};
use super::event::Step;
use super::language::Language;
use super::lifecycle::{self, Action, Verb};
use super::sla::Target;
use super::ticket::{
    Priority, Resolution, Status, Ticket, Visibility, limits, named_enum, normalize_tags,
};

/// Most variables a template declares.
pub const MAX_VARIABLES: usize = 20;
/// Most choices of a CHOICE variable.
pub const MAX_CHOICES: usize = 50;
/// Longest choice, default value or filled-in value, in characters.
pub const MAX_VALUE: usize = 1_000;
/// Longest free variable name.
pub const MAX_NAME: usize = 64;
/// Longest label of a variable.
pub const MAX_LABEL: usize = 200;
/// The statuses a reply may leave its ticket in.
pub const STATUSES: [Status; 3] = [
    Status::InProgress,
    Status::PendingCustomer,
    Status::Resolved,
];

named_enum!(
    /// A variable every template may use, filled from the ticket and who applies the reply.
    Builtin {
        /// The customer's name; "customer" / "客户" when the ticket has none.
        CustomerName = "customer.name",
        /// The ticket's number, e.g. FB202612010001.
        TicketNumber = "ticket.number",
        /// The ticket's title.
        TicketTitle = "ticket.title",
        /// The product the ticket is about.
        TicketProduct = "ticket.product",
        /// The display name of the agent the reply is posted as.
        AgentName = "agent.name",
        /// The display name of the ticket's team.
        TeamName = "team.name",
        /// When the first response is due, in the customer's language and the team's zone.
        FirstResponseDue = "sla.first_response_due",
        /// When the resolution is due, likewise.
        ResolutionDue = "sla.resolution_due",
    }
);

/// One part of a parsed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Builtin(Builtin),
    /// A free variable, by name.
    Free(String),
}

/// Parses a body into its text and variables, or says what is wrong and where (character
/// positions count from 1).
pub fn parse(body: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = body;
    let position = |rest: &str, at: usize| body[..body.len() - rest.len() + at].chars().count() + 1;
    while let Some(at) = rest.find("{{") {
        let before = &rest[..at];
        if let Some(kept) = before.strip_suffix('\\') {
            text.push_str(kept);
            text.push_str("{{");
            rest = &rest[at + 2..];
            continue;
        }
        text.push_str(before);
        let inside = &rest[at + 2..];
        let end = match (inside.find("}}"), inside.find("{{")) {
            (Some(end), next) if next.is_none_or(|next| end < next) => end,
            _ => {
                return Err(format!(
                    "the {{{{ at character {} is not closed by }}}}; write \\{{{{ for a \
                     literal {{{{",
                    position(rest, at)
                ));
            }
        };
        let name = inside[..end].trim();
        pieces.extend((!text.is_empty()).then(|| Piece::Text(std::mem::take(&mut text))));
        pieces.push(variable(name).map_err(|why| {
            format!(
                "{{{{{}}}}} at character {}: {why}",
                super::error::shorten(name),
                position(rest, at)
            )
        })?);
        rest = &inside[end + 2..];
    }
    text.push_str(rest);
    pieces.extend((!text.is_empty()).then_some(Piece::Text(text)));
    Ok(pieces)
}

/// The variable `name` between braces stands for.
fn variable(name: &str) -> Result<Piece, String> {
    if name.is_empty() {
        return Err("names no variable".into());
    }
    if name.contains('.') {
        return name.parse().map(Piece::Builtin).map_err(|_| {
            let names: Vec<_> = Builtin::ALL.iter().map(|b| b.as_str()).collect();
            format!("is not a built-in variable; they are {}", names.join(", "))
        });
    }
    check_name(name)?;
    Ok(Piece::Free(name.to_owned()))
}

/// Refuses a free variable name that is not 1 to 64 lower-case letters, digits or `_`, starting
/// with a letter.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let good = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= MAX_NAME;
    if good {
        Ok(())
    } else {
        Err(format!(
            "a variable name is 1 to {MAX_NAME} lower-case letters, digits or _, starting with \
             a letter"
        ))
    }
}

/// What a free variable takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VariableKind {
    /// Any text up to [`MAX_VALUE`] characters.
    Text,
    /// A decimal number, e.g. `12`, `-3`, `199.90`; rendered as written.
    Number,
    /// A calendar date, `YYYY-MM-DD`; rendered in the customer's language.
    Date,
    /// One of these, exactly as written.
    Choice(Vec<String>),
}

/// A value given for a variable, read as its kind says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Date(NaiveDate),
}

impl VariableKind {
    /// `given` read as this kind, or why it is not one.
    pub fn read(&self, given: &str) -> Result<Value, String> {
        let value = given.trim();
        if value.chars().count() > MAX_VALUE {
            return Err(format!("is longer than {MAX_VALUE} characters"));
        }
        if value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err("contains control characters".into());
        }
        match self {
            VariableKind::Text => Ok(Value::Text(value.to_owned())),
            VariableKind::Number => {
                let digits = value.strip_prefix('-').unwrap_or(value);
                let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
                let numeric = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
                if numeric(whole) && numeric(fraction) && value.len() <= 40 {
                    Ok(Value::Text(value.to_owned()))
                } else {
                    Err(format!(
                        "{} is not a number such as 12 or 199.90",
                        quote(value)
                    ))
                }
            }
            VariableKind::Date => NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .map(Value::Date)
                .map_err(|_| format!("{} is not a date YYYY-MM-DD", quote(value))),
            VariableKind::Choice(choices) => {
                if choices.iter().any(|c| c == value) {
                    Ok(Value::Text(value.to_owned()))
                } else {
                    Err(format!(
                        "{} is not one of the choices: {}",
                        quote(value),
                        choices.join(", ")
                    ))
                }
            }
        }
    }
}

/// A free variable a template declares and the agent fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variable {
    pub name: String,
    pub kind: VariableKind,
    /// Whether the agent must give it; an optional one without a default renders empty.
    pub required: bool,
    /// What an optional one renders as when not given.
    pub default: Option<String>,
    /// What the agent's form calls it.
    pub label: String,
}

/// What applying a reply changes on its ticket besides the comment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Effects {
    /// The status to leave the ticket in: one of [`STATUSES`].
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    /// Normalized as tags are ([`normalize_tags`]).
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
    /// The resolution summary when the reply resolves the ticket; the title when unset.
    pub resolution_summary: Option<String>,
}

/// A canned reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyTemplate {
    pub id: String,
    pub title: String,
    /// Only this team's staff see and use it; `None`: everyone.
    pub team: Option<String>,
    /// The bodies; empty when the template has none in that language.
    pub body_zh: String,
    pub body_en: String,
    pub variables: Vec<Variable>,
    /// How the reply is posted.
    pub visibility: Visibility,
    pub effects: Effects,
    pub created_by: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

versioned!(ReplyTemplate);

/// A bad part of a template: the field's path within it, and what is wrong.
pub type Problem = (String, String);

impl ReplyTemplate {
    /// The body in `language`, else in the other language, with the language it is in.
    pub fn body(&self, language: Language) -> (&str, Language) {
        let (zh, en) = (self.body_zh.as_str(), self.body_en.as_str());
        match language {
            Language::Zh if !zh.is_empty() || en.is_empty() => (zh, Language::Zh),
            Language::En if en.is_empty() => (zh, Language::Zh),
            _ => (en, Language::En),
        }
    }

    /// Whether `name` is one of its free variables.
    fn declares(&self, name: &str) -> bool {
        self.variables.iter().any(|v| v.name == name)
    }

    /// Every problem of the template, by field path (`body_zh`, `variables[2].name`).
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut add = |field: String, why: String| problems.push((field, why));
        if self.body_zh.is_empty() && self.body_en.is_empty() {
            add("body_en".into(), "set body_zh, body_en or both".into());
        }
        let mut used = BTreeSet::new();
        for (field, body) in [("body_zh", &self.body_zh), ("body_en", &self.body_en)] {
            match parse(body) {
                Err(why) => add(field.into(), why),
                Ok(pieces) => {
                    let mut undeclared = BTreeSet::new();
                    for piece in pieces {
                        let Piece::Free(name) = piece else { continue };
                        if !self.declares(&name) {
                            undeclared.insert(format!("{{{{{name}}}}}"));
                        }
                        used.insert(name);
                    }
                    if !undeclared.is_empty() {
                        let names: Vec<String> = undeclared.into_iter().collect();
                        add(
                            field.into(),
                            format!(
                                "{} neither built-in nor declared in variables",
                                names.join(", ")
                            ),
                        );
                    }
                }
            }
        }
        let mut names = BTreeSet::new();
        for (i, v) in self.variables.iter().enumerate() {
            let field = |name: &str| format!("variables[{i}].{name}");
            if let Err(why) = check_name(&v.name) {
                add(field("name"), why);
            } else if !names.insert(v.name.as_str()) {
                add(
                    field("name"),
                    format!("{} is declared twice", quote(&v.name)),
                );
            } else if !used.contains(&v.name) {
                add(
                    field("name"),
                    format!("{} is used in no body", quote(&v.name)),
                );
            }
            if let VariableKind::Choice(choices) = &v.kind {
                let distinct: BTreeSet<_> = choices.iter().collect();
                if choices.is_empty() || choices.len() > MAX_CHOICES {
                    add(
                        field("choices"),
                        format!("a CHOICE variable has 1 to {MAX_CHOICES} choices"),
                    );
                } else if distinct.len() != choices.len() {
                    add(field("choices"), "are not distinct".into());
                } else if choices
                    .iter()
                    .any(|c| c.trim().is_empty() || c.chars().count() > MAX_VALUE)
                {
                    add(
                        field("choices"),
                        format!("each choice is 1 to {MAX_VALUE} characters"),
                    );
                }
            }
            match (&v.default, v.required) {
                (Some(_), true) => add(
                    field("default_value"),
                    "a required variable has no default: the agent gives it".into(),
                ),
                (Some(default), false) => {
                    if let Err(why) = v.kind.read(default) {
                        add(field("default_value"), why);
                    }
                }
                (None, _) => {}
            }
        }
        let effects = &self.effects;
        if let Some(status) = effects.status
            && !STATUSES.contains(&status)
        {
            add(
                "changes.status".into(),
                "a reply leaves the ticket IN_PROGRESS, PENDING_CUSTOMER or RESOLVED".into(),
            );
        }
        if effects.resolution_summary.is_some() && effects.status != Some(Status::Resolved) {
            add(
                "changes.resolution_summary".into(),
                "is only for a reply that resolves the ticket (status RESOLVED)".into(),
            );
        }
        if let Some(tag) = effects
            .add_tags
            .iter()
            .find(|t| effects.remove_tags.contains(t))
        {
            add(
                "changes.remove_tags".into(),
                format!("{} is also in add_tags", quote(tag)),
            );
        }
        problems
    }

    /// The values of its free variables from what the agent `given`, by name: each checked
    /// against its kind, a missing optional one its default (or empty). Every bad value is
    /// named `values.NAME`.
    pub fn values(
        &self,
        given: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, Value>, Refusal> {
        let mut bad = Vec::new();
        for name in given.keys().filter(|n| !self.declares(n)) {
            bad.push(FieldViolation::new(
                format!("values.{}", super::error::shorten(name)),
                format!("is not a variable of reply template {}", self.id),
            ));
        }
        let mut values = BTreeMap::new();
        for v in &self.variables {
            let field = format!("values.{}", v.name);
            // A blank value is no value: the default's, or empty, or missing if required.
            let value = match given.get(&v.name).filter(|g| !g.trim().is_empty()) {
                Some(value) => v.kind.read(value),
                None if v.required => Err("is required".to_owned()),
                None => match &v.default {
                    Some(default) => v.kind.read(default),
                    None => Ok(Value::Text(String::new())),
                },
            };
            match value {
                Ok(value) => {
                    values.insert(v.name.clone(), value);
                }
                Err(why) => bad.push(FieldViolation::new(field, why)),
            }
        }
        if bad.is_empty() {
            Ok(values)
        } else {
            // As many as a request may declare; unknown names beyond are counted.
            let more = bad.len().saturating_sub(MAX_VARIABLES);
            bad.truncate(MAX_VARIABLES);
            Err(Refusal::Invalid {
                violations: bad,
                more,
            })
        }
    }

    /// The reply's text for `facts`' ticket, in the customer's language (else the template's
    /// other one), with `values` for its free variables. A built-in the ticket has no value
    /// for refuses: the reply would promise nothing.
    pub fn render(
        &self,
        facts: &Facts,
        values: &BTreeMap<String, Value>,
    ) -> Result<Rendered, Refusal> {
        let (body, language) = self.body(facts.ticket.language());
        // Stored bodies were parsed when written.
        let pieces = parse(body)
            .map_err(|why| Refusal::precondition(format!("reply template {}", self.id), why))?;
        let mut text = String::new();
        for piece in pieces {
            match piece {
                Piece::Text(t) => text.push_str(&t),
                Piece::Free(name) => match values.get(&name) {
                    Some(Value::Text(t)) => text.push_str(t),
                    Some(Value::Date(d)) => text.push_str(&date(*d, language)),
                    None => {}
                },
                Piece::Builtin(b) => text.push_str(&facts.builtin(b, language)?),
            }
        }
        let length = text.chars().count();
        if length > limits::COMMENT {
            return Err(Refusal::invalid(
                "values",
                format!(
                    "make the reply {length} characters long; a comment is at most {}",
                    limits::COMMENT
                ),
            ));
        }
        let body = text.trim();
        if body.is_empty() {
            return Err(Refusal::invalid(
                "values",
                "leave the reply empty: give the variables it is made of",
            ));
        }
        Ok(Rendered {
            body: body.to_owned(),
            language,
        })
    }

    /// Applies the reply to `ticket`, as `actor` at `now`: the comment's effect (a public
    /// reply is the first response, and puts an acknowledged ticket in progress), the priority
    /// and tags, then the status. Returns the status step when the reply took one, to be
    /// recorded as its own event in the same change; or refuses what the ticket's status does
    /// not allow.
    pub fn apply(
        &self,
        ticket: &mut Ticket,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Step>, Refusal> {
        lifecycle::apply(
            ticket,
            Action::Comment {
                visibility: self.visibility,
                role: super::ticket::AuthorRole::Agent,
            },
            now,
        )?;
        let e = &self.effects;
        let mut tags = ticket.tags.clone();
        tags.extend(e.add_tags.iter().cloned());
        tags.retain(|t| !e.remove_tags.contains(t));
        let tags = normalize_tags(tags);
        let reprioritized = e.priority.is_some_and(|p| p != ticket.priority);
        if tags != ticket.tags || reprioritized {
            lifecycle::check_allowed(ticket, Verb::Update)?;
        }
        if tags.len() > limits::TAGS {
            return Err(Refusal::precondition(
                format!("ticket {}", ticket.number),
                format!(
                    "would have {} tags with the reply's; a ticket has at most {}",
                    tags.len(),
                    limits::TAGS
                ),
            ));
        }
        ticket.tags = tags;
        if let Some(priority) = e.priority {
            ticket.set_priority(priority, actor);
        }
        let action = match e.status {
            None => return Ok(None),
            Some(status) if status == ticket.status => return Ok(None),
            Some(Status::PendingCustomer) => Action::SetPending { reason: None },
            Some(Status::InProgress) => Action::Resume,
            Some(Status::Resolved) => Action::Resolve {
                summary: e
                    .resolution_summary
                    .clone()
                    .unwrap_or_else(|| self.title.clone()),
                resolution: Resolution::Solved,
                merged_into: None,
                with_parent: false,
            },
            Some(other) => {
                return Err(Refusal::precondition(
                    format!("reply template {}", self.id),
                    format!("a reply does not leave a ticket {other}"),
                ));
            }
        };
        let from = ticket.clone();
        let event = action.event_type();
        lifecycle::apply(ticket, action, now)?;
        Ok(Some(Step {
            event,
            reason: None,
            from,
        }))
    }

    /// Whether applying it resolves a ticket now in `status`.
    pub fn resolves(&self, status: Status) -> bool {
        self.effects.status == Some(Status::Resolved) && status != Status::Resolved
    }
}

/// Which templates a list holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateFilter {
    /// The global templates and those of these teams; `None`: every template.
    pub visible: Option<Vec<String>>,
    /// Only this team's.
    pub team: Option<String>,
    /// Only global ones.
    pub global_only: bool,
    /// Only those whose title contains this, in any case.
    pub text: Option<String>,
}

/// A reply rendered for a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub body: String,
    /// The language of the body used.
    pub language: Language,
}

/// What the built-in variables are filled from.
pub struct Facts<'a> {
    pub ticket: &'a Ticket,
    /// The display name of the agent the reply is posted as; `None` when the actor is none.
    pub agent: Option<&'a str>,
    /// The display name of the ticket's team; `None` without one.
    pub team: Option<&'a str>,
    /// The zone of the team's calendar, for times.
    pub zone: Tz,
}

impl Facts<'_> {
    /// The zone times are told in: the one the ticket's clocks were set in, else `zone`.
    fn zone(&self) -> Tz {
        self.ticket
            .sla
            .zone
            .as_deref()
            .and_then(|z| z.parse().ok())
            .unwrap_or(self.zone)
    }

    fn builtin(&self, b: Builtin, language: Language) -> Result<String, Refusal> {
        let t = self.ticket;
        let missing = |what: &str| {
            Refusal::precondition(
                format!("ticket {}", t.number),
                format!("{{{{{b}}}}} has no value: {what}"),
            )
        };
        let due = |target: Target, what: &str| {
            t.sla
                .clock(target)
                .and_then(|c| c.due)
                .map(|due| language.datetime(due, self.zone()))
                .ok_or_else(|| missing(what))
        };
        Ok(match b {
            Builtin::CustomerName => match (t.customer.name.trim(), language) {
                ("", Language::Zh) => "客户".to_owned(),
                ("", Language::En) => "customer".to_owned(),
                (name, _) => name.to_owned(),
            },
            Builtin::TicketNumber => t.number.clone(),
            Builtin::TicketTitle => t.title.clone(),
            Builtin::TicketProduct if t.product.is_empty() => {
                return Err(missing("the ticket names no product"));
            }
            Builtin::TicketProduct => t.product.clone(),
            Builtin::AgentName => self
                .agent
                .map(str::to_owned)
                .ok_or_else(|| missing("the reply is not posted as an agent: name one in actor"))?,
            Builtin::TeamName => self
                .team
                .map(str::to_owned)
                .ok_or_else(|| missing("the ticket has no team"))?,
            Builtin::FirstResponseDue => due(
                Target::FirstResponse,
                "the ticket has no first-response deadline running",
            )?,
            Builtin::ResolutionDue => due(
                Target::Resolution,
                "the ticket has no resolution deadline running",
            )?,
        })
    }
}

/// A date as a customer reads it: "1 December 2026", "2026年12月1日".
fn date(d: NaiveDate, language: Language) -> String {
    use chrono::Datelike;
    match language {
        Language::En => d.format("%-d %B %Y").to_string(),
        Language::Zh => format!("{}年{}月{}日", d.year(), d.month(), d.day()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::EventType;
    use crate::domain::ticket::{Customer, Kind};

    fn template(body_en: &str, body_zh: &str, variables: Vec<Variable>) -> ReplyTemplate {
        let now = Utc::now();
        ReplyTemplate {
            id: "t".into(),
            title: "Refund".into(),
            team: None,
            body_zh: body_zh.into(),
            body_en: body_en.into(),
            variables,
            visibility: Visibility::Public,
            effects: Effects::default(),
            created_by: "admin".into(),
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    fn var(name: &str, kind: VariableKind, required: bool, default: Option<&str>) -> Variable {
        Variable {
            name: name.into(),
            kind,
            required,
            default: default.map(Into::into),
            label: String::new(),
        }
    }

    fn ticket(language: Language) -> Ticket {
        let customer = Customer {
            name: "Li Lei".into(),
            language: Some(language),
            ..Customer::default()
        };
        let mut t = crate::domain::ticket::sample(Kind::Complaint, customer, Utc::now());
        t.status = Status::Acknowledged;
        t
    }

    fn facts(t: &Ticket) -> Facts<'_> {
        Facts {
            ticket: t,
            agent: Some("Wang Fang"),
            team: Some("After-sales"),
            zone: chrono_tz::Asia::Shanghai,
        }
    }

    #[test]
    fn parses_text_and_variables() {
        assert_eq!(
            parse("Dear {{ customer.name }}, {{amount}}.").unwrap(),
            vec![
                Piece::Text("Dear ".into()),
                Piece::Builtin(Builtin::CustomerName),
                Piece::Text(", ".into()),
                Piece::Free("amount".into()),
                Piece::Text(".".into()),
            ]
        );
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(
            parse("{ a } }} {b}").unwrap(),
            vec![Piece::Text("{ a } }} {b}".into())]
        );
    }

    #[test]
    fn a_backslash_writes_literal_braces() {
        assert_eq!(
            parse(r"use \{{name}} as is, {{x}}").unwrap(),
            vec![
                Piece::Text("use {{name}} as is, ".into()),
                Piece::Free("x".into()),
            ]
        );
    }

    #[test]
    fn malformed_bodies_say_where() {
        let unclosed = parse("Hello {{customer.name").unwrap_err();
        assert!(unclosed.contains("character 7"), "{unclosed}");
        let nested = parse("{{a {{b}}").unwrap_err();
        assert!(nested.contains("character 1"), "{nested}");
        assert!(parse("{{}}").unwrap_err().contains("names no variable"));
        assert!(parse("{{Amount}}").unwrap_err().contains("lower-case"));
        let unknown = parse("{{customer.phone}}").unwrap_err();
        assert!(unknown.contains("not a built-in"), "{unknown}");
        assert!(unknown.contains("customer.name"), "{unknown}");
        // Multi-byte text before the fault counts characters, not bytes.
        assert!(parse("您好{{").unwrap_err().contains("character 3"));
    }

    #[test]
    fn a_template_names_each_problem() {
        let mut t = template(
            "{{amount}} {{undeclared}}",
            "{{customer.nope}}",
            vec![
                var("amount", VariableKind::Number, true, Some("3")),
                var("amount", VariableKind::Text, false, None),
                var("unused", VariableKind::Choice(vec![]), false, None),
                var("when", VariableKind::Date, false, Some("tomorrow")),
            ],
        );
        t.effects.status = Some(Status::Closed);
        t.effects.add_tags = vec!["vip".into()];
        t.effects.remove_tags = vec!["vip".into()];
        let fields: Vec<String> = t.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "body_zh",
                "body_en",
                "variables[0].default_value",
                "variables[1].name",
                "variables[2].name",
                "variables[2].choices",
                "variables[3].name",
                "variables[3].default_value",
                "changes.status",
                "changes.remove_tags",
            ]
        );
        assert_eq!(
            template("", "", vec![]).problems(),
            vec![("body_en".into(), "set body_zh, body_en or both".into())]
        );
        assert!(
            template("Hi {{customer.name}}", "", vec![])
                .problems()
                .is_empty()
        );
    }

    #[test]
    fn values_are_typed_and_named() {
        let t = template(
            "{{amount}} {{when}} {{how}} {{note}} {{sign}}",
            "",
            vec![
                var("amount", VariableKind::Number, true, None),
                var("when", VariableKind::Date, true, None),
                var(
                    "how",
                    VariableKind::Choice(vec!["bank".into(), "alipay".into()]),
                    false,
                    Some("bank"),
                ),
                var("note", VariableKind::Text, false, None),
                var("sign", VariableKind::Text, false, Some("Service team")),
            ],
        );
        let given = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let Err(Refusal::Invalid { violations, .. }) = t.values(&given(&[
            ("amount", "12,5"),
            ("how", "cash"),
            ("extra", "x"),
        ])) else {
            panic!("bad values accepted")
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["values.extra", "values.amount", "values.when", "values.how"]
        );
        assert!(violations[2].description.contains("required"));
        let values = t
            .values(&given(&[("amount", "-199.90"), ("when", "2026-12-03")]))
            .unwrap();
        assert_eq!(values["amount"], Value::Text("-199.90".into()));
        assert_eq!(values["how"], Value::Text("bank".into()));
        assert_eq!(values["note"], Value::Text(String::new()));
        assert_eq!(values["sign"], Value::Text("Service team".into()));
        for bad in ["1.", ".5", "1e3", "--1", ""] {
            assert!(VariableKind::Number.read(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn renders_in_the_customers_language_with_a_fallback() {
        let t = template(
            "Dear {{customer.name}}, refund of {{amount}} by {{when}} ({{ticket.number}}). {{agent.name}}, {{team.name}}",
            "{{customer.name}}您好，退款{{amount}}元将于{{when}}到账（{{ticket.number}}）。",
            vec![
                var("amount", VariableKind::Number, true, None),
                var("when", VariableKind::Date, true, None),
            ],
        );
        let values = BTreeMap::from([
            ("amount".to_owned(), Value::Text("20".into())),
            (
                "when".to_owned(),
                Value::Date(NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()),
            ),
        ]);
        let en = ticket(Language::En);
        let rendered = t.render(&facts(&en), &values).unwrap();
        assert_eq!(rendered.language, Language::En);
        assert_eq!(
            rendered.body,
            "Dear Li Lei, refund of 20 by 3 December 2026 (FB202611220001). Wang Fang, After-sales"
        );
        let zh = ticket(Language::Zh);
        let rendered = t.render(&facts(&zh), &values).unwrap();
        assert_eq!(
            rendered.body,
            "Li Lei您好，退款20元将于2026年12月3日到账（FB202611220001）。"
        );
        // Only an English body: a Chinese customer reads it, dates and all, in English.
        let only_en = template(
            "By {{when}}",
            "",
            vec![var("when", VariableKind::Date, true, None)],
        );
        let rendered = only_en.render(&facts(&zh), &values).unwrap();
        assert_eq!(
            (rendered.body.as_str(), rendered.language),
            ("By 3 December 2026", Language::En)
        );
        // A nameless customer is greeted as one.
        let mut nameless = ticket(Language::Zh);
        nameless.customer.name.clear();
        let greet = template("", "尊敬的{{customer.name}}", vec![]);
        assert_eq!(
            greet.render(&facts(&nameless), &values).unwrap().body,
            "尊敬的客户"
        );
    }

    #[test]
    fn deadlines_read_in_the_teams_zone_and_missing_ones_refuse() {
        let mut t = ticket(Language::Zh);
        let due: DateTime<Utc> = "2026-12-01T06:30:00Z".parse().unwrap();
        let always = crate::domain::calendar::Calendar::always();
        let by = crate::domain::sla::Counting {
            calendar: &always,
            at_risk_share: 0.8,
        };
        let mut clock = crate::domain::sla::SlaClock::start(
            Target::Resolution,
            chrono::Duration::hours(8),
            due - chrono::Duration::hours(8),
            by,
        );
        clock.due = Some(due);
        t.sla.clocks = vec![clock];
        let reply = template("{{sla.resolution_due}}", "{{sla.resolution_due}}", vec![]);
        let body = reply.render(&facts(&t), &BTreeMap::new()).unwrap().body;
        assert_eq!(body, Language::Zh.datetime(due, chrono_tz::Asia::Shanghai));
        assert!(body.contains("14:30"), "{body}");
        let first = template("{{sla.first_response_due}}", "", vec![]);
        let refused = first.render(&facts(&t), &BTreeMap::new()).unwrap_err();
        assert!(matches!(refused, Refusal::Precondition { .. }), "{refused}");
        let agent = template("{{agent.name}}", "", vec![]);
        let no_agent = Facts {
            agent: None,
            ..facts(&t)
        };
        assert!(agent.render(&no_agent, &BTreeMap::new()).is_err());
    }

    #[test]
    fn applying_changes_fields_and_takes_a_status_step() {
        let mut reply = template("Please send the receipt.", "", vec![]);
        reply.effects = Effects {
            status: Some(Status::PendingCustomer),
            priority: Some(Priority::Urgent),
            add_tags: vec!["refund".into()],
            remove_tags: vec!["new".into()],
            resolution_summary: None,
        };
        let mut t = ticket(Language::En);
        t.tags = vec!["new".into(), "parcel".into()];
        let now = Utc::now();
        let step = reply.apply(&mut t, "wang", now).unwrap().unwrap();
        assert_eq!(step.event, EventType::TicketPending);
        assert_eq!(step.from.status, Status::InProgress);
        assert_eq!(t.status, Status::PendingCustomer);
        assert_eq!(t.priority, Priority::Urgent);
        assert_eq!(t.tags, ["parcel", "refund"]);
        assert_eq!(t.first_responded_at, Some(now));
        // Pending already: the reply keeps it so, with no step.
        assert!(reply.apply(&mut t, "wang", now).unwrap().is_none());
        // A public reply on a ticket nobody acknowledged is not allowed.
        let mut new = ticket(Language::En);
        new.status = Status::New;
        assert!(matches!(
            reply.apply(&mut new, "wang", now),
            Err(Refusal::NotAllowed { .. })
        ));
        // An internal note may resolve only what may be resolved.
        reply.visibility = Visibility::Internal;
        reply.effects.status = Some(Status::Resolved);
        assert!(matches!(
            reply.apply(&mut new, "wang", now),
            Err(Refusal::NotAllowed { .. })
        ));
        let mut open = ticket(Language::En);
        let step = reply.apply(&mut open, "wang", now).unwrap().unwrap();
        assert_eq!(step.event, EventType::TicketResolved);
        assert_eq!(open.resolution_summary.as_deref(), Some("Refund"));
        assert_eq!(
            open.first_responded_at, None,
            "an internal note answers nobody"
        );
    }
}
