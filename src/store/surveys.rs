//! Surveys: templates, the surveys a resolve or a SendSurvey creates, their states, and what
//! the lists and figures read.
//!
//! A survey changes state only from the state its caller read (a conditional UPDATE), so two
//! instances never both send, expire or answer one survey.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::entity::{survey as stored, survey_template};
use super::{Inserted, Store, Write, convert, inserted};
use crate::domain::query::{Grouping, ResponseFilter};
use crate::domain::survey::{self, Outcome, Survey, SurveyState, Tally, Template};
use crate::error::Result;

/// The class of the PostgreSQL advisory lock that serializes changes of the default template.
const DEFAULT_TEMPLATE_LOCK_CLASS: i32 = 0x5354; // "ST"

/// Any constant will do: the class of the PostgreSQL advisory locks that serialize the
/// per-customer limit check (two int4 keys: this class and the customer key's hash).
const CUSTOMER_LOCK_CLASS: i32 = 0x5355; // "SU"

impl Store {
    // --- Templates ---

    pub async fn insert_template(&self, write: &Write, t: &Template) -> Result<Inserted> {
        inserted(convert::template_row(t)?.insert(write.conn()).await)
    }

    pub async fn update_template(&self, write: &Write, t: &Template) -> Result<()> {
        convert::template_row(t)?.update(write.conn()).await?;
        Ok(())
    }

    /// Deletes a template unless it became the default meanwhile; false when it did not.
    pub async fn delete_template(&self, write: &Write, id: &str) -> Result<bool> {
        let deleted = survey_template::Entity::delete_many()
            .filter(survey_template::Column::Id.eq(id))
            .filter(survey_template::Column::IsDefault.eq(false))
            .exec(write.conn())
            .await?;
        Ok(deleted.rows_affected == 1)
    }

    pub async fn template(&self, id: &str) -> Result<Option<Template>> {
        survey_template::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(convert::template)
            .transpose()
    }

    /// Whether any template exists.
    pub async fn has_templates(&self) -> Result<bool> {
        Ok(survey_template::Entity::find()
            .one(&self.db)
            .await?
            .is_some())
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

    pub async fn lock_template(&self, write: &Write, id: &str) -> Result<Option<Template>> {
        let mut query = survey_template::Entity::find_by_id(id);
        if self.backend() == DbBackend::Postgres {
            query = query.lock(LockType::Update);
        }
        query
            .one(write.conn())
            .await?
            .map(convert::template)
            .transpose()
    }

    /// The template sent when a ticket is resolved, read inside `write`.
    pub async fn default_template(&self, write: &Write) -> Result<Option<Template>> {
        survey_template::Entity::find()
            .filter(survey_template::Column::IsDefault.eq(true))
            .one(write.conn())
            .await?
            .map(convert::template)
            .transpose()
    }

    /// Unmarks the default template. On PostgreSQL this first takes a lock held to the end
    /// of the transaction, so that two writers making different templates the default
    /// cannot both see the old one and leave two.
    pub async fn unmark_default(&self, write: &Write) -> Result<()> {
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

    // --- Surveys ---

    /// Stores a new survey, with the idempotency key of the request that created it and that
    /// request's fingerprint; returns its id, or `None` when the key was taken meanwhile (the
    /// token, 192 random bits, never is).
    pub async fn insert_survey(
        &self,
        write: &Write,
        s: &Survey,
        request: Option<(String, String)>,
    ) -> Result<Option<i64>> {
        let mut row = convert::survey_row(s)?;
        if let Some((id, hash)) = request {
            row.request_id = sea_orm::Set(Some(id));
            row.request_hash = sea_orm::Set(Some(hash));
        }
        let mut id = None;
        let result = row.insert(write.conn()).await.map(|row| id = Some(row.id));
        Ok(match inserted(result)? {
            Inserted::Done => id,
            Inserted::Taken => None,
        })
    }

    /// The survey created under `request_id`, with the fingerprint of that request.
    pub async fn survey_by_request_id(
        &self,
        write: &Write,
        request_id: &str,
    ) -> Result<Option<(Survey, Option<String>)>> {
        let Some(row) = stored::Entity::find()
            .filter(stored::Column::RequestId.eq(request_id))
            .one(write.conn())
            .await?
        else {
            return Ok(None);
        };
        let hash = row.request_hash.clone();
        Ok(Some((convert::survey(row)?, hash)))
    }

    /// Withdraws the ticket's surveys still waiting to be sent or answered.
    pub async fn withdraw_waiting(&self, write: &Write, ticket_id: i64) -> Result<()> {
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
    pub async fn last_surveyed(
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

    pub async fn survey_by_token(&self, token: &str) -> Result<Option<Survey>> {
        stored::Entity::find()
            .filter(stored::Column::Token.eq(token))
            .one(&self.db)
            .await?
            .map(convert::survey)
            .transpose()
    }

    /// A survey read inside `write`.
    pub async fn survey_in(&self, write: &Write, id: i64) -> Result<Option<Survey>> {
        stored::Entity::find_by_id(id)
            .one(write.conn())
            .await?
            .map(convert::survey)
            .transpose()
    }

    /// Up to `limit` surveys of a ticket, newest first, after survey id `after`.
    pub async fn surveys_of_ticket(
        &self,
        ticket_id: i64,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<Survey>> {
        let mut query = stored::Entity::find().filter(stored::Column::TicketId.eq(ticket_id));
        if let Some(after) = after {
            query = query.filter(stored::Column::Id.lt(after));
        }
        query
            .order_by_desc(stored::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(convert::survey)
            .collect()
    }

    /// Records the response of `answered` if its survey is still open and unexpired at `now`;
    /// false when it was answered, expired or withdrawn meanwhile.
    pub async fn record_response(
        &self,
        write: &Write,
        answered: &Survey,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let updated = stored::Entity::update_many()
            .set(convert::response_row(answered)?)
            .filter(stored::Column::Id.eq(answered.id))
            .filter(stored::Column::State.eq(SurveyState::Open.as_str()))
            .filter(stored::Column::ExpireAt.gt(now))
            .exec(write.conn())
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Surveys in `state` whose send time (scheduled ones) or expiry (open ones) has come by
    /// `now`, soonest first: an index range, not a scan.
    pub async fn surveys_due(
        &self,
        state: SurveyState,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Survey>> {
        let at = match state {
            SurveyState::Scheduled => stored::Column::SendAt,
            _ => stored::Column::ExpireAt,
        };
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
    pub async fn move_survey(
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
        if let Some(product) = &filter.product {
            cond = cond.add(C::Product.eq(product.clone()));
        }
        if !filter.kinds.is_empty() {
            cond = cond.add(C::Kind.is_in(filter.kinds.iter().map(|k| k.as_str())));
        }
        if !filter.channels.is_empty() {
            cond = cond.add(C::Channel.is_in(filter.channels.iter().map(|c| c.as_str())));
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

/// Surveys still waiting to be sent or answered.
fn waiting() -> [&'static str; 2] {
    [SurveyState::Scheduled.as_str(), SurveyState::Open.as_str()]
}
