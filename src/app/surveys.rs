//! Surveys: templates, the invitation a resolve plans in its own transaction, a survey sent by
//! hand, the customer's answer with what it does to the ticket, and the scheduler's pass that
//! sends surveys coming due and expires unanswered ones.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::admin::{Change, Resource};
use super::tickets::On;
use super::{App, created_or_there};
use crate::domain::access::{Acting, Caller, Principal, Role};
use crate::domain::error::Refusal;
use crate::domain::event::{EventType, TicketEvent, actor};
use crate::domain::format::rfc3339;
use crate::domain::idempotency::{Requested, check_replay};
use crate::domain::patch::Patch;
use crate::domain::query::{Grouping, ResponseFilter};
use crate::domain::staff::Agent;
use crate::domain::survey::{
    self, Answer, DEFAULT_TEMPLATE, Outcome, ReopenTo, Schedule, Survey, SurveyState, Tally,
    Template, Verdict, default_questions,
};
use crate::domain::ticket::{Resolution, Status, Ticket};
use crate::error::{Error, Found, Result};
use crate::store::{Inserted, Store, TeamLock, Write};

/// Surveys handled per scheduler read: a pass repeats until fewer come due.
const BATCH: u64 = 200;

impl Resource for Template {
    const KIND: &'static str = "survey template";
    type Key = str;

    fn key(&self) -> String {
        self.id.clone()
    }

    async fn lock(store: &Store, write: &Write, key: &str) -> Result<Option<Template>> {
        store.lock_template(write, key).await
    }

    async fn insert(
        &mut self,
        store: &Store,
        write: &Write,
        _: Option<&Requested>,
    ) -> Result<Inserted> {
        store.insert_template(write, self).await
    }

    async fn update(store: &Store, write: &Write, _: &Template, after: &Template) -> Result<()> {
        store.update_template(write, after).await
    }

    async fn delete(&self, store: &Store, write: &Write) -> Result<()> {
        if !store.delete_template(write, &self.id).await? {
            // Made the default since it was read.
            return Err(default_stays(&self.id));
        }
        Ok(())
    }

    /// Exactly one template is the default: a new default unmarks the old one, and the
    /// default cannot be deleted or unmarked (mark another instead).
    async fn guard(app: &App, write: &Write, change: Change<'_, Template>) -> Result<()> {
        match change {
            Change::Create(t) if t.is_default => app.store.unmark_default(write).await,
            Change::Update { before, after } if after.is_default && !before.is_default => {
                app.store.unmark_default(write).await
            }
            Change::Update { before, after } if before.is_default && !after.is_default => {
                Err(Refusal::invalid(
                    "template.default",
                    "cannot be unset: make another template the default instead",
                )
                .into())
            }
            Change::Delete(t) if t.is_default => Err(default_stays(&t.id)),
            _ => Ok(()),
        }
    }
}

fn default_stays(id: &str) -> Error {
    Error::precondition(
        format!("survey template {id}"),
        "it is the default: make another template the default first",
    )
}

/// Whether and when a resolve's ticket is surveyed.
pub(crate) struct Planned {
    /// The survey created now when it is sent at once (its SURVEY_INVITED is recorded with the
    /// resolve); a scheduled one waits for the scheduler.
    pub invitation: Option<Survey>,
    /// What the TICKET_RESOLVED event says about the survey, if anything.
    pub reason: Option<String>,
}

impl App {
    // --- Templates ---

    pub async fn create_template(&self, by: &Caller, template: Template) -> Result<Template> {
        self.create(template, None, by).await
    }

    pub async fn template(&self, id: &str) -> Result<Template> {
        self.store.template(id).await?.found(Template::KIND, id)
    }

    pub async fn list_templates(&self, after: Option<String>, limit: u64) -> Result<Vec<Template>> {
        self.store.list_templates(after.as_deref(), limit).await
    }

    /// Changes a template; surveys already sent keep the questions they were sent with.
    pub async fn update_template(
        &self,
        by: &Caller,
        id: &str,
        etag: Option<&str>,
        patch: &Patch<Template>,
    ) -> Result<Template> {
        self.update(id, etag, patch, by).await
    }

    pub async fn delete_template(&self, by: &Caller, id: &str, etag: Option<&str>) -> Result<()> {
        self.delete::<Template>(id, etag, by).await
    }

    /// The default template, installed on first start unless templates exist.
    pub(super) async fn install_default_template(&self) -> Result<()> {
        if self.store.has_templates().await? {
            return Ok(());
        }
        let now = self.now();
        let template = Template {
            id: DEFAULT_TEMPLATE.into(),
            display_name: "Satisfaction".into(),
            questions: default_questions(),
            is_default: true,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        created_or_there(self.create(template, None, &Caller::system()).await)
    }

    // --- Invitations ---

    /// Plans the survey of `ticket` being resolved as `resolution`, inside the resolve's
    /// `write`: created now (sent or scheduled) as the invitation policy says, or not, with
    /// why. A survey of an earlier resolve still waiting is withdrawn either way.
    pub(crate) async fn plan_survey(
        &self,
        write: &Write,
        ticket: &Ticket,
        resolution: Resolution,
        now: DateTime<Utc>,
    ) -> Result<Planned> {
        let last = match survey::customer_key(ticket) {
            Some(key) => self.store.last_surveyed(write, &key, ticket.id).await?,
            None => None,
        };
        let policy = &self.settings.survey.policy;
        match survey::plan_invitation(ticket, resolution, last, policy, now) {
            Ok(schedule) => {
                let invited = self
                    .invite(write, ticket, None, schedule, None, now)
                    .await?;
                let scheduled = invited.state == SurveyState::Scheduled;
                Ok(Planned {
                    reason: scheduled.then(|| {
                        format!(
                            "survey {} to be sent at {}",
                            invited.id,
                            rfc3339(invited.send_at)
                        )
                    }),
                    invitation: (!scheduled).then_some(invited),
                })
            }
            Err(why) => {
                // A survey of an earlier resolve no longer asks about this one.
                self.store.withdraw_waiting(write, ticket.id).await?;
                Ok(Planned {
                    invitation: None,
                    reason: Some(format!("no survey: {why}")),
                })
            }
        }
    }

    /// Sends a survey of a resolved or closed ticket now, by hand, asking `template_id` (or the
    /// default), whatever the per-customer limit says. A retry of `request` answers with the
    /// survey the first call sent.
    pub async fn send_survey(
        &self,
        on: &On,
        template_id: Option<&str>,
        request: Option<Requested>,
    ) -> Result<Survey> {
        let mut sent = self.send_survey_now(on, template_id, request).await?;
        // The token is for those who deliver or answer surveys.
        if !on.by.sees_survey_tokens() {
            sent.token.clear();
        }
        Ok(sent)
    }

    async fn send_survey_now(
        &self,
        on: &On,
        template_id: Option<&str>,
        request: Option<Requested>,
    ) -> Result<Survey> {
        let ticket_id = on.ticket_id;
        let acting = on.acting();
        self.check_acting(&on.by, &acting).await?;
        let template = match template_id {
            Some(id) => Some(self.template(id).await?),
            None => None,
        };
        let now = self.now();
        let write = self.store.begin().await?;
        let ticket = self.lock_for(&write, on).await?;
        if let Some(request) = &request
            && let Some((first, hash)) =
                self.store.survey_by_request_id(&write, &request.id).await?
        {
            check_replay(&request.id, hash.as_deref(), &request.hash)?;
            if first.ticket_id != ticket_id {
                return Err(Refusal::RequestReused {
                    request_id: crate::domain::error::shorten(&request.id),
                }
                .into());
            }
            return Ok(first);
        }
        survey::check_surveyable(&ticket)?;
        let schedule = Schedule {
            send_at: now,
            expire_at: now + self.settings.survey.policy.expiry,
        };
        let sent = self
            .invite(&write, &ticket, template, schedule, request, now)
            .await?;
        let event = self
            .survey_event(
                &write,
                &ticket,
                EventType::SurveyInvited,
                &sent,
                &acting,
                now,
            )
            .await?;
        self.store.commit(write).await?;
        self.settled_events(&[event]).await;
        Ok(sent)
    }

    /// Withdraws the ticket's surveys still waiting, and creates its new one.
    async fn invite(
        &self,
        write: &Write,
        ticket: &Ticket,
        template: Option<Template>,
        schedule: Schedule,
        request: Option<Requested>,
        now: DateTime<Utc>,
    ) -> Result<Survey> {
        let template = match template {
            Some(t) => t,
            None => self
                .store
                .default_template(write)
                .await?
                .ok_or_else(|| Error::Internal("no default survey template".into()))?,
        };
        self.store.withdraw_waiting(write, ticket.id).await?;
        let mut new = Survey::new(ticket, &template, super::random_token()?, schedule, now);
        let request_id = request.as_ref().map(|r| r.id.clone());
        new.id = self
            .store
            .insert_survey(write, &new, request.map(|r| (r.id, r.hash)))
            .await?
            .ok_or_else(|| Refusal::RequestReused {
                request_id: crate::domain::error::shorten(&request_id.unwrap_or_default()),
            })?;
        Ok(new)
    }

    /// Records an event about `s` on its ticket, which it does not change. Only the
    /// invitation carries the token, for the connector that delivers it.
    pub(crate) async fn survey_event(
        &self,
        write: &Write,
        ticket: &Ticket,
        event_type: EventType,
        s: &Survey,
        acting: &Acting,
        now: DateTime<Utc>,
    ) -> Result<TicketEvent> {
        let mut event = TicketEvent {
            survey: Some(s.reference(event_type == EventType::SurveyInvited)),
            via: acting.via.clone(),
            ..TicketEvent::on(ticket, event_type, &acting.actor, now)
        };
        let cursors = self
            .record_events(write, std::slice::from_ref(&event))
            .await?;
        event.cursor = cursors.first().copied().unwrap_or_default();
        Ok(event)
    }

    // --- The customer's side ---

    /// The survey a customer holds the token of, with its ticket's number and title. A
    /// survey not sent yet does not exist for anyone outside.
    pub async fn survey_by_token(&self, token: &str, by: &Principal) -> Result<(Survey, Ticket)> {
        let survey = self
            .store
            .survey_by_token(token)
            .await?
            .filter(|s| s.state != SurveyState::Scheduled)
            .found("survey", "with this token")?;
        // Another customer's survey is as unknown as a wrong token.
        let ticket = self
            .store
            .ticket(survey.ticket_id)
            .await?
            .filter(|t| by.sees(t))
            .found("survey", "with this token")?;
        Ok((survey, ticket))
    }

    /// Records the customer's answers to the survey of `token` and does what they mean, all in
    /// one transaction: a satisfied customer's resolved ticket closes; a dissatisfied one's is
    /// reopened one priority step higher and goes to the supervisor of the team that resolved
    /// it (or that team's queue). Returns the survey as answered and its ticket's number.
    pub async fn answer_survey(
        &self,
        token: &str,
        given: Vec<(String, Answer)>,
        by: &Principal,
    ) -> Result<(Survey, Ticket)> {
        let now = self.now();
        let (read, ticket) = self.survey_by_token(token, by).await?;
        if let Some(closed) = read.closed_for_answers(now) {
            return Err(closed.refusal(&ticket.number).into());
        }
        let answers = survey::read_response(&read.questions, given)?;
        let scored = survey::scores(&read.questions, &answers);
        let verdict = survey::verdict(&scored, self.settings.survey.low_score);
        let write = self.store.begin().await?;
        // The team and supervisor come first in the lock order. A team deleted since the
        // resolve hands the ticket to the triage team.
        let back = match (&verdict, &read.team) {
            (Verdict::Dissatisfied { .. }, Some(team)) => self.lock_return(&write, team).await?,
            _ => (None, Err("the ticket had no team".to_owned())),
        };
        let ticket = self
            .store
            .lock_ticket(&write, read.ticket_id)
            .await?
            .found("ticket", read.ticket_id)?;
        let answered = read.answered(answers, &verdict, ticket.status, now);
        let recorded = self.record_answer(&write, &ticket, &answered, now).await?;
        let mut events = vec![recorded];
        events.extend(
            self.follow_answer(&write, &ticket, &answered, &verdict, back, now)
                .await?,
        );
        self.store.commit(write).await?;
        self.settled_events(&events).await;
        Ok((answered, ticket))
    }

    /// Stores the response of `answered` with its SURVEY_ANSWERED event, if the survey still
    /// takes it.
    async fn record_answer(
        &self,
        write: &Write,
        ticket: &Ticket,
        answered: &Survey,
        now: DateTime<Utc>,
    ) -> Result<TicketEvent> {
        if !self.store.record_response(write, answered, now).await? {
            // Answered, expired or withdrawn since it was read.
            let stored = self
                .store
                .survey_in(write, answered.id)
                .await?
                .found("survey", answered.id)?;
            let closed = stored
                .closed_for_answers(now)
                .unwrap_or(survey::Closed::Answered);
            return Err(closed.refusal(&ticket.number).into());
        }
        self.survey_event(
            write,
            ticket,
            EventType::SurveyAnswered,
            answered,
            &Acting::service(actor::CUSTOMER),
            now,
        )
        .await
    }

    /// Does what the answer means to its ticket: a satisfied customer's resolved ticket
    /// closes; a dissatisfied one's reopens and goes `back` to the team that resolved it (its
    /// supervisor, or the reason why not). Returns the events recorded.
    async fn follow_answer(
        &self,
        write: &Write,
        ticket: &Ticket,
        answered: &Survey,
        verdict: &Verdict,
        back: (Option<String>, std::result::Result<Agent, String>),
        now: DateTime<Utc>,
    ) -> Result<Vec<TicketEvent>> {
        let on = On::system(ticket.id, actor::SURVEY);
        let mut changes = Vec::new();
        match (answered.outcome, verdict) {
            (Some(Outcome::Closed), _) => {
                changes.push(
                    self.change_in(write, &on, now, |t| Ok(answered.close(t, now)?))
                        .await?,
                );
            }
            (Some(Outcome::Reopened), Verdict::Dissatisfied { low }) => {
                changes.push(
                    self.change_in(write, &on, now, |t| Ok(answered.reopen(t, low, now)?))
                        .await?,
                );
                let (team, supervisor) = back;
                let team = team.unwrap_or_else(|| self.settings.routing.triage_team.clone());
                changes.push(
                    self.change_in(write, &on, now, |t| {
                        Ok(answered.hand_back(t, &team, supervisor.as_ref(), now)?)
                    })
                    .await?,
                );
            }
            _ => {}
        }
        Ok(changes.into_iter().flat_map(|c| c.events).collect())
    }

    /// Locks the team that resolved a ticket and, when the ticket goes to its supervisor,
    /// their agent row. The team is `None` when it no longer exists; the supervisor is the
    /// reason when there is none to take it.
    async fn lock_return(
        &self,
        write: &Write,
        team: &str,
    ) -> Result<(Option<String>, std::result::Result<Agent, String>)> {
        let Some(team) = self.store.lock_team(write, team, TeamLock::Keep).await? else {
            return Ok((None, Err(format!("team {team} no longer exists"))));
        };
        let supervisor = match (self.settings.survey.reopen_to, &team.supervisor) {
            (ReopenTo::Team, _) => Err("surveys reopen to the team's queue".to_owned()),
            (ReopenTo::Supervisor, None) => Err(format!("team {} has no supervisor", team.id)),
            (ReopenTo::Supervisor, Some(id)) => self
                .store
                .lock_agent(write, id)
                .await?
                .ok_or_else(|| format!("supervisor {id} is not an agent")),
        };
        Ok((Some(team.id), supervisor))
    }

    // --- The scheduler ---

    /// One scheduler pass: sends what came due, then expires what ran out.
    pub async fn survey_pass(&self) -> Result<()> {
        let now = self.now();
        while self.send_due_surveys(now).await? == BATCH as usize {}
        while self.expire_due_surveys(now).await? == BATCH as usize {}
        Ok(())
    }

    /// Sends scheduled surveys whose time has come; a ticket back in work by then has its
    /// survey withdrawn instead. Returns how many were handled.
    async fn send_due_surveys(&self, now: DateTime<Utc>) -> Result<usize> {
        let due = self
            .store
            .surveys_due(SurveyState::Scheduled, now, BATCH)
            .await?;
        for s in &due {
            let write = self.store.begin().await?;
            let Some(ticket) = self.store.lock_ticket(&write, s.ticket_id).await? else {
                continue;
            };
            let still_resolved = matches!(ticket.status, Status::Resolved | Status::Closed)
                && ticket.resolution == Some(Resolution::Solved);
            let next = if still_resolved {
                SurveyState::Open
            } else {
                SurveyState::Withdrawn
            };
            if self
                .store
                .move_survey(&write, s.id, SurveyState::Scheduled, next)
                .await?
                && still_resolved
            {
                self.survey_event(
                    &write,
                    &ticket,
                    EventType::SurveyInvited,
                    s,
                    &Acting::service(actor::SURVEY),
                    now,
                )
                .await?;
            }
            self.store.commit(write).await?;
        }
        Ok(due.len())
    }

    /// Expires open surveys past their expiry, closing each ticket still resolved. Returns
    /// how many were handled.
    async fn expire_due_surveys(&self, now: DateTime<Utc>) -> Result<usize> {
        let due = self
            .store
            .surveys_due(SurveyState::Open, now, BATCH)
            .await?;
        for s in &due {
            let write = self.store.begin().await?;
            let Some(ticket) = self.store.lock_ticket(&write, s.ticket_id).await? else {
                continue;
            };
            if !self
                .store
                .move_survey(&write, s.id, SurveyState::Open, SurveyState::Expired)
                .await?
            {
                continue; // answered or expired by someone else meanwhile
            }
            let mut expired = s.clone();
            expired.state = SurveyState::Expired;
            self.survey_event(
                &write,
                &ticket,
                EventType::SurveyExpired,
                &expired,
                &Acting::service(actor::SURVEY),
                now,
            )
            .await?;
            if ticket.status == Status::Resolved {
                let on = On::system(ticket.id, actor::SURVEY);
                self.change_in(&write, &on, now, |t| Ok(expired.expire(t, now)?))
                    .await?;
            }
            self.store.commit(write).await?;
        }
        Ok(due.len())
    }

    // --- Reading results ---

    /// Up to `limit` surveys of a ticket, newest first, after survey `after`.
    pub async fn surveys_of_ticket(
        &self,
        ticket_id: i64,
        after: Option<i64>,
        limit: u64,
        by: &Principal,
    ) -> Result<Vec<Survey>> {
        self.visible_ticket(ticket_id, by).await?;
        let mut surveys = self
            .store
            .surveys_of_ticket(ticket_id, after, limit)
            .await?;
        if !by.sees_survey_tokens() {
            surveys.iter_mut().for_each(|s| s.token.clear());
        }
        Ok(surveys)
    }

    /// Up to `limit` responses matching `filter`, newest first, after `after` (the submit
    /// time and id of the last one seen), each with its ticket's number.
    pub async fn survey_responses(
        &self,
        filter: &ResponseFilter,
        after: Option<(DateTime<Utc>, i64)>,
        limit: u64,
        by: &Principal,
    ) -> Result<Vec<(Survey, String)>> {
        by.check_report_team(filter.team.as_deref())?;
        self.check_named(filter.named()).await?;
        self.store.survey_responses(filter, after, limit).await
    }

    /// What the figures of the surveys sent in `[from, to)` are made of, in total and per
    /// group.
    pub async fn survey_tallies(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        grouping: Option<Grouping>,
        by: &Principal,
    ) -> Result<(Tally, BTreeMap<String, Tally>)> {
        if by.role != Role::Supervisor {
            return self.store.survey_tallies(from, to, grouping).await;
        }
        // A supervisor's figures are their teams' alone: grouped by team, the total theirs.
        if grouping != Some(Grouping::Team) {
            by.check_report_team(None)?;
        }
        let (_, mut groups) = self.store.survey_tallies(from, to, grouping).await?;
        groups.retain(|team, _| by.teams.contains(team));
        let mut total = Tally::default();
        for tally in groups.values() {
            total.add(tally);
        }
        Ok((total, groups))
    }
}
