//! SurveyService.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tonic::Request;

use super::convert;
use super::paging::{self, DEFAULT_PAGE, MAX_PAGE};
use super::validate::{Check, actor, key, only_key, optional_key, patch};
use super::{Context, Reply, etag, reply};
use crate::domain::survey::{
    self, Answer, Outcome, Question, QuestionKind, Survey, SurveyState, Template,
};
use crate::domain::ticket::limits;
use crate::error::Error;
use crate::proto::feedback::v1::{self as pb, survey_service_server::SurveyService};
use crate::store::{Grouping, ResponseFilter};

/// A TEXT question that does not say how long an answer may be.
const DEFAULT_TEXT: usize = 2_000;
/// Longest token accepted; tokens are 32 characters.
const MAX_TOKEN: usize = 64;
/// The longest period figures are computed over.
const MAX_STATS_PERIOD: chrono::Duration = chrono::Duration::days(366);

/// The SurveyService handlers.
pub struct SurveyApi {
    cx: Context,
}

impl SurveyApi {
    pub fn new(cx: Context) -> Self {
        Self { cx }
    }
}

/// A template from a request.
fn template(check: &mut Check, t: &pb::SurveyTemplate, now: DateTime<Utc>) -> Template {
    let id = key(check, "template.id", &t.id);
    let display_name = check
        .optional_text("template.display_name", &t.display_name, limits::NAME)
        .unwrap_or_else(|| id.clone());
    let questions: Vec<Question> = t
        .questions
        .iter()
        .enumerate()
        .map(|(i, q)| question(check, &format!("template.questions[{i}]"), q))
        .collect();
    for (path, problem) in survey::check_questions(&questions) {
        check.add(format!("template.questions{path}"), problem);
    }
    Template {
        id,
        display_name,
        questions,
        is_default: t.default,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn question(check: &mut Check, field: &str, q: &pb::SurveyQuestion) -> Question {
    let kind = check.required_enum::<QuestionType>(&format!("{field}.type"), q.r#type);
    if kind != Some(QuestionType::Choice) && !q.options.is_empty() {
        check.add(format!("{field}.options"), "are only for CHOICE questions");
    }
    if kind != Some(QuestionType::Text) && q.max_length != 0 {
        check.add(format!("{field}.max_length"), "is only for TEXT questions");
    }
    let kind = match kind {
        Some(QuestionType::Rating) | None => QuestionKind::Rating,
        Some(QuestionType::Nps) => QuestionKind::Nps,
        Some(QuestionType::Choice) => {
            QuestionKind::Choice(q.options.iter().map(|o| o.trim().to_owned()).collect())
        }
        Some(QuestionType::Text) => QuestionKind::Text(match q.max_length {
            0 => DEFAULT_TEXT,
            n => usize::try_from(n).unwrap_or(0),
        }),
    };
    Question {
        key: q.key.trim().to_owned(),
        prompt: q.prompt.trim().to_owned(),
        kind,
        required: q.required,
    }
}

/// The question types as the request check reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuestionType {
    Rating,
    Nps,
    Choice,
    Text,
}

impl convert::EnumField for QuestionType {
    fn from_wire(value: i32) -> std::result::Result<Option<Self>, ()> {
        Ok(match pb::QuestionType::try_from(value).map_err(|_| ())? {
            pb::QuestionType::Unspecified => None,
            pb::QuestionType::Rating => Some(QuestionType::Rating),
            pb::QuestionType::Nps => Some(QuestionType::Nps),
            pb::QuestionType::Choice => Some(QuestionType::Choice),
            pb::QuestionType::Text => Some(QuestionType::Text),
        })
    }
}

/// The answers of a request by question key, and where each stood in the request.
fn answers(
    check: &mut Check,
    given: &[pb::SurveyAnswer],
) -> (BTreeMap<String, Answer>, BTreeMap<String, usize>) {
    use pb::survey_answer::Value;
    let (mut answers, mut positions) = (BTreeMap::new(), BTreeMap::new());
    for (i, a) in given.iter().enumerate() {
        let key = a.question_key.trim().to_owned();
        if key.is_empty() {
            check.add(format!("answers[{i}].question_key"), "is required");
            continue;
        }
        if positions.contains_key(&key) {
            check.add(
                format!("answers[{i}].question_key"),
                format!("{key:?} is answered twice"),
            );
            continue;
        }
        let answer = match &a.value {
            Some(Value::Score(score)) => Answer::Score(*score),
            Some(Value::Choice(choice)) => Answer::Choice(choice.clone()),
            Some(Value::Text(text)) => Answer::Text(text.clone()),
            None => {
                check.add(
                    format!("answers[{i}]"),
                    "has no value: set score, choice or text",
                );
                continue;
            }
        };
        positions.insert(key.clone(), i);
        answers.insert(key, answer);
    }
    (answers, positions)
}

/// What the customer reads after answering.
fn thanks(answered: &Survey, number: &str) -> String {
    match answered.outcome {
        Some(Outcome::Reopened) => format!(
            "Thank you for telling us. We are sorry we fell short: ticket {number} is open \
             again and we will be in touch."
        ),
        Some(Outcome::Closed) => {
            format!("Thank you for your feedback. We are glad ticket {number} is settled.")
        }
        _ => format!("Thank you for your feedback on ticket {number}."),
    }
}

impl convert::EnumField for Grouping {
    fn from_wire(value: i32) -> std::result::Result<Option<Self>, ()> {
        Ok(match pb::SurveyGrouping::try_from(value).map_err(|_| ())? {
            pb::SurveyGrouping::Unspecified => None,
            pb::SurveyGrouping::Team => Some(Grouping::Team),
            pb::SurveyGrouping::Agent => Some(Grouping::Agent),
            pb::SurveyGrouping::Kind => Some(Grouping::Kind),
            pb::SurveyGrouping::Channel => Some(Grouping::Channel),
            pb::SurveyGrouping::Product => Some(Grouping::Product),
        })
    }
}

/// A score bound of the responses list: 0 for none, else 1 to 5.
fn score_bound(check: &mut Check, field: &str, value: i32) -> Option<i32> {
    match value {
        0 => None,
        1..=5 => Some(value),
        _ => {
            check.add(field, "must be 1 to 5, or 0 for no bound");
            None
        }
    }
}

#[tonic::async_trait]
impl SurveyService for SurveyApi {
    async fn create_survey_template(
        &self,
        request: Request<pb::CreateSurveyTemplateRequest>,
    ) -> Reply<pb::SurveyTemplate> {
        let r = request.into_inner();
        reply(
            async {
                let Some(given) = r.template else {
                    return Err(Error::invalid("template", "is required"));
                };
                let mut check = Check::new();
                let new = template(&mut check, &given, self.cx.now());
                check.finish()?;
                Ok(convert::template(self.cx.store.create_template(new).await?))
            }
            .await,
        )
    }

    async fn get_survey_template(
        &self,
        request: Request<pb::GetSurveyTemplateRequest>,
    ) -> Reply<pb::SurveyTemplate> {
        let r = request.into_inner();
        reply(
            async {
                let id = only_key("id", &r.id)?;
                Ok(convert::template(self.cx.store.get_template(&id).await?))
            }
            .await,
        )
    }

    async fn list_survey_templates(
        &self,
        request: Request<pb::ListSurveyTemplatesRequest>,
    ) -> Reply<pb::ListSurveyTemplatesResponse> {
        let r = request.into_inner();
        let store = &self.cx.store;
        reply(
            async {
                let (templates, next_page_token) =
                    paging::by_id(
                        &pb::ListSurveyTemplatesRequest::default(),
                        r.page_size,
                        &r.page_token,
                        |after, limit| async move {
                            store.list_templates(after.as_deref(), limit).await
                        },
                        convert::template,
                        |x| x.id.clone(),
                    )
                    .await?;
                Ok(pb::ListSurveyTemplatesResponse {
                    templates,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_survey_template(
        &self,
        request: Request<pb::UpdateSurveyTemplateRequest>,
    ) -> Reply<pb::SurveyTemplate> {
        let r = request.into_inner();
        reply(
            async {
                let Some(given) = r.template else {
                    return Err(Error::invalid(
                        "template",
                        "is required: set template.id and the new values",
                    ));
                };
                let mut check = Check::new();
                let (paths, new) = patch(
                    &mut check,
                    "template",
                    r.update_mask.as_ref(),
                    &["display_name", "questions", "default"],
                    |check| template(check, &given, self.cx.now()),
                );
                if paths.iter().any(|p| p == "default") && !given.default {
                    check.add(
                        "template.default",
                        "cannot be unset: make another template the default instead",
                    );
                }
                check.finish()?;
                let updated = self
                    .cx
                    .store
                    .update_template(&new.id, etag(&r.etag), self.cx.now(), |t| {
                        for path in &paths {
                            match path.as_str() {
                                "display_name" => t.display_name = new.display_name.clone(),
                                "questions" => t.questions = new.questions.clone(),
                                "default" => t.is_default = true,
                                other => unreachable!("mask path {other} passed the check"),
                            }
                        }
                        Ok(())
                    })
                    .await?;
                Ok(convert::template(updated))
            }
            .await,
        )
    }

    async fn delete_survey_template(
        &self,
        request: Request<pb::DeleteSurveyTemplateRequest>,
    ) -> Reply<pb::DeleteSurveyTemplateResponse> {
        let r = request.into_inner();
        reply(
            async {
                let id = only_key("id", &r.id)?;
                self.cx.store.delete_template(&id).await?;
                Ok(pb::DeleteSurveyTemplateResponse {})
            }
            .await,
        )
    }

    async fn send_survey(
        &self,
        request: Request<pb::SendSurveyRequest>,
    ) -> Reply<pb::SurveyInvitation> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let ticket_id = check.id("ticket_id", r.ticket_id);
                let template_id = optional_key(&mut check, "template_id", &r.template_id);
                let actor = actor(&mut check, "actor", &r.actor);
                check.finish()?;
                let expiry = self.cx.surveys.settings().policy.expiry;
                let sent = self
                    .cx
                    .store
                    .send_survey(
                        ticket_id,
                        template_id.as_deref(),
                        &actor,
                        self.cx.now(),
                        expiry,
                    )
                    .await?;
                Ok(convert::invitation(sent))
            }
            .await,
        )
    }

    async fn get_survey(&self, request: Request<pb::GetSurveyRequest>) -> Reply<pb::Survey> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let token = check.text("token", &r.token, true, MAX_TOKEN);
                check.finish()?;
                let s = self.cx.store.survey_by_token(&token).await?;
                let ticket = self.cx.store.get_ticket(s.ticket_id).await?;
                let state = match s.state {
                    SurveyState::Open if s.expire_at <= self.cx.now() => SurveyState::Expired,
                    state => state,
                };
                Ok(pb::Survey {
                    token,
                    ticket_number: ticket.number,
                    ticket_title: ticket.title,
                    questions: s.questions.into_iter().map(convert::question).collect(),
                    state: pb::SurveyState::from(state).into(),
                    expire_time: Some(convert::timestamp(s.expire_at)),
                })
            }
            .await,
        )
    }

    async fn submit_survey_response(
        &self,
        request: Request<pb::SubmitSurveyResponseRequest>,
    ) -> Reply<pb::SubmitSurveyResponseResponse> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let token = check.text("token", &r.token, true, MAX_TOKEN);
                let (answers, positions) = answers(&mut check, &r.answers);
                check.finish()?;
                let s = self.cx.store.survey_by_token(&token).await?;
                let ticket = self.cx.store.get_ticket(s.ticket_id).await?;
                if s.closed_for_answers(self.cx.now()).is_some() {
                    return Err(crate::store::unanswerable(&s, self.cx.now(), &ticket));
                }
                let mut check = Check::new();
                if let Err(problems) = survey::check_answers(&s.questions, &answers) {
                    for (question, problem) in problems {
                        match positions.get(&question) {
                            Some(i) if problem == survey::NOT_A_QUESTION => check.add(
                                format!("answers[{i}].question_key"),
                                format!("{question:?} {problem}"),
                            ),
                            Some(i) => check.add(format!("answers[{i}]"), problem),
                            None => check.add("answers", format!("{question:?} {problem}")),
                        }
                    }
                }
                check.finish()?;
                let answered = self.cx.surveys.answer(&s, answers).await?;
                Ok(pb::SubmitSurveyResponseResponse {
                    message: thanks(&answered, &ticket.number),
                    ticket_number: ticket.number,
                })
            }
            .await,
        )
    }

    async fn list_survey_responses(
        &self,
        request: Request<pb::ListSurveyResponsesRequest>,
    ) -> Reply<pb::ListSurveyResponsesResponse> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let filter = ResponseFilter {
                    submitted_after: check.timestamp("submitted_after", r.submitted_after.as_ref()),
                    submitted_before: check
                        .timestamp("submitted_before", r.submitted_before.as_ref()),
                    team: optional_key(&mut check, "team", &r.team),
                    agent: optional_key(&mut check, "agent", &r.agent),
                    min_score: score_bound(&mut check, "min_score", r.min_score),
                    max_score: score_bound(&mut check, "max_score", r.max_score),
                    has_comment: r.has_comment,
                    ticket_id: (r.ticket_id != 0).then(|| check.id("ticket_id", r.ticket_id)),
                };
                if let (Some(min), Some(max)) = (filter.min_score, filter.max_score)
                    && min > max
                {
                    check.add("min_score", format!("is above max_score ({max})"));
                }
                let limit = check.page_size("page_size", r.page_size, DEFAULT_PAGE, MAX_PAGE);
                check.finish()?;
                let query = paging::fingerprint(&pb::ListSurveyResponsesRequest {
                    page_size: 0,
                    page_token: String::new(),
                    ..r.clone()
                });
                let after: Option<(DateTime<Utc>, i64)> = paging::decode(query, &r.page_token)?;
                let rows = self
                    .cx
                    .store
                    .survey_responses(&filter, after, limit + 1)
                    .await?;
                let (responses, next_page_token) = paging::page(
                    rows,
                    limit,
                    query,
                    |(s, number)| convert::response(s, number),
                    |(s, _)| (s.answered_at.unwrap_or_default(), s.id),
                );
                Ok(pb::ListSurveyResponsesResponse {
                    responses,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn get_survey_stats(
        &self,
        request: Request<pb::GetSurveyStatsRequest>,
    ) -> Reply<pb::SurveyStats> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let from = check.timestamp("sent_after", r.sent_after.as_ref());
                let to = check.timestamp("sent_before", r.sent_before.as_ref());
                if r.sent_after.is_none() {
                    check.add("sent_after", "is required");
                }
                if r.sent_before.is_none() {
                    check.add("sent_before", "is required");
                }
                if let (Some(from), Some(to)) = (from, to) {
                    if to <= from {
                        check.add("sent_before", "must be after sent_after");
                    } else if to - from > MAX_STATS_PERIOD {
                        check.add("sent_before", "is more than 366 days after sent_after");
                    }
                }
                let group_by = check.optional_enum::<Grouping>("group_by", r.group_by);
                check.finish()?;
                let (Some(from), Some(to)) = (from, to) else {
                    unreachable!("both bounds passed the check")
                };
                let (total, groups) = self.cx.store.survey_tallies(from, to, group_by).await?;
                Ok(pb::SurveyStats {
                    total: Some(convert::figures(survey::stats(&total))),
                    groups: groups
                        .into_iter()
                        .map(|(key, tally)| pb::SurveyGroup {
                            key,
                            figures: Some(convert::figures(survey::stats(&tally))),
                        })
                        .collect(),
                })
            }
            .await,
        )
    }
}
