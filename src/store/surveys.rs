//! Surveys: templates, the invitation a resolve creates in its own transaction, the customer's
//! response with what it does to the ticket, the scheduler's sends and expiries, and what
//! lists and figures read.
//!
//! Lock order, as everywhere: the team row, agent rows, the ticket row, then survey rows,
//! then the event log. A survey changes state only from the state its caller read (a
//! conditional UPDATE), so two instances never both send, expire or answer one survey.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::entity::{survey as stored, survey_template};
use super::staff::taken;
use super::tickets::Note;
use super::{Store, Write, check_etag, convert};
use crate::domain::event::{EventType, TicketEvent};
use crate::domain::format::rfc3339;
use crate::domain::lifecycle::{self, Action};
use crate::domain::priority::one_step_up;
use crate::domain::staff::Agent;
use crate::domain::survey::{
    self, Closed, InvitePolicy, Outcome, Schedule, Survey, SurveyState, Tally, Template, Verdict,
};
use crate::domain::ticket::{Resolution, Status, Ticket};
use crate::error::{Error, Result};

/// The actor recorded for what surveys do to tickets by themselves.
pub const SURVEY: &str = "survey";

/// The actor recorded for a customer's response.
const CUSTOMER: &str = "customer";

/// Any constant will do: the class of the PostgreSQL advisory locks that serialize the
/// per-customer limit check (two int4 keys: this class and the customer key's hash).
const CUSTOMER_LOCK_CLASS: i32 = 0x5355; // "SU"

/// The class of the PostgreSQL advisory lock that serializes changes of the default template.
const DEFAULT_TEMPLATE_LOCK_CLASS: i32 = 0x5354; // "ST"

/// Where a ticket a customer was dissatisfied with goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReopenTo {
    /// The supervisor of the team that resolved it, when they can take it; else its queue.
    Supervisor,
    /// The queue of the team that resolved it, for the router.
    Team,
}

/// What the responses list is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct ResponseFilter {
    pub submitted_after: Option<DateTime<Utc>>,
    pub submitted_before: Option<DateTime<Utc>>,
    pub team: Option<String>,
    pub agent: Option<String>,
    pub min_score: Option<i32>,
    pub max_score: Option<i32>,
    pub has_comment: Option<bool>,
    pub ticket_id: Option<i64>,
}

/// What figures are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Team,
    Agent,
    Kind,
    Channel,
    Product,
}

/// A response as the customer gave it, checked against its survey's questions.
#[derive(Debug, Clone)]
pub struct Response {
    pub answers: BTreeMap<String, survey::Answer>,
    pub verdict: Verdict,
}

impl Store {
    // --- Templates ---

    /// Installs `template` as the default unless a template exists; for the first start.
    pub async fn ensure_default_template(&self, template: Template) -> Result<()> {
        if survey_template::Entity::find()
            .one(&self.db)
            .await?
            .is_some()
        {
            return Ok(());
        }
        super::created_or_there(self.create_template(template).await)
    }

    pub async fn create_template(&self, template: Template) -> Result<Template> {
        let write = self.begin().await?;
        if template.is_default {
            self.unmark_default(&write).await?;
        }
        convert::template_row(&template)
            .insert(write.conn())
            .await
            .map_err(taken("survey template", &template.id))?;
        self.commit(write).await?;
        self.get_template(&template.id).await
    }

    pub async fn get_template(&self, id: &str) -> Result<Template> {
        let row = survey_template::Entity::find_by_id(id)
            .one(&self.db)
            .await?;
        convert::template(row.ok_or_else(|| Error::not_found("survey template", id))?)
    }

    /// Up to `limit` templates by id, after `after`.
    pub async fn list_templates(&self, after: Option<&str>, limit: u64) -> Result<Vec<Template>> {
        let mut query = survey_template::Entity::find().order_by_asc(survey_template::Column::Id);
        if let Some(after) = after {
            query = query.filter(survey_template::Column::Id.gt(after));
        }
        let rows = query.limit(limit).all(&self.db).await?;
        rows.into_iter().map(convert::template).collect()
    }

    /// Changes a template under its lock; `change` edits it or refuses.
    pub async fn update_template(
        &self,
        id: &str,
        etag: Option<&str>,
        now: DateTime<Utc>,
        change: impl FnOnce(&mut Template) -> Result<()>,
    ) -> Result<Template> {
        let write = self.begin().await?;
        let mut query = survey_template::Entity::find_by_id(id);
        if self.backend() == DbBackend::Postgres {
            query = query.lock(LockType::Update);
        }
        let row = query.one(write.conn()).await?;
        let before =
            convert::template(row.ok_or_else(|| Error::not_found("survey template", id))?)?;
        check_etag(etag, before.etag())?;
        let mut after = before.clone();
        change(&mut after)?;
        if after == before {
            return Ok(before);
        }
        if after.is_default && !before.is_default {
            self.unmark_default(&write).await?;
        }
        after.version += 1;
        after.updated_at = now;
        convert::template_row(&after).update(write.conn()).await?;
        self.commit(write).await?;
        Ok(after)
    }

    /// Deletes a template other than the default.
    pub async fn delete_template(&self, id: &str) -> Result<()> {
        let write = self.begin().await?;
        let template = self.get_template(id).await?;
        if template.is_default {
            return Err(Error::FailedPrecondition {
                subject: format!("survey template {id}"),
                description: "it is the default: make another template the default first".into(),
            });
        }
        let deleted = survey_template::Entity::delete_many()
            .filter(survey_template::Column::Id.eq(id))
            .filter(survey_template::Column::IsDefault.eq(false))
            .exec(write.conn())
            .await?;
        if deleted.rows_affected == 0 {
            // Deleted, or made the default, since it was read.
            return Err(Error::FailedPrecondition {
                subject: format!("survey template {id}"),
                description: "it changed meanwhile: read it again".into(),
            });
        }
        self.commit(write).await
    }

    /// The template sent when a ticket is resolved.
    async fn default_template(&self, write: &Write) -> Result<Template> {
        let row = survey_template::Entity::find()
            .filter(survey_template::Column::IsDefault.eq(true))
            .one(write.conn())
            .await?;
        convert::template(row.ok_or_else(|| Error::Internal("no default survey template".into()))?)
    }

    /// Unmarks the default template. On PostgreSQL this first takes a lock held to the end
    /// of the transaction, so that two writers making different templates the default
    /// cannot both see the old one and leave two.
    async fn unmark_default(&self, write: &Write) -> Result<()> {
        self.lock_key(write, DEFAULT_TEMPLATE_LOCK_CLASS, "default")
            .await?;
        survey_template::Entity::update_many()
            .col_expr(survey_template::Column::IsDefault, Expr::value(false))
            .col_expr(
                survey_template::Column::Version,
                Expr::col(survey_template::Column::Version).add(1),
            )
            .filter(survey_template::Column::IsDefault.eq(true))
            .exec(write.conn())
            .await?;
        Ok(())
    }

    // --- Invitations ---

    /// Resolves a ticket and, in the same transaction, creates its survey as `policy` says:
    /// sent at once (with a SURVEY_INVITED event) or scheduled. When no survey is sent, the
    /// TICKET_RESOLVED event's reason says why.
    pub async fn resolve(
        &self,
        id: i64,
        etag: Option<&str>,
        action: Action,
        actor: &str,
        now: DateTime<Utc>,
        policy: &InvitePolicy,
    ) -> Result<(Ticket, Option<TicketEvent>)> {
        let Action::Resolve { resolution, .. } = &action else {
            return Err(Error::Internal("resolve takes a Resolve action".into()));
        };
        let write = self.begin().await?;
        let ticket = self.lock_ticket(&write, id).await?;
        lifecycle::check_allowed(&ticket, lifecycle::Verb::Resolve)?;
        let last = match survey::customer_key(&ticket) {
            Some(key) => self.last_surveyed(&write, &key, id).await?,
            None => None,
        };
        let (invited, reason) =
            match survey::plan_invitation(&ticket, *resolution, last, policy, now) {
                Ok(schedule) => {
                    let invited = self.invite(&write, &ticket, None, schedule, now).await?;
                    let reason = (invited.state == SurveyState::Scheduled).then(|| {
                        format!(
                            "survey {} to be sent at {}",
                            invited.id,
                            rfc3339(invited.send_at)
                        )
                    });
                    (Some(invited), reason)
                }
                Err(why) => {
                    // A survey of an earlier resolve no longer asks about this one.
                    self.withdraw_waiting(&write, id).await?;
                    (None, Some(format!("no survey: {why}")))
                }
            };
        let (ticket, event) = self
            .change_in(&write, id, etag, actor, now, |t| {
                lifecycle::apply(t, action, now)?;
                Ok((
                    EventType::TicketResolved,
                    Note {
                        reason,
                        ..Note::default()
                    },
                ))
            })
            .await?;
        if let Some(invited) = invited.filter(|s| s.state == SurveyState::Open) {
            self.record(
                &write,
                &ticket,
                EventType::SurveyInvited,
                SURVEY,
                &invited,
                now,
            )
            .await?;
        }
        self.commit(write).await?;
        Ok((ticket, event))
    }

    /// Sends a survey of a resolved or closed ticket now, by hand, asking `template_id` (or
    /// the default), whatever the per-customer limit says.
    pub async fn send_survey(
        &self,
        ticket_id: i64,
        template_id: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
        expiry: chrono::Duration,
    ) -> Result<Survey> {
        let template = match template_id {
            Some(id) => Some(self.get_template(id).await?),
            None => None,
        };
        let write = self.begin().await?;
        let ticket = self.lock_ticket(&write, ticket_id).await?;
        let refuse = |description: String| Error::FailedPrecondition {
            subject: format!("ticket {}", ticket.number),
            description,
        };
        if !matches!(ticket.status, Status::Resolved | Status::Closed) {
            return Err(refuse(format!(
                "it is {}: only a resolved or closed ticket is surveyed",
                ticket.status
            )));
        }
        let resolution = ticket.resolution.unwrap_or(Resolution::Solved);
        if let Some(why) = survey::unsurveyable(&ticket, resolution) {
            return Err(refuse(format!("it cannot be surveyed: {why}")));
        }
        let schedule = Schedule {
            send_at: now,
            expire_at: now + expiry,
        };
        let sent = self
            .invite(&write, &ticket, template, schedule, now)
            .await?;
        self.record(&write, &ticket, EventType::SurveyInvited, actor, &sent, now)
            .await?;
        self.commit(write).await?;
        Ok(sent)
    }

    /// Withdraws the ticket's surveys still waiting, and creates its new one.
    async fn invite(
        &self,
        write: &Write,
        ticket: &Ticket,
        template: Option<Template>,
        schedule: Schedule,
        now: DateTime<Utc>,
    ) -> Result<Survey> {
        let template = match template {
            Some(t) => t,
            None => self.default_template(write).await?,
        };
        self.withdraw_waiting(write, ticket.id).await?;
        let mut new = Survey::new(ticket, &template, new_token(), schedule, now);
        new.id = convert::survey_row(&new).insert(write.conn()).await?.id;
        Ok(new)
    }

    /// Withdraws the ticket's surveys still waiting to be sent or answered.
    async fn withdraw_waiting(&self, write: &Write, ticket_id: i64) -> Result<()> {
        stored::Entity::update_many()
            .col_expr(
                stored::Column::State,
                Expr::value(SurveyState::Withdrawn.as_str()),
            )
            .filter(stored::Column::TicketId.eq(ticket_id))
            .filter(stored::Column::State.is_in(waiting()))
            .exec(write.conn())
            .await?;
        Ok(())
    }

    /// When the customer behind `key` was last surveyed about a ticket other than
    /// `ticket_id`. On PostgreSQL this first takes the customer's lock, held to the end of the
    /// transaction, so that two resolves for one customer cannot both pass the limit.
    async fn last_surveyed(
        &self,
        write: &Write,
        key: &str,
        ticket_id: i64,
    ) -> Result<Option<DateTime<Utc>>> {
        self.lock_key(write, CUSTOMER_LOCK_CLASS, key).await?;
        let sent = [
            SurveyState::Scheduled,
            SurveyState::Open,
            SurveyState::Answered,
            SurveyState::Expired,
        ];
        let last: Option<Option<DateTime<Utc>>> = stored::Entity::find()
            .select_only()
            .column_as(Expr::col(stored::Column::SendAt).max(), "last")
            .filter(stored::Column::CustomerKey.eq(key))
            .filter(stored::Column::TicketId.ne(ticket_id))
            .filter(stored::Column::State.is_in(sent.iter().map(|s| s.as_str())))
            .into_tuple()
            .one(write.conn())
            .await?;
        Ok(last.flatten())
    }

    /// On PostgreSQL, takes the advisory lock of `key` in `class` until the transaction ends
    /// (SQLite's single writer already serializes writers).
    async fn lock_key(&self, write: &Write, class: i32, key: &str) -> Result<()> {
        if self.backend() == DbBackend::Postgres {
            write
                .conn()
                .execute_raw(self.statement(
                    "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                    vec![class.into(), key.into()],
                ))
                .await?;
        }
        Ok(())
    }

    // --- The customer's side ---

    pub async fn survey_by_token(&self, token: &str) -> Result<Survey> {
        let row = stored::Entity::find()
            .filter(stored::Column::Token.eq(token))
            .one(&self.db)
            .await?;
        match row.map(convert::survey).transpose()? {
            // Not sent yet: as far as anyone outside knows, it does not exist.
            Some(s) if s.state != SurveyState::Scheduled => Ok(s),
            _ => Err(Error::not_found("survey", "with this token")),
        }
    }

    /// Records the response to `read` (the survey as read by token) and does what it means to
    /// the ticket, all in one transaction: a satisfied customer's resolved ticket is closed; a
    /// dissatisfied one's is reopened one priority step higher and handed to `reopen_to`.
    /// Returns the survey as answered and the events recorded, in order.
    pub async fn answer_survey(
        &self,
        read: &Survey,
        response: Response,
        reopen_to: ReopenTo,
        fallback_team: &str,
        now: DateTime<Utc>,
    ) -> Result<(Survey, Vec<TicketEvent>)> {
        let write = self.begin().await?;
        // The team and supervisor come first in the lock order. A team deleted since the
        // resolve hands the ticket to `fallback_team`.
        let (team, supervisor) = match (&response.verdict, &read.team) {
            (Verdict::Dissatisfied { .. }, Some(team)) => {
                self.lock_return(&write, team, reopen_to).await?
            }
            _ => (None, Supervisor::None("the ticket had no team".into())),
        };
        let team = team.unwrap_or_else(|| fallback_team.to_owned());
        let ticket = self.lock_ticket(&write, read.ticket_id).await?;
        let mut answered = read.clone();
        answered.state = SurveyState::Answered;
        answered.answered_at = Some(now);
        answered.scores = survey::scores(&read.questions, &response.answers);
        answered.has_comment = survey::has_comment(&response.answers);
        answered.answers = response.answers;
        answered.outcome = Some(survey::outcome(ticket.status, &response.verdict));
        let updated = stored::Entity::update_many()
            .set(convert::response_row(&answered))
            .filter(stored::Column::Id.eq(read.id))
            .filter(stored::Column::State.eq(SurveyState::Open.as_str()))
            .filter(stored::Column::ExpireAt.gt(now))
            .exec(write.conn())
            .await?;
        if updated.rows_affected == 0 {
            // Answered, expired or withdrawn since it was read.
            let now_stored = self.survey_in(&write, read.id).await?;
            return Err(unanswerable(&now_stored, now, &ticket));
        }
        let mut events = vec![
            self.record(
                &write,
                &ticket,
                EventType::SurveyAnswered,
                CUSTOMER,
                &answered,
                now,
            )
            .await?,
        ];
        let reference = answered.reference(false);
        let scores = listed(answered.scores.iter().map(|s| (s.key.as_str(), s.score)));
        match (answered.outcome, &response.verdict) {
            (Some(Outcome::Closed), _) => {
                let (_, event) = self
                    .change_in(&write, ticket.id, None, SURVEY, now, |t| {
                        lifecycle::apply(t, Action::Close, now)?;
                        Ok((
                            EventType::TicketClosed,
                            Note {
                                reason: Some(format!(
                                    "the customer is satisfied (survey {}: {scores})",
                                    answered.id
                                )),
                                survey: Some(reference),
                                ..Note::default()
                            },
                        ))
                    })
                    .await?;
                events.extend(event);
            }
            (Some(Outcome::Reopened), Verdict::Dissatisfied { low }) => {
                let low = listed(low.iter().map(|(key, score)| (key.as_str(), *score)));
                let (_, reopened) = self
                    .change_in(&write, ticket.id, None, SURVEY, now, |t| {
                        lifecycle::apply(
                            t,
                            Action::Reopen {
                                reason: format!("survey: the customer rated {low}"),
                            },
                            now,
                        )?;
                        let higher = one_step_up(t.priority);
                        if higher != t.priority {
                            t.priority = higher;
                            t.priority_reasons
                                .push(format!("{higher}: dissatisfied survey ({low})"));
                        }
                        Ok((
                            EventType::TicketReopened,
                            Note {
                                reason: Some(format!(
                                    "survey {}: the customer rated {low}",
                                    answered.id
                                )),
                                survey: Some(reference.clone()),
                                ..Note::default()
                            },
                        ))
                    })
                    .await?;
                events.extend(reopened);
                let team = Some(team);
                let (_, assigned) = self
                    .change_in(&write, ticket.id, None, SURVEY, now, |t| {
                        let (agent, reason) = match &supervisor {
                            Supervisor::Can(agent) => {
                                match super::routing::check_can_take(agent, t, team.as_deref()) {
                                    Ok(()) => (
                                        Some(agent.id.clone()),
                                        format!(
                                            "survey: to {}, the supervisor of team {}",
                                            agent.id,
                                            team.as_deref().unwrap_or_default()
                                        ),
                                    ),
                                    Err(why) => (None, back_in_queue(&why.to_string(), &team)),
                                }
                            }
                            Supervisor::None(why) => (None, back_in_queue(why, &team)),
                        };
                        lifecycle::apply(
                            t,
                            Action::Assign {
                                team,
                                agent,
                                transfer_ownership: false,
                            },
                            now,
                        )?;
                        Ok((
                            EventType::TicketAssigned,
                            Note {
                                reason: Some(reason),
                                survey: Some(reference),
                                ..Note::default()
                            },
                        ))
                    })
                    .await?;
                events.extend(assigned);
            }
            _ => {}
        }
        self.commit(write).await?;
        Ok((answered, events))
    }

    /// Locks the team that resolved a ticket and, when the ticket goes to its supervisor,
    /// their agent row. The team is `None` when it no longer exists.
    async fn lock_return(
        &self,
        write: &Write,
        team: &str,
        reopen_to: ReopenTo,
    ) -> Result<(Option<String>, Supervisor)> {
        let team = match self.lock_team(write, team, LockType::KeyShare).await {
            Ok(team) => team,
            Err(Error::NotFound { .. }) => {
                let why = format!("team {team} no longer exists");
                return Ok((None, Supervisor::None(why)));
            }
            Err(e) => return Err(e),
        };
        let supervisor = match (reopen_to, &team.supervisor) {
            (ReopenTo::Team, _) => Supervisor::None("surveys reopen to the team's queue".into()),
            (ReopenTo::Supervisor, None) => {
                Supervisor::None(format!("team {} has no supervisor", team.id))
            }
            (ReopenTo::Supervisor, Some(id)) => {
                match self
                    .lock_agents(write, std::slice::from_ref(id))
                    .await?
                    .pop()
                {
                    Some(agent) => Supervisor::Can(agent),
                    None => Supervisor::None(format!("supervisor {id} is not an agent")),
                }
            }
        };
        Ok((Some(team.id), supervisor))
    }

    async fn survey_in(&self, write: &Write, id: i64) -> Result<Survey> {
        let row = stored::Entity::find_by_id(id).one(write.conn()).await?;
        convert::survey(row.ok_or_else(|| Error::not_found("survey", id))?)
    }

    /// Appends an event about `s` on its ticket, unchanged by it. Only the invitation
    /// carries the token, for the connector that delivers it.
    async fn record(
        &self,
        write: &Write,
        ticket: &Ticket,
        event_type: EventType,
        actor: &str,
        s: &Survey,
        now: DateTime<Utc>,
    ) -> Result<TicketEvent> {
        let mut event = TicketEvent {
            survey: Some(s.reference(event_type == EventType::SurveyInvited)),
            ..TicketEvent::on(ticket, event_type, actor, now)
        };
        event.cursor = self.append_event(write, &event).await?;
        Ok(event)
    }

    // --- The scheduler ---

    /// Sends up to `limit` scheduled surveys whose time has come; a ticket back in work by
    /// then has its survey withdrawn instead. Returns how many were handled.
    pub async fn send_due_surveys(&self, now: DateTime<Utc>, limit: u64) -> Result<usize> {
        let due = self
            .due(SurveyState::Scheduled, stored::Column::SendAt, now, limit)
            .await?;
        for s in &due {
            let write = self.begin().await?;
            let ticket = self.lock_ticket(&write, s.ticket_id).await?;
            let still_resolved = matches!(ticket.status, Status::Resolved | Status::Closed)
                && ticket.resolution == Some(Resolution::Solved);
            let next = if still_resolved {
                SurveyState::Open
            } else {
                SurveyState::Withdrawn
            };
            if self
                .move_state(&write, s.id, SurveyState::Scheduled, next)
                .await?
                && still_resolved
            {
                self.record(&write, &ticket, EventType::SurveyInvited, SURVEY, s, now)
                    .await?;
            }
            self.commit(write).await?;
        }
        Ok(due.len())
    }

    /// Expires up to `limit` open surveys past their expiry, closing each ticket still
    /// resolved. Returns how many were handled.
    pub async fn expire_due_surveys(&self, now: DateTime<Utc>, limit: u64) -> Result<usize> {
        let due = self
            .due(SurveyState::Open, stored::Column::ExpireAt, now, limit)
            .await?;
        for s in &due {
            let write = self.begin().await?;
            let ticket = self.lock_ticket(&write, s.ticket_id).await?;
            if !self
                .move_state(&write, s.id, SurveyState::Open, SurveyState::Expired)
                .await?
            {
                continue; // answered or expired by someone else meanwhile
            }
            let mut expired = s.clone();
            expired.state = SurveyState::Expired;
            self.record(
                &write,
                &ticket,
                EventType::SurveyExpired,
                SURVEY,
                &expired,
                now,
            )
            .await?;
            if ticket.status == Status::Resolved {
                self.change_in(&write, ticket.id, None, SURVEY, now, |t| {
                    lifecycle::apply(t, Action::Close, now)?;
                    Ok((
                        EventType::TicketClosed,
                        Note {
                            reason: Some(format!(
                                "no survey response by {} (survey {})",
                                rfc3339(s.expire_at),
                                s.id
                            )),
                            survey: Some(expired.reference(false)),
                            ..Note::default()
                        },
                    ))
                })
                .await?;
            }
            self.commit(write).await?;
        }
        Ok(due.len())
    }

    /// Surveys in `state` whose `at` has come, soonest first: an index range, not a scan.
    async fn due(
        &self,
        state: SurveyState,
        at: stored::Column,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Survey>> {
        let rows = stored::Entity::find()
            .filter(stored::Column::State.eq(state.as_str()))
            .filter(at.lte(now))
            .order_by_asc(at)
            .limit(limit)
            .all(&self.db)
            .await?;
        rows.into_iter().map(convert::survey).collect()
    }

    /// Moves a survey from `from` to `to`; false when it was no longer in `from`.
    async fn move_state(
        &self,
        write: &Write,
        id: i64,
        from: SurveyState,
        to: SurveyState,
    ) -> Result<bool> {
        let result = stored::Entity::update_many()
            .col_expr(stored::Column::State, Expr::value(to.as_str()))
            .filter(stored::Column::Id.eq(id))
            .filter(stored::Column::State.eq(from.as_str()))
            .exec(write.conn())
            .await?;
        Ok(result.rows_affected == 1)
    }

    // --- Reading results ---

    /// Up to `limit` responses matching `filter`, newest first, after `after` (the
    /// submit time and id of the last one seen).
    pub async fn survey_responses(
        &self,
        filter: &ResponseFilter,
        after: Option<(DateTime<Utc>, i64)>,
        limit: u64,
    ) -> Result<Vec<(Survey, String)>> {
        use stored::Column as C;
        let mut cond = Condition::all().add(C::State.eq(SurveyState::Answered.as_str()));
        if let Some(t) = filter.submitted_after {
            cond = cond.add(C::AnsweredAt.gte(t));
        }
        if let Some(t) = filter.submitted_before {
            cond = cond.add(C::AnsweredAt.lt(t));
        }
        if let Some(team) = &filter.team {
            cond = cond.add(C::Team.eq(team.clone()));
        }
        if let Some(agent) = &filter.agent {
            cond = cond.add(C::Agent.eq(agent.clone()));
        }
        if let Some(min) = filter.min_score {
            cond = cond.add(C::LowestRating.gte(min));
        }
        if let Some(max) = filter.max_score {
            cond = cond.add(C::LowestRating.lte(max));
        }
        if let Some(has) = filter.has_comment {
            cond = cond.add(C::HasComment.eq(has));
        }
        if let Some(id) = filter.ticket_id {
            cond = cond.add(C::TicketId.eq(id));
        }
        if let Some((at, id)) = after {
            cond = cond.add(
                Condition::any()
                    .add(C::AnsweredAt.lt(at))
                    .add(Condition::all().add(C::AnsweredAt.eq(at)).add(C::Id.lt(id))),
            );
        }
        let rows = stored::Entity::find()
            .filter(cond)
            .order_by_desc(C::AnsweredAt)
            .order_by_desc(C::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        let surveys: Vec<Survey> = rows
            .into_iter()
            .map(convert::survey)
            .collect::<Result<_>>()?;
        let numbers = self
            .ticket_numbers(surveys.iter().map(|s| s.ticket_id))
            .await?;
        Ok(surveys
            .into_iter()
            .map(|s| {
                let number = numbers.get(&s.ticket_id).cloned().unwrap_or_default();
                (s, number)
            })
            .collect())
    }

    /// What the figures of the surveys sent in `[from, to)` are made of, in total and per
    /// group. Withdrawn and not yet sent surveys do not count.
    pub async fn survey_tallies(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        grouping: Option<Grouping>,
    ) -> Result<(Tally, BTreeMap<String, Tally>)> {
        use stored::Column as C;
        let group_column = grouping.map(|g| match g {
            Grouping::Team => C::Team,
            Grouping::Agent => C::Agent,
            Grouping::Kind => C::Kind,
            Grouping::Channel => C::Channel,
            Grouping::Product => C::Product,
        });
        let counted = [
            SurveyState::Open,
            SurveyState::Answered,
            SurveyState::Expired,
        ];
        let mut query = stored::Entity::find()
            .select_only()
            .columns([C::State, C::Scores, C::Outcome])
            .filter(C::SendAt.gte(from))
            .filter(C::SendAt.lt(to))
            .filter(C::State.is_in(counted.iter().map(|s| s.as_str())));
        if let Some(column) = group_column {
            query = query.column_as(Expr::col(column), "group_key");
        } else {
            query = query.column_as(Expr::value(""), "group_key");
        }
        let rows: Vec<TallyRow> = query.into_tuple().all(&self.db).await?;
        let mut total = Tally::default();
        let mut groups: BTreeMap<String, Tally> = BTreeMap::new();
        for (state, scores, outcome, key) in rows {
            let scores: Option<Vec<survey::Scored>> = scores
                .map(|s| convert::from_json("scores", s))
                .transpose()?;
            let reopened = outcome.as_deref() == Some(Outcome::Reopened.as_str());
            let answered = state == SurveyState::Answered.as_str();
            let tallies = [
                Some(&mut total),
                grouping.map(|_| groups.entry(key.unwrap_or_default()).or_default()),
            ];
            for tally in tallies.into_iter().flatten() {
                tally.invitations += 1;
                if answered {
                    tally.responses.push(scores.clone().unwrap_or_default());
                }
                tally.reopened += u64::from(reopened);
            }
        }
        Ok((total, groups))
    }
}

/// What figures read of one survey: its state, scores, outcome and group.
type TallyRow = (
    String,
    Option<serde_json::Value>,
    Option<String>,
    Option<String>,
);

/// The supervisor a dissatisfied customer's ticket goes to, or why it cannot.
enum Supervisor {
    Can(Agent),
    None(String),
}

/// Surveys still waiting to be sent or answered.
fn waiting() -> [&'static str; 2] {
    [SurveyState::Scheduled.as_str(), SurveyState::Open.as_str()]
}

/// The reason of a survey's reopen that found nobody to give the ticket to.
fn back_in_queue(why: &str, team: &Option<String>) -> String {
    format!(
        "survey: {why}; back in the queue of {}",
        team.as_deref().unwrap_or_default()
    )
}

/// Why `s` takes no answer at `now`.
pub fn unanswerable(s: &Survey, now: DateTime<Utc>, ticket: &Ticket) -> Error {
    let subject = format!("survey of ticket {}", ticket.number);
    match s.closed_for_answers(now) {
        Some(Closed::Answered) => Error::AlreadyExists {
            resource: "survey response",
            key: format!("for ticket {}", ticket.number),
        },
        Some(Closed::Expired(at)) => Error::FailedPrecondition {
            subject,
            description: format!("it expired at {}", rfc3339(at)),
        },
        Some(Closed::Withdrawn) => Error::FailedPrecondition {
            subject,
            description: "it was withdrawn: a newer survey replaced it, or the ticket was \
                          back in work"
                .into(),
        },
        Some(Closed::NotSent) | None => Error::not_found("survey", "with this token"),
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

/// 24 bytes from the operating system's random source, URL-safe: 192 bits nobody can guess.
fn new_token() -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the operating system provides random numbers");
    URL_SAFE_NO_PAD.encode(bytes)
}
