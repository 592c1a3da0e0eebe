//! Canned replies: reply templates as configuration (created, changed and deleted under the
//! configuration audit, global or of one team), rendered for a ticket, and applied to it as
//! one change: the reply posted, its field changes made and its status step taken in one
//! transaction and one ticket version, their events recorded together.

use std::collections::BTreeMap;

use super::App;
use super::admin::{Change, Resource};
use super::tickets::On;
use crate::domain::access::{Caller, Principal, Role};
use crate::domain::error::{FieldViolation, Refusal, Versioned};
use crate::domain::event::{self, EventType, FieldChange, actor};
use crate::domain::idempotency::{Requested, check_replay};
use crate::domain::patch::Patch;
use crate::domain::query::Named;
use crate::domain::reply::{Facts, Rendered, ReplyTemplate, TemplateFilter, Value};
use crate::domain::ticket::{AuthorRole, Comment, NewComment, Resolution, Ticket, Visibility};
use crate::error::{Error, Found, Result};
use crate::store::{Inserted, Store, TeamLock, Write};

/// Most problems of one template named in one answer.
const MAX_PROBLEMS: usize = 20;

impl Resource for ReplyTemplate {
    const KIND: &'static str = "reply template";
    type Key = str;

    fn key(&self) -> String {
        self.id.clone()
    }

    async fn lock(store: &Store, write: &Write, key: &str) -> Result<Option<ReplyTemplate>> {
        store.lock_reply_template(write, key).await
    }

    async fn insert(
        &mut self,
        store: &Store,
        write: &Write,
        _: Option<&Requested>,
    ) -> Result<Inserted> {
        store.insert_reply_template(write, self).await
    }

    async fn update(
        store: &Store,
        write: &Write,
        _: &ReplyTemplate,
        after: &ReplyTemplate,
    ) -> Result<()> {
        store.update_reply_template(write, after).await
    }

    async fn delete(&self, store: &Store, write: &Write) -> Result<()> {
        store.delete_reply_template(write, &self.id).await
    }

    /// A template as it will stand parses, and declares exactly the free variables its
    /// bodies use; its team exists, and is kept from being deleted meanwhile.
    async fn guard(app: &App, write: &Write, change: Change<'_, ReplyTemplate>) -> Result<()> {
        let (template, new_team) = match change {
            Change::Create(t) => (t, t.team.as_deref()),
            Change::Update { before, after } => (
                after,
                after.team.as_deref().filter(|_| after.team != before.team),
            ),
            Change::Delete(_) => return Ok(()),
        };
        let mut violations: Vec<FieldViolation> = template
            .problems()
            .into_iter()
            .map(|(field, why)| FieldViolation::new(format!("template.{field}"), why))
            .collect();
        if !violations.is_empty() {
            let more = violations.len().saturating_sub(MAX_PROBLEMS);
            violations.truncate(MAX_PROBLEMS);
            return Err(Refusal::Invalid { violations, more }.into());
        }
        if let Some(team) = new_team {
            app.store
                .lock_team(write, team, TeamLock::Keep)
                .await?
                .found("team", team)?;
        }
        Ok(())
    }
}

/// A reply rendered for a ticket: its text and language, how it is posted, and the ticket's
/// fields it would change.
pub struct Preview {
    pub rendered: Rendered,
    pub visibility: Visibility,
    pub changes: Vec<FieldChange>,
}

impl App {
    // --- Templates ---

    /// Creates a template, recorded as created by the caller. Global templates are the
    /// admins' to create; a supervisor creates their teams'.
    pub async fn create_reply_template(
        &self,
        by: &Caller,
        mut template: ReplyTemplate,
    ) -> Result<ReplyTemplate> {
        by.check_manages_replies_of(template.team.as_deref())?;
        template.created_by = by.actor();
        self.create(template, None, by).await
    }

    /// Template `id`, if `by` sees it: one of another team is as missing.
    pub async fn reply_template(&self, id: &str, by: &Principal) -> Result<ReplyTemplate> {
        self.store
            .reply_template(id)
            .await?
            .filter(|t| by.sees_replies_of(t.team.as_deref()))
            .found(ReplyTemplate::KIND, id)
    }

    /// Up to `limit` templates `by` sees that match `filter`, by id, after `after`.
    pub async fn list_reply_templates(
        &self,
        by: &Principal,
        filter: TemplateFilter,
        after: Option<String>,
        limit: u64,
    ) -> Result<Vec<ReplyTemplate>> {
        if !by.sees_replies_of(None) {
            return Ok(Vec::new());
        }
        if let Some(team) = filter.team.as_deref() {
            if !by.sees_replies_of(Some(team)) {
                return Err(Error::not_found("team", team));
            }
            self.check_named(vec![Named::Team(team)]).await?;
        }
        let filter = TemplateFilter {
            visible: by.reply_teams(),
            ..filter
        };
        self.store
            .list_reply_templates(&filter, after.as_deref(), limit)
            .await
    }

    /// Changes the fields `patch` names on template `id`, which the caller must manage both
    /// as it is and as it will be (a team moved to).
    pub async fn update_reply_template(
        &self,
        by: &Caller,
        id: &str,
        etag: Option<&str>,
        patch: &Patch<ReplyTemplate>,
    ) -> Result<ReplyTemplate> {
        let seen = self.managed_reply_template(by, id).await?;
        if patch.names("team") {
            by.check_manages_replies_of(patch.value.team.as_deref())?;
        }
        let seen = seen.etag();
        self.update(id, etag.or(scope_etag(by, &seen)), patch, by)
            .await
    }

    pub async fn delete_reply_template(
        &self,
        by: &Caller,
        id: &str,
        etag: Option<&str>,
    ) -> Result<()> {
        let seen = self.managed_reply_template(by, id).await?.etag();
        self.delete::<ReplyTemplate>(id, etag.or(scope_etag(by, &seen)), by)
            .await
    }

    /// Template `id`, if `by` sees it and manages it.
    async fn managed_reply_template(&self, by: &Caller, id: &str) -> Result<ReplyTemplate> {
        let template = self.reply_template(id, by).await?;
        by.check_manages_replies_of(template.team.as_deref())?;
        Ok(template)
    }

    // --- Replies ---

    /// Renders `template_id` for the ticket `on` names, with `given` values for its free
    /// variables, and says what applying it would change; writes nothing.
    pub async fn render_reply(
        &self,
        on: &On,
        template_id: &str,
        given: &BTreeMap<String, String>,
    ) -> Result<Preview> {
        let template = self.reply_template(template_id, &on.by).await?;
        let values = template.values(given)?;
        let ticket = self
            .store
            .ticket(on.ticket_id)
            .await?
            .filter(|t| on.by.works_on(t))
            .found("ticket", on.ticket_id)?;
        self.check_acting(&on.by, &on.acting()).await?;
        let rendered = self
            .render_for(&template, &ticket, &on.actor, &values)
            .await?;
        let mut after = ticket.clone();
        template.apply(&mut after, &on.actor, self.now())?;
        Ok(Preview {
            rendered,
            visibility: template.visibility,
            changes: event::diff(&ticket, &after),
        })
    }

    /// Posts `template_id` rendered for the ticket `on` names, and makes its field changes and
    /// status step, as one change of the ticket: one transaction, one version, its events
    /// (COMMENT_ADDED naming the template, then the status step's, and a survey sent by a
    /// resolve) recorded together. A retry of `request` answers with the first comment and the
    /// ticket as it is now.
    pub async fn apply_reply(
        &self,
        on: On,
        template_id: &str,
        given: &BTreeMap<String, String>,
        request: Option<Requested>,
    ) -> Result<(Comment, Ticket)> {
        let template = self.reply_template(template_id, &on.by).await?;
        let values = template.values(given)?;
        let now = self.now();
        let write = self.store.begin().await?;
        // Locked first, so a concurrent retry waits here and then finds the first comment.
        let current = self.lock_for(&write, &on).await?;
        if let Some(request) = &request
            && let Some((first, hash)) = self
                .store
                .comment_by_request_id(&write, &request.id)
                .await?
        {
            if first.ticket_id != on.ticket_id {
                return Err(Refusal::RequestReused {
                    request_id: crate::domain::error::shorten(&request.id),
                }
                .into());
            }
            check_replay(&request.id, hash.as_deref(), &request.hash)?;
            return Ok((first, current));
        }
        current.check_etag(on.etag.as_deref())?;
        let rendered = self
            .render_for(&template, &current, &on.actor, &values)
            .await?;
        let planned = if template.resolves(current.status) {
            // A canned resolve is a resolve: open tasks hold it as they hold ResolveTicket.
            crate::domain::task::check_resolve(&current, false)?;
            Some(
                self.plan_survey(&write, &current, Resolution::Solved, now)
                    .await?,
            )
        } else {
            None
        };
        let survey_reason = planned.as_ref().and_then(|p| p.reason.clone());
        let new = NewComment {
            visibility: template.visibility,
            author: on.actor.clone(),
            author_role: AuthorRole::Agent,
            body: rendered.body,
            request_id: request.as_ref().map(|r| r.id.clone()),
        };
        let mut changed = self
            .change_in(&write, &on, now, |t| {
                let step = template.apply(t, &on.actor, now)?;
                let mut change = event::Change::of(EventType::CommentAdded)
                    .because(format!("reply template {}", template.id));
                change.note.comment = Some(new);
                change.note.request_hash = request.map(|r| r.hash);
                change.note.steps = step
                    .into_iter()
                    .map(|mut step| {
                        if step.event == EventType::TicketResolved {
                            step.reason = survey_reason.clone();
                        }
                        step
                    })
                    .collect();
                Ok(change)
            })
            .await?;
        if let Some(invitation) = planned.and_then(|p| p.invitation) {
            let event = self
                .survey_event(
                    &write,
                    &changed.ticket,
                    EventType::SurveyInvited,
                    &invitation,
                    &crate::domain::access::Acting::service(actor::SURVEY),
                    now,
                )
                .await?;
            changed.events.push(event);
        }
        let comment = changed
            .events
            .first()
            .and_then(|e| e.comment.clone())
            .ok_or_else(|| Error::Internal("a reply's change recorded no comment".into()))?;
        let ticket = self.finish(write, changed).await?;
        Ok((comment, ticket))
    }

    /// `template` rendered for `ticket`, posted as `actor`: the built-ins read from the
    /// ticket, the actor's agent and the ticket's team.
    async fn render_for(
        &self,
        template: &ReplyTemplate,
        ticket: &Ticket,
        actor: &str,
        values: &BTreeMap<String, Value>,
    ) -> Result<Rendered> {
        let agent = self.store.agent(actor).await?;
        let team = match ticket.team.as_deref() {
            Some(team) => self.store.team(team).await?,
            None => None,
        };
        let zone = team
            .as_ref()
            .and_then(|t| t.time_zone.parse().ok())
            .unwrap_or(self.settings.zone);
        let facts = Facts {
            ticket,
            agent: agent.as_ref().map(|a| a.display_name.as_str()),
            team: team.as_ref().map(|t| t.display_name.as_str()),
            zone,
        };
        Ok(template.render(&facts, values)?)
    }
}

/// The etag a change of a template by `by` is checked against when they give none: for a
/// supervisor, the one of the template whose team was checked, so that a template moved to
/// another team meanwhile is not changed by them; admins manage any, and need none.
fn scope_etag<'a>(by: &Principal, seen: &'a str) -> Option<&'a str> {
    (by.role != Role::Admin).then_some(seen)
}
