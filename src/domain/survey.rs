//! Satisfaction surveys: what a template asks, whether a response answers it, what the
//! answers mean for the ticket (a low score reopens it), when a resolved ticket is surveyed,
//! and the figures read from many responses.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::error::{FieldViolation, Refusal, quote};
use super::event::{Change, EventType};
use super::format::{human, rfc3339};
use super::language::Language;
use super::lifecycle;
use super::priority::one_step_up;
use super::staff::Agent;
use super::ticket::{Channel, Identity, Kind, Resolution, Status, Ticket, named_enum};

/// Most questions a template asks.
pub const MAX_QUESTIONS: usize = 30;
/// Most options a choice question offers.
pub const MAX_OPTIONS: usize = 20;
/// Longest prompt, option, and the longest text answer a question may allow, in characters.
pub const MAX_PROMPT: usize = 500;
pub const MAX_OPTION: usize = 100;
pub const MAX_TEXT: usize = 10_000;
/// The id of the template installed on first start.
pub const DEFAULT_TEMPLATE: &str = "default";

/// What kind of answer a question takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// 1 (very dissatisfied) to 5 (very satisfied).
    Rating,
    /// 0 to 10: how likely the customer is to recommend us.
    Nps,
    /// One of the options.
    Choice(Vec<String>),
    /// Free text, at most this many characters.
    Text(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// Stable within its template, e.g. `result`, `attitude`, `timeliness`.
    pub key: String,
    pub prompt: String,
    pub kind: QuestionKind,
    pub required: bool,
    /// The prompt in other languages: a customer whose language has one reads it instead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub translations: BTreeMap<Language, String>,
}

impl Question {
    /// The question as a customer who reads `language` sees it: the prompt in their
    /// language when it has one, and no other.
    pub fn in_language(mut self, language: Language) -> Question {
        if let Some(prompt) = self.translations.remove(&language) {
            self.prompt = prompt;
        }
        self.translations.clear();
        self
    }
}

/// A set of questions sent as one survey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub id: String,
    pub display_name: String,
    pub questions: Vec<Question>,
    /// The template sent when a ticket is resolved; exactly one template is.
    pub is_default: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

super::error::versioned!(Template);

/// A bad part of a request: the field's path below the part checked, and what is wrong.
pub type Problem = (String, String);

/// Checks a template's questions; every problem is listed with its path, e.g.
/// `[2].options[1]`.
pub fn check_questions(questions: &[Question]) -> Vec<Problem> {
    let mut problems = Vec::new();
    if questions.is_empty() {
        problems.push((String::new(), "needs at least one question".to_owned()));
    }
    if questions.len() > MAX_QUESTIONS {
        problems.push((
            String::new(),
            format!("has more than {MAX_QUESTIONS} questions"),
        ));
    }
    for (i, q) in questions.iter().enumerate() {
        let at = |field: &str| format!("[{i}].{field}");
        if !super::staff::is_valid_key(&q.key) {
            problems.push((
                at("key"),
                "must be 1 to 64 letters, digits or -_.@".to_owned(),
            ));
        } else if questions[..i].iter().any(|earlier| earlier.key == q.key) {
            problems.push((at("key"), format!("{:?} is asked twice", q.key)));
        }
        let prompts = std::iter::once((at("prompt"), &q.prompt)).chain(
            q.translations
                .iter()
                .map(|(language, text)| (format!("[{i}].translations[{language}]"), text)),
        );
        for (field, prompt) in prompts {
            let length = prompt.trim().chars().count();
            if length == 0 || length > MAX_PROMPT {
                problems.push((field, format!("must be 1 to {MAX_PROMPT} characters")));
            }
        }
        match &q.kind {
            QuestionKind::Choice(options) => {
                if !(2..=MAX_OPTIONS).contains(&options.len()) {
                    problems.push((
                        at("options"),
                        format!("must offer 2 to {MAX_OPTIONS} options"),
                    ));
                }
                for (j, option) in options.iter().enumerate() {
                    let length = option.trim().chars().count();
                    if length == 0 || length > MAX_OPTION {
                        problems.push((
                            format!("[{i}].options[{j}]"),
                            format!("must be 1 to {MAX_OPTION} characters"),
                        ));
                    } else if options[..j].contains(option) {
                        problems
                            .push((format!("[{i}].options[{j}]"), "is offered twice".to_owned()));
                    }
                }
            }
            QuestionKind::Text(max) if !(1..=MAX_TEXT).contains(max) => {
                problems.push((at("max_length"), format!("must be 1 to {MAX_TEXT}")));
            }
            _ => {}
        }
    }
    problems
}

/// The template installed on first start: the result, the attitude and the timeliness, each
/// rated 1–5, and an optional comment; in English, and in Chinese for Chinese customers.
pub fn default_questions() -> Vec<Question> {
    let question = |key: &str, kind: QuestionKind, en: &str, zh: &str| Question {
        key: key.to_owned(),
        prompt: en.to_owned(),
        required: kind == QuestionKind::Rating,
        kind,
        translations: [(Language::Zh, zh.to_owned())].into(),
    };
    vec![
        question(
            "result",
            QuestionKind::Rating,
            "How satisfied are you with how your issue was resolved?",
            "您对问题的处理结果是否满意？",
        ),
        question(
            "attitude",
            QuestionKind::Rating,
            "How satisfied are you with the attitude of our staff?",
            "您对我们工作人员的服务态度是否满意？",
        ),
        question(
            "timeliness",
            QuestionKind::Rating,
            "How satisfied are you with how quickly we handled it?",
            "您对我们的处理速度是否满意？",
        ),
        question(
            "comment",
            QuestionKind::Text(2000),
            "Anything else you would like to tell us?",
            "您还有什么想告诉我们的吗？",
        ),
    ]
}

/// What a customer is told once they answered a survey about ticket `number`.
pub fn thanks(outcome: Option<Outcome>, number: &str, language: Language) -> String {
    match (language, outcome) {
        (Language::En, Some(Outcome::Reopened)) => format!(
            "Thank you for telling us. We are sorry we fell short: ticket {number} is open \
             again and we will be in touch."
        ),
        (Language::En, Some(Outcome::Closed)) => {
            format!("Thank you for your feedback. We are glad ticket {number} is settled.")
        }
        (Language::En, _) => format!("Thank you for your feedback on ticket {number}."),
        (Language::Zh, Some(Outcome::Reopened)) => format!(
            "感谢您的反馈。很抱歉没能让您满意：工单 {number} 已重新处理，我们会尽快与您联系。"
        ),
        (Language::Zh, Some(Outcome::Closed)) => {
            format!("感谢您的评价，很高兴工单 {number} 的问题已经解决。")
        }
        (Language::Zh, _) => format!("感谢您对工单 {number} 的评价。"),
    }
}

/// One answer as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Score(i32),
    Choice(String),
    Text(String),
}

/// What [`check_answers`] says of an answer to a question the survey does not ask.
pub const NOT_A_QUESTION: &str = "is not a question of this survey";

/// Checks `answers` (by question key) against the template; every problem is listed.
pub fn check_answers(
    questions: &[Question],
    answers: &BTreeMap<String, Answer>,
) -> Result<(), Vec<Problem>> {
    let mut problems = Vec::new();
    for key in answers
        .keys()
        .filter(|k| !questions.iter().any(|q| &q.key == *k))
    {
        problems.push((key.clone(), NOT_A_QUESTION.to_owned()));
    }
    for q in questions {
        let problem = match (answers.get(&q.key), &q.kind) {
            (None, _) if q.required => Some("is required".to_owned()),
            (None, _) => None,
            (Some(Answer::Score(s)), QuestionKind::Rating) => {
                (!(1..=5).contains(s)).then(|| format!("{s} is not a rating from 1 to 5"))
            }
            (Some(Answer::Score(s)), QuestionKind::Nps) => {
                (!(0..=10).contains(s)).then(|| format!("{s} is not a score from 0 to 10"))
            }
            (Some(Answer::Choice(c)), QuestionKind::Choice(options)) => (!options.contains(c))
                .then(|| format!("{} is not one of {}", quote(c), options.join(", "))),
            (Some(Answer::Text(t)), QuestionKind::Text(max)) => {
                (t.chars().count() > *max).then(|| format!("is longer than {max} characters"))
            }
            (Some(_), kind) => Some(format!("takes {}", kind_name(kind))),
        };
        if let Some(problem) = problem {
            problems.push((q.key.clone(), problem));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The answers of a response as given (question key and answer, in the request's order, each
/// key once), checked against the survey's questions; every problem is named by where its
/// answer stood in the request.
pub fn read_response(
    questions: &[Question],
    given: Vec<(String, Answer)>,
) -> Result<BTreeMap<String, Answer>, Refusal> {
    let positions: BTreeMap<String, usize> = given
        .iter()
        .enumerate()
        .map(|(i, (key, _))| (key.clone(), i))
        .collect();
    let answers: BTreeMap<String, Answer> = given.into_iter().collect();
    let Err(problems) = check_answers(questions, &answers) else {
        return Ok(answers);
    };
    let violations = problems
        .into_iter()
        .map(|(question, problem)| match positions.get(&question) {
            Some(i) if problem == NOT_A_QUESTION => FieldViolation::new(
                format!("answers[{i}].question_key"),
                format!("{} {problem}", quote(&question)),
            ),
            Some(i) => FieldViolation::new(format!("answers[{i}]"), problem),
            None => FieldViolation::new("answers", format!("{} {problem}", quote(&question))),
        })
        .collect();
    Err(Refusal::Invalid {
        violations,
        more: 0,
    })
}

/// Refuses a survey sent by hand of a ticket that is not resolved or closed, or that cannot
/// be surveyed (spam, merged, no way to reach the customer).
pub fn check_surveyable(ticket: &Ticket) -> Result<(), Refusal> {
    let refuse = |why: String| {
        Err(Refusal::precondition(
            format!("ticket {}", ticket.number),
            why,
        ))
    };
    if !matches!(ticket.status, Status::Resolved | Status::Closed) {
        return refuse(format!(
            "it is {}: only a resolved or closed ticket is surveyed",
            ticket.status
        ));
    }
    let resolution = ticket.resolution.unwrap_or(Resolution::Solved);
    match unsurveyable(ticket, resolution) {
        Some(why) => refuse(format!("it cannot be surveyed: {why}")),
        None => Ok(()),
    }
}

fn kind_name(kind: &QuestionKind) -> &'static str {
    match kind {
        QuestionKind::Rating => "a rating from 1 to 5",
        QuestionKind::Nps => "a score from 0 to 10",
        QuestionKind::Choice(_) => "one of its options",
        QuestionKind::Text(_) => "text",
    }
}

/// Which scale a scored answer is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// 1–5.
    Rating,
    /// 0–10.
    Nps,
}

/// One scored answer of a response, kept with its scale so that figures need no template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scored {
    pub key: String,
    pub scale: Scale,
    pub score: i32,
}

/// The scored answers of a checked response, in question order.
pub fn scores(questions: &[Question], answers: &BTreeMap<String, Answer>) -> Vec<Scored> {
    questions
        .iter()
        .filter_map(|q| {
            let scale = match q.kind {
                QuestionKind::Rating => Scale::Rating,
                QuestionKind::Nps => Scale::Nps,
                _ => return None,
            };
            match answers.get(&q.key) {
                Some(Answer::Score(score)) => Some(Scored {
                    key: q.key.clone(),
                    scale,
                    score: *score,
                }),
                _ => None,
            }
        })
        .collect()
}

/// The lowest 1–5 rating of a response: what decides whether it reopens the ticket.
pub fn lowest_rating(scores: &[Scored]) -> Option<i32> {
    scores
        .iter()
        .filter(|s| s.scale == Scale::Rating)
        .map(|s| s.score)
        .min()
}

/// Whether the customer wrote something in a text answer.
pub fn has_comment(answers: &BTreeMap<String, Answer>) -> bool {
    answers
        .values()
        .any(|a| matches!(a, Answer::Text(t) if !t.trim().is_empty()))
}

/// What a response means for its ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The customer is satisfied: close the ticket.
    Satisfied,
    /// A rating at or below the threshold: reopen, naming the low ratings.
    Dissatisfied { low: Vec<(String, i32)> },
}

/// A score at or below `threshold` on any rating question means the customer is not
/// satisfied (default threshold: 3).
pub fn verdict(scores: &[Scored], threshold: i32) -> Verdict {
    let low: Vec<(String, i32)> = scores
        .iter()
        .filter(|s| s.scale == Scale::Rating && s.score <= threshold)
        .map(|s| (s.key.clone(), s.score))
        .collect();
    if low.is_empty() {
        Verdict::Satisfied
    } else {
        Verdict::Dissatisfied { low }
    }
}

named_enum!(
    /// Where a survey stands.
    SurveyState {
        /// Created at a resolve, waiting for its send time.
        Scheduled = "SCHEDULED",
        /// Sent; the customer may answer until it expires.
        Open = "OPEN",
        Answered = "ANSWERED",
        /// Not answered in time.
        Expired = "EXPIRED",
        /// Replaced by a newer survey of the same ticket, or not sent because the ticket was
        /// back in work by its send time.
        Withdrawn = "WITHDRAWN",
    }
);

named_enum!(
    /// What a response did to its ticket.
    Outcome {
        /// Satisfied: the resolved ticket was closed.
        Closed = "CLOSED",
        /// Dissatisfied: the ticket was reopened.
        Reopened = "REOPENED",
        /// Recorded only: the ticket was already closed (and the customer satisfied) or back
        /// in work.
        Recorded = "RECORDED",
    }
);

/// What a response does to a ticket in `status`.
pub fn outcome(status: Status, verdict: &Verdict) -> Outcome {
    match (verdict, status) {
        (Verdict::Satisfied, Status::Resolved) => Outcome::Closed,
        (Verdict::Dissatisfied { .. }, Status::Resolved | Status::Closed) => Outcome::Reopened,
        _ => Outcome::Recorded,
    }
}

/// Where a ticket its customer was dissatisfied with goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReopenTo {
    /// The supervisor of the team that resolved it, when they can take it; else its queue.
    Supervisor,
    /// The queue of the team that resolved it, for the router.
    Team,
}

/// When resolved tickets are surveyed.
#[derive(Debug, Clone, PartialEq)]
pub struct InvitePolicy {
    /// How long after the resolve the survey is sent.
    pub delay: Duration,
    /// How long the customer has to answer, from the send.
    pub expiry: Duration,
    /// At most one survey per customer within this window (a reopened ticket resolved again
    /// is surveyed again: the window is about other tickets).
    pub per_customer: Duration,
}

/// When a survey is sent and expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub send_at: DateTime<Utc>,
    pub expire_at: DateTime<Utc>,
}

/// Who a customer is, for the per-customer limit (see [`super::ticket::Customer::identity`]);
/// `None` when there is no way to reach them.
pub fn customer_key(ticket: &Ticket) -> Option<String> {
    let (identity, value) = ticket.customer.identity()?;
    let kind = match identity {
        Identity::ExternalId => "id",
        Identity::Phone => "phone",
        Identity::Email => "email",
    };
    Some(format!("{kind}:{}", value.to_lowercase()))
}

/// Why a ticket resolved as `resolution` cannot be surveyed, if it cannot.
pub fn unsurveyable(ticket: &Ticket, resolution: Resolution) -> Option<&'static str> {
    match resolution {
        Resolution::Spam => Some("marked spam"),
        Resolution::Merged => Some("merged into another ticket"),
        Resolution::Solved => customer_key(ticket)
            .is_none()
            .then_some("no way to reach the customer"),
    }
}

/// Whether the ticket being resolved as `resolution` at `now` is surveyed, and when; or why
/// not. `last_for_customer` is when the customer was last surveyed about another ticket.
pub fn plan_invitation(
    ticket: &Ticket,
    resolution: Resolution,
    last_for_customer: Option<DateTime<Utc>>,
    policy: &InvitePolicy,
    now: DateTime<Utc>,
) -> Result<Schedule, String> {
    if let Some(why) = unsurveyable(ticket, resolution) {
        return Err(why.to_owned());
    }
    if let Some(last) = last_for_customer.filter(|last| now - *last < policy.per_customer) {
        return Err(format!(
            "the customer was surveyed about another ticket at {}, within the last {}",
            rfc3339(last),
            human(policy.per_customer)
        ));
    }
    let send_at = now + policy.delay;
    Ok(Schedule {
        send_at,
        expire_at: send_at + policy.expiry,
    })
}

/// One survey about one ticket, with the customer's response once given.
#[derive(Debug, Clone, PartialEq)]
pub struct Survey {
    pub id: i64,
    /// The unguessable secret the customer answers with.
    pub token: String,
    pub ticket_id: i64,
    pub template_id: String,
    /// The questions as they were when the survey was created.
    pub questions: Vec<Question>,
    pub customer_key: Option<String>,
    /// What the ticket was at its resolve, for filters and figures.
    pub team: Option<String>,
    pub agent: Option<String>,
    pub kind: Kind,
    pub channel: Channel,
    pub product: String,
    pub state: SurveyState,
    pub created_at: DateTime<Utc>,
    pub send_at: DateTime<Utc>,
    pub expire_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub answers: BTreeMap<String, Answer>,
    pub scores: Vec<Scored>,
    pub has_comment: bool,
    pub outcome: Option<Outcome>,
}

impl Survey {
    /// A survey of `ticket` asking `template`, sent now or scheduled.
    pub fn new(
        ticket: &Ticket,
        template: &Template,
        token: String,
        schedule: Schedule,
        now: DateTime<Utc>,
    ) -> Survey {
        Survey {
            id: 0,
            token,
            ticket_id: ticket.id,
            template_id: template.id.clone(),
            questions: template.questions.clone(),
            customer_key: customer_key(ticket),
            team: ticket.team.clone(),
            agent: ticket.assignee.clone(),
            kind: ticket.kind,
            channel: ticket.channel,
            product: ticket.product.clone(),
            state: if schedule.send_at > now {
                SurveyState::Scheduled
            } else {
                SurveyState::Open
            },
            created_at: now,
            send_at: schedule.send_at,
            expire_at: schedule.expire_at,
            answered_at: None,
            answers: BTreeMap::new(),
            scores: Vec::new(),
            has_comment: false,
            outcome: None,
        }
    }

    /// The survey as events refer to it; the token only for the invitation.
    pub fn reference(&self, with_token: bool) -> SurveyRef {
        SurveyRef {
            survey_id: self.id,
            token: with_token.then(|| self.token.clone()),
            template_id: self.template_id.clone(),
            expire_at: self.expire_at,
            score: lowest_rating(&self.scores),
            outcome: self.outcome,
            scores: self.scores.clone(),
        }
    }

    /// Why the survey cannot be answered at `now`, if it cannot.
    pub fn closed_for_answers(&self, now: DateTime<Utc>) -> Option<Closed> {
        match self.state {
            SurveyState::Answered => Some(Closed::Answered),
            SurveyState::Withdrawn => Some(Closed::Withdrawn),
            SurveyState::Expired => Some(Closed::Expired(self.expire_at)),
            SurveyState::Open if self.expire_at <= now => Some(Closed::Expired(self.expire_at)),
            SurveyState::Open => None,
            // Not sent yet: nobody has the token.
            SurveyState::Scheduled => Some(Closed::NotSent),
        }
    }
}

/// Why a survey takes no answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Answered,
    Withdrawn,
    Expired(DateTime<Utc>),
    NotSent,
}

impl Closed {
    /// The refusal a customer gets who answers a survey closed this way.
    pub fn refusal(self, ticket_number: &str) -> Refusal {
        let subject = format!("survey of ticket {ticket_number}");
        match self {
            Closed::Answered => {
                Refusal::already_exists("survey response", format!("for ticket {ticket_number}"))
            }
            Closed::Expired(at) => {
                Refusal::precondition(subject, format!("it expired at {}", rfc3339(at)))
            }
            Closed::Withdrawn => Refusal::precondition(
                subject,
                "it was withdrawn: a newer survey replaced it, or the ticket was back in work",
            ),
            // Not sent yet: as far as anyone outside knows, it does not exist.
            Closed::NotSent => Refusal::not_found("survey", "with this token"),
        }
    }
}

impl Survey {
    /// The survey as answered at `now` with `answers`, while its ticket is in `status`.
    pub fn answered(
        &self,
        answers: BTreeMap<String, Answer>,
        verdict: &Verdict,
        status: Status,
        now: DateTime<Utc>,
    ) -> Survey {
        Survey {
            state: SurveyState::Answered,
            answered_at: Some(now),
            scores: scores(&self.questions, &answers),
            has_comment: has_comment(&answers),
            answers,
            outcome: Some(outcome(status, verdict)),
            ..self.clone()
        }
    }

    /// What a satisfied answer does to a resolved ticket: it closes.
    pub fn close(&self, ticket: &mut Ticket, now: DateTime<Utc>) -> Result<Change, Refusal> {
        lifecycle::apply(ticket, lifecycle::Action::Close, now)?;
        Ok(Change::of(EventType::TicketClosed)
            .because(format!(
                "the customer is satisfied (survey {}: {})",
                self.id,
                listed(self.scores.iter().map(|s| (s.key.as_str(), s.score)))
            ))
            .survey(self.reference(false)))
    }

    /// What a dissatisfied answer does to its ticket: it is reopened one priority step
    /// higher, naming the low ratings.
    pub fn reopen(
        &self,
        ticket: &mut Ticket,
        low: &[(String, i32)],
        now: DateTime<Utc>,
    ) -> Result<Change, Refusal> {
        let low = listed(low.iter().map(|(key, score)| (key.as_str(), *score)));
        lifecycle::apply(
            ticket,
            lifecycle::Action::Reopen {
                reason: format!("survey: the customer rated {low}"),
            },
            now,
        )?;
        let higher = one_step_up(ticket.priority);
        if higher != ticket.priority {
            ticket.priority = higher;
            ticket
                .priority_reasons
                .push(format!("{higher}: dissatisfied survey ({low})"));
        }
        Ok(Change::of(EventType::TicketReopened)
            .because(format!("survey {}: the customer rated {low}", self.id))
            .survey(self.reference(false)))
    }

    /// Where a ticket its customer was dissatisfied with goes after the reopen: to
    /// `supervisor` of `team` when they can take it, else into `team`'s queue.
    pub fn hand_back(
        &self,
        ticket: &mut Ticket,
        team: &str,
        supervisor: Result<&Agent, &String>,
        now: DateTime<Utc>,
    ) -> Result<Change, Refusal> {
        let (agent, reason) = match supervisor.map_err(String::clone).and_then(|agent| {
            agent
                .can_take(ticket, Some(team))
                .map(|()| agent)
                .map_err(|refused| refused.to_string())
        }) {
            Ok(agent) => (
                Some(agent.id.clone()),
                format!("survey: to {}, the supervisor of team {team}", agent.id),
            ),
            Err(why) => (None, format!("survey: {why}; back in the queue of {team}")),
        };
        lifecycle::apply(
            ticket,
            lifecycle::Action::Assign {
                team: Some(team.to_owned()),
                agent,
                transfer_ownership: false,
            },
            now,
        )?;
        Ok(Change::of(EventType::TicketAssigned)
            .because(reason)
            .survey(self.reference(false)))
    }

    /// What an unanswered survey's expiry does to a ticket still resolved: it closes.
    pub fn expire(&self, ticket: &mut Ticket, now: DateTime<Utc>) -> Result<Change, Refusal> {
        lifecycle::apply(ticket, lifecycle::Action::Close, now)?;
        Ok(Change::of(EventType::TicketClosed)
            .because(format!(
                "no survey response by {} (survey {})",
                rfc3339(self.expire_at),
                self.id
            ))
            .survey(self.reference(false)))
    }
}

/// Ratings for reasons: "result 5, attitude 4".
fn listed<'a>(ratings: impl IntoIterator<Item = (&'a str, i32)>) -> String {
    let listed: Vec<String> = ratings
        .into_iter()
        .map(|(key, score)| format!("{key} {score}"))
        .collect();
    if listed.is_empty() {
        "no ratings".to_owned()
    } else {
        listed.join(", ")
    }
}

/// A survey as an event refers to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyRef {
    pub survey_id: i64,
    /// Only on the invitation: what the connector delivers to the customer.
    pub token: Option<String>,
    pub template_id: String,
    pub expire_at: DateTime<Utc>,
    /// The lowest rating, once answered.
    pub score: Option<i32>,
    pub outcome: Option<Outcome>,
    /// Once answered: every scored answer, for the figures the log feeds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<Scored>,
}

/// Figures over a set of responses.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stats {
    pub invitations: u64,
    pub responses: u64,
    /// Responses per invitation.
    pub response_rate: Option<f64>,
    /// Share of rating answers that are 4 or 5.
    pub csat: Option<f64>,
    /// Average and count of answers per scored question.
    pub averages: BTreeMap<String, (f64, u64)>,
    /// Promoters (9–10) minus detractors (0–6), as a percentage of NPS answers.
    pub nps: Option<f64>,
    pub nps_answers: u64,
    /// Responses that reopened their ticket.
    pub reopened: u64,
}

/// What one survey adds to the figures.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tally {
    pub invitations: u64,
    /// Per response, its scored answers.
    pub responses: Vec<Vec<Scored>>,
    pub reopened: u64,
}

impl Tally {
    /// Adds `other`'s invitations, responses and reopenings to these.
    pub fn add(&mut self, other: &Tally) {
        self.invitations += other.invitations;
        self.responses.extend(other.responses.iter().cloned());
        self.reopened += other.reopened;
    }
}

/// The figures of `tally`.
pub fn stats(tally: &Tally) -> Stats {
    let share = |part: usize, whole: usize| (whole > 0).then(|| part as f64 / whole as f64);
    let all: Vec<&Scored> = tally.responses.iter().flatten().collect();
    let ratings: Vec<i32> = all
        .iter()
        .filter(|s| s.scale == Scale::Rating)
        .map(|s| s.score)
        .collect();
    let nps: Vec<i32> = all
        .iter()
        .filter(|s| s.scale == Scale::Nps)
        .map(|s| s.score)
        .collect();
    let mut sums: BTreeMap<String, (i64, u64)> = BTreeMap::new();
    for s in &all {
        let (sum, n) = sums.entry(s.key.clone()).or_default();
        *sum += i64::from(s.score);
        *n += 1;
    }
    let promoters = nps.iter().filter(|s| **s >= 9).count();
    let detractors = nps.iter().filter(|s| **s <= 6).count();
    Stats {
        invitations: tally.invitations,
        responses: tally.responses.len() as u64,
        response_rate: share(tally.responses.len(), tally.invitations as usize),
        csat: share(ratings.iter().filter(|s| **s >= 4).count(), ratings.len()),
        averages: sums
            .into_iter()
            .map(|(k, (sum, n))| (k, (sum as f64 / n as f64, n)))
            .collect(),
        nps: share(promoters, nps.len())
            .zip(share(detractors, nps.len()))
            .map(|(p, d)| (p - d) * 100.0),
        nps_answers: nps.len() as u64,
        reopened: tally.reopened,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(pairs: &[(&str, Answer)]) -> BTreeMap<String, Answer> {
        pairs
            .iter()
            .map(|(k, a)| (k.to_string(), a.clone()))
            .collect()
    }

    fn template() -> Vec<Question> {
        let mut questions = default_questions();
        questions.push(Question {
            key: "nps".into(),
            prompt: "Recommend us?".into(),
            kind: QuestionKind::Nps,
            required: false,
            translations: Default::default(),
        });
        questions.push(Question {
            key: "channel".into(),
            prompt: "How did you reach us?".into(),
            kind: QuestionKind::Choice(vec!["phone".into(), "app".into()]),
            required: false,
            translations: Default::default(),
        });
        questions
    }

    #[test]
    fn every_kind_of_bad_answer_is_named() {
        let bad = answers(&[
            ("result", Answer::Score(6)),
            ("attitude", Answer::Text("great".into())),
            ("nps", Answer::Score(11)),
            ("channel", Answer::Choice("fax".into())),
            ("comment", Answer::Text("x".repeat(2001))),
            ("colour", Answer::Text("blue".into())),
        ]);
        let problems = check_answers(&template(), &bad).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "colour",
                "result",
                "attitude",
                "timeliness",
                "comment",
                "nps",
                "channel"
            ],
            "{problems:?}"
        );
        assert_eq!(problems[3].1, "is required");
        let good = answers(&[
            ("result", Answer::Score(5)),
            ("attitude", Answer::Score(4)),
            ("timeliness", Answer::Score(1)),
        ]);
        assert_eq!(check_answers(&template(), &good), Ok(()));
    }

    #[test]
    fn any_low_rating_means_dissatisfied() {
        let q = default_questions();
        let happy = answers(&[
            ("result", Answer::Score(5)),
            ("attitude", Answer::Score(4)),
            ("timeliness", Answer::Score(4)),
        ]);
        assert_eq!(verdict(&scores(&q, &happy), 3), Verdict::Satisfied);
        let unhappy = answers(&[
            ("result", Answer::Score(5)),
            ("attitude", Answer::Score(2)),
            ("timeliness", Answer::Score(3)),
        ]);
        let scored = scores(&q, &unhappy);
        assert_eq!(
            verdict(&scored, 3),
            Verdict::Dissatisfied {
                low: vec![("attitude".into(), 2), ("timeliness".into(), 3)]
            }
        );
        assert_eq!(lowest_rating(&scored), Some(2));
        assert_eq!(verdict(&scored, 1), Verdict::Satisfied, "threshold moves");
    }

    #[test]
    fn a_response_closes_reopens_or_is_recorded_by_status() {
        let low = Verdict::Dissatisfied {
            low: vec![("result".into(), 1)],
        };
        assert_eq!(
            outcome(Status::Resolved, &Verdict::Satisfied),
            Outcome::Closed
        );
        assert_eq!(
            outcome(Status::Closed, &Verdict::Satisfied),
            Outcome::Recorded
        );
        assert_eq!(outcome(Status::Resolved, &low), Outcome::Reopened);
        assert_eq!(outcome(Status::Closed, &low), Outcome::Reopened);
        for status in [Status::Reopened, Status::InProgress, Status::Assigned] {
            assert_eq!(outcome(status, &low), Outcome::Recorded);
            assert_eq!(outcome(status, &Verdict::Satisfied), Outcome::Recorded);
        }
    }

    #[test]
    fn templates_name_each_bad_question() {
        let mut q = template();
        q[1].key = "result".into();
        q[2].prompt = " ".into();
        q[5].kind = QuestionKind::Choice(vec!["phone".into(), "phone".into(), String::new()]);
        q[3].kind = QuestionKind::Text(0);
        let paths: Vec<String> = check_questions(&q).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "[1].key",
                "[2].prompt",
                "[3].max_length",
                "[5].options[1]",
                "[5].options[2]"
            ]
        );
        assert!(check_questions(&template()).is_empty());
        assert_eq!(check_questions(&[]).len(), 1);
        let one_option = vec![Question {
            key: "pick".into(),
            prompt: "Pick".into(),
            kind: QuestionKind::Choice(vec!["a".into()]),
            required: true,
            translations: [(Language::Zh, " ".into())].into(),
        }];
        let problems: Vec<_> = check_questions(&one_option)
            .into_iter()
            .map(|(field, _)| field)
            .collect();
        assert_eq!(problems, ["[0].translations[zh]", "[0].options"]);
        let read = default_questions().remove(0);
        assert_eq!(
            read.clone().in_language(Language::Zh).prompt,
            "您对问题的处理结果是否满意？"
        );
        let english = read.in_language(Language::En);
        assert_eq!(
            (english.prompt.as_str(), english.translations.len()),
            ("How satisfied are you with how your issue was resolved?", 0)
        );
    }

    fn resolved_ticket(external_id: &str, phone: &str) -> Ticket {
        use crate::domain::ticket::{Customer, Kind};
        let customer = Customer {
            external_id: external_id.into(),
            phone: phone.into(),
            ..Customer::default()
        };
        crate::domain::ticket::sample(Kind::Complaint, customer, Utc::now())
    }

    #[test]
    fn invitations_follow_the_policy() {
        let policy = InvitePolicy {
            delay: Duration::hours(1),
            expiry: Duration::days(7),
            per_customer: Duration::days(30),
        };
        let now = Utc::now();
        let t = resolved_ticket("C-1", "");
        assert_eq!(customer_key(&t).as_deref(), Some("id:c-1"));
        assert_eq!(
            customer_key(&resolved_ticket("", "138")).as_deref(),
            Some("phone:138")
        );
        let planned = plan_invitation(&t, Resolution::Solved, None, &policy, now).unwrap();
        assert_eq!(planned.send_at, now + Duration::hours(1));
        assert_eq!(
            planned.expire_at,
            now + Duration::hours(1) + Duration::days(7)
        );
        let recent = now - Duration::days(29);
        let refused = plan_invitation(&t, Resolution::Solved, Some(recent), &policy, now);
        assert!(refused.unwrap_err().contains("within the last 30 d"));
        let long_ago = now - Duration::days(31);
        assert!(plan_invitation(&t, Resolution::Solved, Some(long_ago), &policy, now).is_ok());
        for resolution in [Resolution::Spam, Resolution::Merged] {
            assert!(plan_invitation(&t, resolution, None, &policy, now).is_err());
        }
        let nobody = resolved_ticket("", "");
        assert_eq!(
            plan_invitation(&nobody, Resolution::Solved, None, &policy, now),
            Err("no way to reach the customer".into())
        );
    }

    #[test]
    fn figures_match_a_hand_count() {
        let q = template();
        let responses = [
            answers(&[
                ("result", Answer::Score(5)),
                ("attitude", Answer::Score(4)),
                ("timeliness", Answer::Score(3)),
                ("nps", Answer::Score(10)),
            ]),
            answers(&[
                ("result", Answer::Score(2)),
                ("attitude", Answer::Score(5)),
                ("timeliness", Answer::Score(4)),
                ("nps", Answer::Score(6)),
            ]),
            answers(&[
                ("result", Answer::Score(4)),
                ("attitude", Answer::Score(1)),
                ("timeliness", Answer::Score(5)),
                ("nps", Answer::Score(8)),
            ]),
        ];
        let s = stats(&Tally {
            invitations: 4,
            responses: responses.iter().map(|r| scores(&q, r)).collect(),
            reopened: 2,
        });
        assert_eq!(
            (s.invitations, s.responses, s.response_rate, s.reopened),
            (4, 3, Some(0.75), 2)
        );
        // Ratings: 5 4 3 / 2 5 4 / 4 1 5 — six of nine are 4 or 5.
        assert_eq!(s.csat, Some(6.0 / 9.0));
        assert_eq!(s.averages["result"], (11.0 / 3.0, 3));
        assert_eq!(s.averages["attitude"], (10.0 / 3.0, 3));
        // NPS answers 10, 6, 8: one promoter, one detractor.
        assert_eq!((s.nps, s.nps_answers), (Some(0.0), 3));
        let empty = stats(&Tally::default());
        assert_eq!(
            (empty.response_rate, empty.csat, empty.nps),
            (None, None, None)
        );
    }
}
