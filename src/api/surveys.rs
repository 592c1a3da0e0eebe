//! SurveyService.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use tonic::Request;

use super::check::{Check, given, key, only_key, optional_key, request_id};
use super::mask::patch;
use super::paging::{Page, by_id};
use super::{Context, Reply, caller, convert, etag, reply};
use crate::app::tickets::On;
use crate::domain::error::{quote, shorten};
use crate::domain::idempotency::Requested;
use crate::domain::language::Language;
use crate::domain::patch::{Field, Patch};
use crate::domain::query::{Grouping, ResponseFilter};
use crate::domain::survey::{
    self, Answer, MAX_QUESTIONS, Question, QuestionKind, SurveyState, Template,
};
use crate::domain::ticket::limits;
use crate::proto::feedback::v1::{self as pb, survey_service_server::SurveyService};

/// A TEXT question that does not say how long an answer may be.
const DEFAULT_TEXT: usize = 2_000;
/// Longest token accepted; tokens are 32 characters.
const MAX_TOKEN: usize = 64;
/// The longest period figures are computed over.
const MAX_STATS_PERIOD: chrono::Duration = chrono::Duration::days(366);

/// The fields UpdateSurveyTemplate may change.
const TEMPLATE_FIELDS: &[Field<Template, Template>] = &[
    ("display_name", |t, v| {
        t.display_name = v.display_name.clone()
    }),
    ("questions", |t, v| t.questions = v.questions.clone()),
    ("default", |t, v| t.is_default = v.is_default),
];

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
    let questions: Vec<Question> =
        if check.at_most("template.questions", t.questions.len(), MAX_QUESTIONS) {
            t.questions
                .iter()
                .enumerate()
                .map(|(i, q)| question(check, &format!("template.questions[{i}]"), q))
                .collect()
        } else {
            Vec::new()
        };
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
    let kind = check.optional_enum::<QuestionType>(&format!("{field}.type"), q.r#type);
    if q.r#type == 0 {
        check.add(format!("{field}.type"), "is required");
    }
    if kind != Some(QuestionType::Choice) && !q.options.is_empty() {
        check.add(format!("{field}.options"), "are only for CHOICE questions");
    }
    if kind != Some(QuestionType::Text) && q.max_length != 0 {
        check.add(format!("{field}.max_length"), "is only for TEXT questions");
    }
    let kind = match kind {
        Some(QuestionType::Rating) | None => QuestionKind::Rating,
        Some(QuestionType::Nps) => QuestionKind::Nps,
        Some(QuestionType::Choice) => QuestionKind::Choice(
            q.options
                .iter()
                .take(survey::MAX_OPTIONS + 1)
                .map(|o| o.trim().to_owned())
                .collect(),
        ),
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
        translations: translations(check, &format!("{field}.translations"), &q.translations),
    }
}

/// A question's prompts in other languages, by language tag.
fn translations(
    check: &mut Check,
    field: &str,
    given: &std::collections::HashMap<String, String>,
) -> BTreeMap<Language, String> {
    if !check.at_most(field, given.len(), Language::ALL.len()) {
        return BTreeMap::new();
    }
    let mut translations = BTreeMap::new();
    for (tag, prompt) in given {
        match Language::parse(tag) {
            Some(language) => {
                translations.insert(language, prompt.trim().to_owned());
            }
            None => check.add(
                format!("{field}[{}]", shorten(tag)),
                "is not a language customer texts exist in: zh or en",
            ),
        }
    }
    translations
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
    const PLACEHOLDER: Self = QuestionType::Rating;

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

/// The answers of a request in its order, each question once.
fn answers(check: &mut Check, given: &[pb::SurveyAnswer]) -> Vec<(String, Answer)> {
    use pb::survey_answer::Value;
    let mut answers = Vec::new();
    let mut seen = BTreeSet::new();
    if !check.at_most("answers", given.len(), MAX_QUESTIONS) {
        return answers;
    }
    for (i, a) in given.iter().enumerate() {
        let key = a.question_key.trim().to_owned();
        if key.is_empty() {
            check.add(format!("answers[{i}].question_key"), "is required");
            continue;
        }
        if !seen.insert(key.clone()) {
            check.add(
                format!("answers[{i}].question_key"),
                format!("{} is answered twice", quote(&key)),
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
        answers.push((key, answer));
    }
    answers
}

/// What the customer reads after answering.
impl convert::EnumField for Grouping {
    const PLACEHOLDER: Self = Grouping::Team;

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
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let given = given(&mut check, "template", r.template);
                let new = template(&mut check, &given, self.cx.app.now());
                let new = check.finish(new)?;
                Ok(convert::template(
                    self.cx.app.create_template(&by, new).await?,
                ))
            }
            .await,
        )
    }

    async fn get_survey_template(
        &self,
        request: Request<pb::GetSurveyTemplateRequest>,
    ) -> Reply<pb::SurveyTemplate> {
        reply(
            async {
                let id = only_key("id", &request.get_ref().id)?;
                Ok(convert::template(self.cx.app.template(&id).await?))
            }
            .await,
        )
    }

    async fn list_survey_templates(
        &self,
        request: Request<pb::ListSurveyTemplatesRequest>,
    ) -> Reply<pb::ListSurveyTemplatesResponse> {
        let r = request.into_inner();
        reply(
            async {
                let app = &self.cx.app;
                let (templates, next_page_token) = by_id(
                    &r,
                    |after, rows| app.list_templates(after, rows),
                    convert::template,
                    |t| t.id.clone(),
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
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let given = given(&mut check, "template", r.template);
                let now = self.cx.app.now();
                let patch: Patch<Template> = patch(
                    &mut check,
                    "template",
                    r.update_mask.as_ref(),
                    TEMPLATE_FIELDS,
                    |check| template(check, &given, now),
                );
                if patch.names("default") && !given.default {
                    check.add(
                        "template.default",
                        "cannot be unset: make another template the default instead",
                    );
                }
                check.done()?;
                let id = patch.value.id.clone();
                let updated = self
                    .cx
                    .app
                    .update_template(&by, &id, etag(&given.etag), &patch)
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
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let id = only_key("id", &r.id)?;
                self.cx.app.delete_template(&by, &id, etag(&r.etag)).await?;
                Ok(pb::DeleteSurveyTemplateResponse {})
            }
            .await,
        )
    }

    async fn send_survey(
        &self,
        request: Request<pb::SendSurveyRequest>,
    ) -> Reply<pb::SurveyInvitation> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let acting = by.acting("actor", &r.actor)?;
                let mut check = Check::new();
                let ticket_id = check.id("ticket_id", r.ticket_id);
                let template_id = optional_key(&mut check, "template_id", &r.template_id);
                let request_id = request_id(&mut check, &r.request_id);
                check.done()?;
                let requested =
                    Requested::of(request_id, &(ticket_id, &template_id, &acting.actor));
                let on = On::by(&by, ticket_id, None, acting);
                let sent = self
                    .cx
                    .app
                    .send_survey(&on, template_id.as_deref(), requested)
                    .await?;
                Ok(convert::invitation(sent))
            }
            .await,
        )
    }

    async fn list_ticket_surveys(
        &self,
        request: Request<pb::ListTicketSurveysRequest>,
    ) -> Reply<pb::ListTicketSurveysResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let ticket_id = check.id("ticket_id", r.ticket_id);
                let page: Page<i64> = Page::read(&mut check, &r);
                check.done()?;
                let surveys = self
                    .cx
                    .app
                    .surveys_of_ticket(ticket_id, page.after, page.fetch(), &by)
                    .await?;
                let (surveys, next_page_token) =
                    page.finish(surveys, convert::invitation, |s| s.id);
                Ok(pb::ListTicketSurveysResponse {
                    surveys,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn get_survey(&self, request: Request<pb::GetSurveyRequest>) -> Reply<pb::Survey> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let token = check.text("token", &r.token, true, MAX_TOKEN);
                let token = check.finish(token)?;
                let (s, ticket) = self.cx.app.survey_by_token(&token, &by).await?;
                let state = match s.state {
                    SurveyState::Open if s.expire_at <= self.cx.app.now() => SurveyState::Expired,
                    state => state,
                };
                let language = ticket.language();
                Ok(pb::Survey {
                    token,
                    ticket_number: ticket.number,
                    ticket_title: ticket.title,
                    questions: s
                        .questions
                        .into_iter()
                        .map(|q| convert::question(q.in_language(language)))
                        .collect(),
                    language: language.as_str().to_owned(),
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
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let token = check.text("token", &r.token, true, MAX_TOKEN);
                let answers = answers(&mut check, &r.answers);
                check.done()?;
                let (answered, ticket) = self.cx.app.answer_survey(&token, answers, &by).await?;
                Ok(pb::SubmitSurveyResponseResponse {
                    message: survey::thanks(answered.outcome, &ticket.number, ticket.language()),
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
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let most = limits::FILTER_VALUES;
                let filter = ResponseFilter {
                    submitted_after: check.timestamp("submitted_after", r.submitted_after.as_ref()),
                    submitted_before: check
                        .timestamp("submitted_before", r.submitted_before.as_ref()),
                    team: optional_key(&mut check, "team", &r.team),
                    agent: optional_key(&mut check, "agent", &r.agent),
                    product: check.optional_text("product", &r.product, limits::PRODUCT),
                    kinds: check.enums("kinds", &r.kinds, most),
                    channels: check.enums("channels", &r.channels, most),
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
                let page: Page<(DateTime<Utc>, i64)> = Page::read(&mut check, &r);
                check.done()?;
                let rows = self
                    .cx
                    .app
                    .survey_responses(&filter, page.after, page.fetch(), &by)
                    .await?;
                let (responses, next_page_token) = page.finish(
                    rows,
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
        let by = caller(&request)?;
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
                let (from, to) =
                    check.finish((from.unwrap_or_default(), to.unwrap_or_default()))?;
                let (total, groups) = self.cx.app.survey_tallies(from, to, group_by, &by).await?;
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
