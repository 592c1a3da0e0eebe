//! ReplyService: reply templates, and replies rendered and applied from them.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use tonic::Request;

use super::check::{Check, given, key, only_key, optional_key, request_id};
use super::mask::patch;
use super::paging::Page;
use super::{Context, Reply, caller, convert, etag, reply};
use crate::app::tickets::On;
use crate::domain::idempotency::Requested;
use crate::domain::patch::{Field, Patch};
use crate::domain::reply::{
    Effects, MAX_CHOICES, MAX_LABEL, MAX_VARIABLES, ReplyTemplate, TemplateFilter, Variable,
    VariableKind,
};
use crate::domain::ticket::{Visibility, limits, normalize_tags};
use crate::proto::feedback::v1::{self as pb, reply_service_server::ReplyService};

/// The fields UpdateReplyTemplate may change.
const TEMPLATE_FIELDS: &[Field<ReplyTemplate, ReplyTemplate>] = &[
    ("title", |t, v| t.title = v.title.clone()),
    ("body_zh", |t, v| t.body_zh = v.body_zh.clone()),
    ("body_en", |t, v| t.body_en = v.body_en.clone()),
    ("variables", |t, v| t.variables = v.variables.clone()),
    ("team", |t, v| t.team = v.team.clone()),
    ("visibility", |t, v| t.visibility = v.visibility),
    ("changes", |t, v| t.effects = v.effects.clone()),
];

/// The ReplyService handlers.
pub struct ReplyApi {
    cx: Context,
}

impl ReplyApi {
    pub fn new(cx: Context) -> Self {
        Self { cx }
    }
}

/// A template from a request, each field named under `template.`. What depends on several
/// fields (the bodies against the variables) is checked by the use case on the template as it
/// will stand.
fn template(check: &mut Check, t: &pb::ReplyTemplate, now: DateTime<Utc>) -> ReplyTemplate {
    let variables = if check.at_most("template.variables", t.variables.len(), MAX_VARIABLES) {
        t.variables
            .iter()
            .enumerate()
            .map(|(i, v)| variable(check, &format!("template.variables[{i}]"), v))
            .collect()
    } else {
        Vec::new()
    };
    ReplyTemplate {
        id: key(check, "template.id", &t.id),
        title: check.text("template.title", &t.title, true, limits::NAME),
        team: optional_key(check, "template.team", &t.team),
        body_zh: check.text("template.body_zh", &t.body_zh, false, limits::COMMENT),
        body_en: check.text("template.body_en", &t.body_en, false, limits::COMMENT),
        variables,
        visibility: check
            .optional_enum("template.visibility", t.visibility)
            .unwrap_or(Visibility::Public),
        effects: effects(check, "template.changes", t.changes.as_ref()),
        created_by: String::new(),
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn variable(check: &mut Check, field: &str, v: &pb::ReplyVariable) -> Variable {
    use pb::ReplyVariableType as T;
    let kind = match T::try_from(v.r#type) {
        Ok(T::Text) => VariableKind::Text,
        Ok(T::Number) => VariableKind::Number,
        Ok(T::Date) => VariableKind::Date,
        Ok(T::Choice) => VariableKind::Choice(
            v.choices
                .iter()
                .take(MAX_CHOICES + 1)
                .map(|c| c.trim().to_owned())
                .collect(),
        ),
        Ok(T::Unspecified) => {
            check.add(format!("{field}.type"), "is required");
            VariableKind::Text
        }
        Err(_) => {
            check.add(
                format!("{field}.type"),
                format!("{} is not a known value", v.r#type),
            );
            VariableKind::Text
        }
    };
    if !matches!(kind, VariableKind::Choice(_)) && !v.choices.is_empty() {
        check.add(format!("{field}.choices"), "are only for CHOICE variables");
    }
    Variable {
        name: v.name.trim().to_owned(),
        kind,
        required: v.required,
        default: Some(v.default_value.trim().to_owned()).filter(|d| !d.is_empty()),
        label: check.text(&format!("{field}.label"), &v.label, false, MAX_LABEL),
    }
}

fn effects(check: &mut Check, field: &str, c: Option<&pb::ReplyFieldChanges>) -> Effects {
    let Some(c) = c else {
        return Effects::default();
    };
    let f = |name: &str| format!("{field}.{name}");
    let mut tags = |name: &str, given: &[String]| {
        normalize_tags(check.labels(&f(name), given, limits::TAGS, limits::TAG))
    };
    let add_tags = tags("add_tags", &c.add_tags);
    let remove_tags = tags("remove_tags", &c.remove_tags);
    Effects {
        status: check.optional_enum(&f("status"), c.status),
        priority: check.optional_enum(&f("priority"), c.priority),
        add_tags,
        remove_tags,
        resolution_summary: check.optional_text(
            &f("resolution_summary"),
            &c.resolution_summary,
            limits::RESOLUTION,
        ),
    }
}

/// The values a render or apply gives for the free variables, by name.
fn values(check: &mut Check, given: &HashMap<String, String>) -> BTreeMap<String, String> {
    if !check.at_most("values", given.len(), MAX_VARIABLES) {
        return BTreeMap::new();
    }
    given
        .iter()
        .map(|(k, v)| (k.trim().to_owned(), v.clone()))
        .collect()
}

#[tonic::async_trait]
impl ReplyService for ReplyApi {
    async fn create_reply_template(
        &self,
        request: Request<pb::CreateReplyTemplateRequest>,
    ) -> Reply<pb::ReplyTemplate> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let given = given(&mut check, "template", r.template);
                let new = template(&mut check, &given, self.cx.app.now());
                let new = check.finish(new)?;
                Ok(convert::reply_template(
                    self.cx.app.create_reply_template(&by, new).await?,
                ))
            }
            .await,
        )
    }

    async fn get_reply_template(
        &self,
        request: Request<pb::GetReplyTemplateRequest>,
    ) -> Reply<pb::ReplyTemplate> {
        let by = caller(&request)?;
        reply(
            async {
                let id = only_key("id", &request.get_ref().id)?;
                Ok(convert::reply_template(
                    self.cx.app.reply_template(&id, &by).await?,
                ))
            }
            .await,
        )
    }

    async fn list_reply_templates(
        &self,
        request: Request<pb::ListReplyTemplatesRequest>,
    ) -> Reply<pb::ListReplyTemplatesResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let filter = TemplateFilter {
                    visible: None,
                    team: optional_key(&mut check, "team", &r.team),
                    global_only: r.global_only,
                    text: check.optional_text("text", &r.text, limits::NAME),
                };
                if filter.team.is_some() && filter.global_only {
                    check.add(
                        "global_only",
                        "is not for a team's templates: drop team or this",
                    );
                }
                let page: Page<String> = Page::read(&mut check, &r);
                check.done()?;
                let templates = self
                    .cx
                    .app
                    .list_reply_templates(&by, filter, page.after.clone(), page.fetch())
                    .await?;
                let (templates, next_page_token) =
                    page.finish(templates, convert::reply_template, |t| t.id.clone());
                Ok(pb::ListReplyTemplatesResponse {
                    templates,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_reply_template(
        &self,
        request: Request<pb::UpdateReplyTemplateRequest>,
    ) -> Reply<pb::ReplyTemplate> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let given = given(&mut check, "template", r.template);
                let now = self.cx.app.now();
                let patch: Patch<ReplyTemplate> = patch(
                    &mut check,
                    "template",
                    r.update_mask.as_ref(),
                    TEMPLATE_FIELDS,
                    |check| template(check, &given, now),
                );
                let tag =
                    etag(&given.etag).map(|e| check.text("template.etag", e, false, limits::KEY));
                check.done()?;
                let id = patch.value.id.clone();
                let updated = self
                    .cx
                    .app
                    .update_reply_template(&by, &id, tag.as_deref(), &patch)
                    .await?;
                Ok(convert::reply_template(updated))
            }
            .await,
        )
    }

    async fn delete_reply_template(
        &self,
        request: Request<pb::DeleteReplyTemplateRequest>,
    ) -> Reply<pb::DeleteReplyTemplateResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let id = only_key("id", &r.id)?;
                self.cx
                    .app
                    .delete_reply_template(&by, &id, etag(&r.etag))
                    .await?;
                Ok(pb::DeleteReplyTemplateResponse {})
            }
            .await,
        )
    }

    async fn render_reply(
        &self,
        request: Request<pb::RenderReplyRequest>,
    ) -> Reply<pb::RenderReplyResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let acting = by.acting("actor", &r.actor)?;
                let mut check = Check::new();
                let template_id = key(&mut check, "template_id", &r.template_id);
                let ticket_id = check.id("ticket_id", r.ticket_id);
                let values = values(&mut check, &r.values);
                check.done()?;
                let on = On::by(&by, ticket_id, None, acting);
                let preview = self.cx.app.render_reply(&on, &template_id, &values).await?;
                Ok(pb::RenderReplyResponse {
                    body: preview.rendered.body,
                    language: preview.rendered.language.as_str().to_owned(),
                    visibility: pb::CommentVisibility::from(preview.visibility).into(),
                    changes: preview
                        .changes
                        .into_iter()
                        .map(convert::field_change)
                        .collect(),
                })
            }
            .await,
        )
    }

    async fn apply_reply(
        &self,
        request: Request<pb::ApplyReplyRequest>,
    ) -> Reply<pb::ApplyReplyResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let acting = by.acting("actor", &r.actor)?;
                let mut check = Check::new();
                let template_id = key(&mut check, "template_id", &r.template_id);
                let ticket_id = check.id("ticket_id", r.ticket_id);
                let values = values(&mut check, &r.values);
                let tag = etag(&r.etag).map(|e| check.text("etag", e, false, limits::KEY));
                let request_id = request_id(&mut check, &r.request_id);
                check.done()?;
                let requested = Requested::of(
                    request_id,
                    &(ticket_id, &template_id, &values, &acting.actor),
                );
                let on = On::by(&by, ticket_id, tag, acting);
                let (comment, ticket) = self
                    .cx
                    .app
                    .apply_reply(on, &template_id, &values, requested)
                    .await?;
                Ok(pb::ApplyReplyResponse {
                    comment: Some(convert::comment(comment)),
                    ticket: Some(convert::ticket(ticket)),
                })
            }
            .await,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_template_names_its_bad_fields() {
        let mut check = Check::new();
        let given = pb::ReplyTemplate {
            id: "refund".into(),
            title: "Refund".into(),
            body_en: "{{amount}}".into(),
            variables: vec![pb::ReplyVariable {
                name: "amount".into(),
                r#type: 0,
                choices: vec!["a".into()],
                ..Default::default()
            }],
            changes: Some(pb::ReplyFieldChanges {
                add_tags: vec![" VIP ".into(), "vip".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let t = template(&mut check, &given, Utc::now());
        assert_eq!(t.effects.add_tags, ["vip"]);
        assert_eq!(t.visibility, Visibility::Public);
        let Err(crate::error::Error::Refused(crate::domain::error::Refusal::Invalid {
            violations,
            ..
        })) = check.done()
        else {
            panic!("accepted")
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "template.variables[0].type",
                "template.variables[0].choices"
            ]
        );
    }
}
