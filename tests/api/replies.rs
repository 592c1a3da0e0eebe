//! ReplyService: canned replies (统一话术) — templates scoped to a team or global, rendered for
//! a ticket in its customer's language, and applied as one change of the ticket.

use std::time::Duration;

use feedbackd::domain::language::Language;
use feedbackd::proto::feedback::v1 as pb;
use pb::reply_service_client::ReplyServiceClient;
use prost_types::FieldMask;
use tonic::Code;

use crate::both;
use crate::support::{Authed, Backend, Client, TestServer, bad_fields, missing, new_ticket};

both!(
    templates_are_kept_with_etags_and_audited,
    bad_templates_are_named,
    team_templates_are_their_teams_alone,
    replies_render_in_the_customers_language,
    bad_values_are_named,
    a_reply_and_its_changes_are_one_version,
    a_disallowed_status_change_writes_nothing,
    concurrent_retries_reply_once,
);

type Replies = ReplyServiceClient<Authed>;
type E = pb::EventType;
/// Values of free variables, by name.
type Values<'a> = &'a [(&'a str, &'a str)];

fn replies(channel: Authed) -> Replies {
    ReplyServiceClient::new(channel)
}

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

fn var(name: &str, kind: pb::ReplyVariableType, required: bool) -> pb::ReplyVariable {
    pb::ReplyVariable {
        name: name.into(),
        r#type: kind.into(),
        required,
        ..Default::default()
    }
}

/// The refund template of after-sales: built-ins and three typed free variables.
fn refund() -> pb::ReplyTemplate {
    pb::ReplyTemplate {
        id: "refund-delay".into(),
        title: "Refund delayed".into(),
        body_en: "Dear {{customer.name}}, your refund of {{ amount }} yuan for {{ticket.number}} \
                  will arrive by {{arrival}} via {{method}}; we close this by \
                  {{sla.resolution_due}}. {{agent.name}}, {{team.name}}"
            .into(),
        body_zh: "{{customer.name}}您好，工单{{ticket.number}}的{{amount}}元退款将于{{arrival}}\
                  通过{{method}}到账。{{agent.name}}（{{team.name}}）"
            .into(),
        variables: vec![
            var("amount", pb::ReplyVariableType::Number, true),
            var("arrival", pb::ReplyVariableType::Date, true),
            pb::ReplyVariable {
                choices: vec!["bank".into(), "alipay".into()],
                default_value: "bank".into(),
                ..var("method", pb::ReplyVariableType::Choice, false)
            },
        ],
        team: "after-sales".into(),
        ..Default::default()
    }
}

/// A global template that asks the customer for a receipt and waits for them.
fn receipt() -> pb::ReplyTemplate {
    pb::ReplyTemplate {
        id: "need-receipt".into(),
        title: "Ask for the receipt".into(),
        body_en: "Please send us the receipt for {{ticket.number}}.".into(),
        changes: Some(pb::ReplyFieldChanges {
            status: pb::TicketStatus::PendingCustomer.into(),
            priority: pb::Priority::Urgent.into(),
            add_tags: vec!["Receipt".into()],
            remove_tags: vec!["refund".into()],
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn create(r: &mut Replies, t: pb::ReplyTemplate) -> pb::ReplyTemplate {
    r.create_reply_template(pb::CreateReplyTemplateRequest { template: Some(t) })
        .await
        .expect("create template")
        .into_inner()
}

/// A server with staff and `templates`, and the admin's ticket and reply clients.
async fn desk(
    backend: Backend,
    templates: Vec<pb::ReplyTemplate>,
) -> (TestServer, Client, Replies) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let c = s.client.clone();
    let mut r = replies(s.channel());
    for t in templates {
        create(&mut r, t).await;
    }
    (s, c, r)
}

/// A ticket of after-sales (unless `team` says), given to `agent`, who acknowledged it: one
/// a public reply may answer.
async fn worked(
    c: &mut Client,
    request: pb::CreateTicketRequest,
    team: &str,
    agent: &str,
) -> pb::Ticket {
    let t = crate::support::create_with(c, request).await;
    c.assign_ticket(pb::AssignTicketRequest {
        ticket_id: t.id,
        team: team.into(),
        agent: agent.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.acknowledge_ticket(pb::AcknowledgeTicketRequest {
        ticket_id: t.id,
        agent: agent.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .ticket
    .unwrap()
}

fn render(template: &str, ticket: i64, values: &[(&str, &str)]) -> pb::RenderReplyRequest {
    pb::RenderReplyRequest {
        template_id: template.into(),
        ticket_id: ticket,
        values: values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

fn apply(template: &str, ticket: i64, request_id: &str) -> pb::ApplyReplyRequest {
    pb::ApplyReplyRequest {
        template_id: template.into(),
        ticket_id: ticket,
        request_id: request_id.into(),
        ..Default::default()
    }
}

async fn events_after(c: &mut Client, ticket: i64, cursor: i64) -> Vec<pb::TicketEvent> {
    c.list_ticket_events(pb::ListTicketEventsRequest {
        ticket_id: ticket,
        page_size: 1000,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .events
    .into_iter()
    .filter(|e| e.cursor > cursor)
    .collect()
}

async fn last_cursor(c: &mut Client, ticket: i64) -> i64 {
    events_after(c, ticket, 0)
        .await
        .last()
        .map_or(0, |e| e.cursor)
}

/// The version an etag `W/"N"` tags.
fn version(etag: &str) -> i64 {
    etag.trim_matches(|c| c == 'W' || c == '/' || c == '"')
        .parse()
        .expect("an etag W/\"N\"")
}

async fn get_ticket(c: &mut Client, id: i64) -> pb::Ticket {
    c.get_ticket(pb::GetTicketRequest {
        key: Some(pb::get_ticket_request::Key::TicketId(id)),
    })
    .await
    .unwrap()
    .into_inner()
}

async fn templates_are_kept_with_etags_and_audited(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let mut r = replies(s.channel());
    let created = create(&mut r, refund()).await;
    assert_eq!(created.etag, "W/\"1\"");
    assert!(
        created.created_by.starts_with("key:"),
        "{}",
        created.created_by
    );
    assert_eq!(
        pb::CommentVisibility::try_from(created.visibility),
        Ok(pb::CommentVisibility::Public)
    );
    create(&mut r, receipt()).await;
    let again = r
        .create_reply_template(pb::CreateReplyTemplateRequest {
            template: Some(refund()),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists, "{again:?}");
    let read = r
        .get_reply_template(pb::GetReplyTemplateRequest {
            id: "refund-delay".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);

    // The title alone changes; a stale etag changes nothing.
    let retitle = |etag: &str| pb::UpdateReplyTemplateRequest {
        template: Some(pb::ReplyTemplate {
            id: "refund-delay".into(),
            title: "Refund on its way".into(),
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: mask(&["title"]),
    };
    let stale = r
        .update_reply_template(retitle("W/\"7\""))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");
    let updated = r
        .update_reply_template(retitle(&created.etag))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.title, "Refund on its way");
    assert_eq!(updated.etag, "W/\"2\"");
    assert_eq!(updated.body_en, created.body_en, "outside the mask");
    assert_eq!(updated.variables, created.variables);
    // Variables are checked against the bodies as they will stand.
    let dropped = r
        .update_reply_template(pb::UpdateReplyTemplateRequest {
            template: Some(pb::ReplyTemplate {
                id: "refund-delay".into(),
                variables: vec![var("amount", pb::ReplyVariableType::Number, true)],
                ..Default::default()
            }),
            update_mask: mask(&["variables"]),
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&dropped),
        ["template.body_zh", "template.body_en"],
        "{dropped:?}"
    );

    // Lists: by team, global only, by title in any case, a page at a time.
    let list = |request: pb::ListReplyTemplatesRequest| {
        let mut r = r.clone();
        async move {
            let page = r.list_reply_templates(request).await.unwrap().into_inner();
            let ids: Vec<String> = page.templates.into_iter().map(|t| t.id).collect();
            (ids, page.next_page_token)
        }
    };
    let (all, _) = list(Default::default()).await;
    assert_eq!(all, ["need-receipt", "refund-delay"]);
    let (team, _) = list(pb::ListReplyTemplatesRequest {
        team: "after-sales".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(team, ["refund-delay"]);
    let (global, _) = list(pb::ListReplyTemplatesRequest {
        global_only: true,
        ..Default::default()
    })
    .await;
    assert_eq!(global, ["need-receipt"]);
    let (found, _) = list(pb::ListReplyTemplatesRequest {
        text: "REFUND ON".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(found, ["refund-delay"]);
    let (first, token) = list(pb::ListReplyTemplatesRequest {
        page_size: 1,
        ..Default::default()
    })
    .await;
    assert_eq!(first, ["need-receipt"]);
    let (second, last) = list(pb::ListReplyTemplatesRequest {
        page_size: 1,
        page_token: token,
        ..Default::default()
    })
    .await;
    assert_eq!(
        (second, last),
        (vec!["refund-delay".to_owned()], String::new())
    );
    let unknown = r
        .list_reply_templates(pb::ListReplyTemplatesRequest {
            team: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing(&unknown), ("team".into(), "nope".into()));

    // A team with templates stays until they go.
    let kept = s
        .routing()
        .await
        .delete_team(pb::DeleteTeamRequest {
            id: "after-sales".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(kept.code(), Code::FailedPrecondition, "{kept:?}");
    assert!(kept.message().contains("refund-delay"), "{kept:?}");

    let delete = |etag: &str| pb::DeleteReplyTemplateRequest {
        id: "refund-delay".into(),
        etag: etag.into(),
    };
    let stale = r
        .delete_reply_template(delete(&created.etag))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");
    r.delete_reply_template(delete(&updated.etag))
        .await
        .unwrap();
    let gone = r
        .get_reply_template(pb::GetReplyTemplateRequest {
            id: "refund-delay".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        missing(&gone),
        ("reply template".into(), "refund-delay".into())
    );

    // Every change is in the configuration audit, with the template before and after.
    let audit = pb::access_service_client::AccessServiceClient::new(s.channel())
        .list_audit_entries(pb::ListAuditEntriesRequest {
            resource: "reply template".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e.key.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("refund-delay", "DELETED"),
            ("refund-delay", "UPDATED"),
            ("need-receipt", "CREATED"),
            ("refund-delay", "CREATED"),
        ]
    );
    s.stop().await;
}

async fn bad_templates_are_named(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let mut r = replies(s.channel());
    let refused = |t: pb::ReplyTemplate| {
        let mut r = r.clone();
        async move {
            r.create_reply_template(pb::CreateReplyTemplateRequest { template: Some(t) })
                .await
                .unwrap_err()
        }
    };
    // Bodies: unclosed braces, an unknown built-in, an undeclared free variable.
    let bodies = refused(pb::ReplyTemplate {
        id: "bad".into(),
        title: "Bad".into(),
        body_en: "Dear {{customer.name, and {{refund}}".into(),
        body_zh: "{{customer.phone}}".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(
        bad_fields(&bodies),
        ["template.body_zh", "template.body_en"]
    );
    assert!(bodies.message().contains("customer.phone"), "{bodies:?}");
    assert!(bodies.message().contains("character 6"), "{bodies:?}");
    let undeclared = refused(pb::ReplyTemplate {
        id: "bad".into(),
        title: "Bad".into(),
        body_en: "Refund of {{refund}} \\{{not a variable}}".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(bad_fields(&undeclared), ["template.body_en"]);
    assert!(
        undeclared.message().contains("{{refund}}"),
        "{undeclared:?}"
    );
    // Variables: a bad name, a type missing, a choice of none, a default of the wrong type,
    // one declared twice or never used.
    let variables = refused(pb::ReplyTemplate {
        id: "bad".into(),
        title: "Bad".into(),
        body_en: "{{amount}} {{when}} {{how}}".into(),
        variables: vec![
            var("amount", pb::ReplyVariableType::Number, false),
            var("Amount", pb::ReplyVariableType::Number, false),
            pb::ReplyVariable {
                default_value: "tomorrow".into(),
                ..var("when", pb::ReplyVariableType::Date, false)
            },
            var("how", pb::ReplyVariableType::Choice, false),
            var("amount", pb::ReplyVariableType::Text, false),
        ],
        ..Default::default()
    })
    .await;
    assert_eq!(
        bad_fields(&variables),
        [
            "template.variables[1].name",
            "template.variables[2].default_value",
            "template.variables[3].choices",
            "template.variables[4].name",
        ]
    );
    let untyped = refused(pb::ReplyTemplate {
        id: "bad".into(),
        title: "Bad".into(),
        body_en: "{{amount}}".into(),
        variables: vec![var("amount", pb::ReplyVariableType::Unspecified, false)],
        changes: Some(pb::ReplyFieldChanges {
            status: pb::TicketStatus::Closed.into(),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    assert_eq!(bad_fields(&untyped), ["template.variables[0].type"]);
    let closing = refused(pb::ReplyTemplate {
        id: "bad".into(),
        title: "Bad".into(),
        body_en: "Bye".into(),
        changes: Some(pb::ReplyFieldChanges {
            status: pb::TicketStatus::Closed.into(),
            add_tags: vec!["vip".into()],
            remove_tags: vec!["VIP".into()],
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    assert_eq!(
        bad_fields(&closing),
        ["template.changes.status", "template.changes.remove_tags"]
    );
    let nobody = refused(pb::ReplyTemplate {
        id: "bad".into(),
        title: "Bad".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(bad_fields(&nobody), ["template.body_en"]);
    let no_team = refused(pb::ReplyTemplate {
        team: "nope".into(),
        ..receipt()
    })
    .await;
    assert_eq!(missing(&no_team), ("team".into(), "nope".into()));
    // Nothing of it was kept.
    let left = r
        .list_reply_templates(pb::ListReplyTemplatesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .templates;
    assert!(left.is_empty(), "{left:?}");
    s.stop().await;
}

async fn team_templates_are_their_teams_alone(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let mut c = s.client.clone();
    let mut admin = replies(s.channel());
    create(&mut admin, receipt()).await;
    let supervisor = s
        .key("as-sup", pb::Role::Supervisor, &["after-sales"], "", "")
        .await;
    let ann = s
        .key("ann-key", pb::Role::Agent, &["after-sales"], "ann", "")
        .await;
    let bob = s
        .key("bob-key", pb::Role::Agent, &["billing"], "bob", "")
        .await;
    let mut sup = replies(s.channel_as(&supervisor));
    let mut ann = replies(s.channel_as(&ann));
    let mut bob = replies(s.channel_as(&bob));

    // A supervisor manages their teams' templates, not the global ones nor other teams'.
    let created = create(&mut sup, refund()).await;
    assert_eq!(created.team, "after-sales");
    for team in ["", "billing"] {
        let denied = sup
            .create_reply_template(pb::CreateReplyTemplateRequest {
                template: Some(pb::ReplyTemplate {
                    id: "other".into(),
                    team: team.into(),
                    ..receipt()
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{team}: {denied:?}");
    }
    let global = sup
        .delete_reply_template(pb::DeleteReplyTemplateRequest {
            id: "need-receipt".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(global.code(), Code::PermissionDenied, "{global:?}");
    let moved = sup
        .update_reply_template(pb::UpdateReplyTemplateRequest {
            template: Some(pb::ReplyTemplate {
                id: "refund-delay".into(),
                team: "billing".into(),
                ..Default::default()
            }),
            update_mask: mask(&["team"]),
        })
        .await
        .unwrap_err();
    assert_eq!(moved.code(), Code::PermissionDenied, "{moved:?}");
    // Agents read and apply, and manage nothing.
    let agent_create = ann
        .create_reply_template(pb::CreateReplyTemplateRequest {
            template: Some(pb::ReplyTemplate {
                id: "mine".into(),
                ..refund()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(agent_create.code(), Code::PermissionDenied);

    // The team's agent sees it beside the global ones; another team's agent does not.
    let ids = |mut r: Replies| async move {
        r.list_reply_templates(pb::ListReplyTemplatesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .templates
            .into_iter()
            .map(|t| t.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(ann.clone()).await, ["need-receipt", "refund-delay"]);
    assert_eq!(ids(bob.clone()).await, ["need-receipt"]);
    let unseen = bob
        .get_reply_template(pb::GetReplyTemplateRequest {
            id: "refund-delay".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        missing(&unseen),
        ("reply template".into(), "refund-delay".into())
    );
    let other_team = bob
        .list_reply_templates(pb::ListReplyTemplatesRequest {
            team: "after-sales".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(other_team.code(), Code::NotFound, "{other_team:?}");

    // Nor can they render or apply it on a ticket of theirs.
    let billing = worked(&mut c, new_ticket("Double charge"), "billing", "bob").await;
    let values = [("amount", "20"), ("arrival", "2026-12-03")];
    let render_denied = bob
        .render_reply(render("refund-delay", billing.id, &values))
        .await
        .unwrap_err();
    assert_eq!(render_denied.code(), Code::NotFound, "{render_denied:?}");
    let apply_denied = bob
        .apply_reply(pb::ApplyReplyRequest {
            values: render("", 0, &values).values,
            ..apply("refund-delay", billing.id, "")
        })
        .await
        .unwrap_err();
    assert_eq!(
        missing(&apply_denied),
        ("reply template".into(), "refund-delay".into())
    );
    assert_eq!(get_ticket(&mut c, billing.id).await.etag, billing.etag);
    // The global one they apply; ann's team's template she applies on her ticket.
    bob.apply_reply(apply("need-receipt", billing.id, ""))
        .await
        .unwrap();
    let mine = worked(&mut c, new_ticket("Refund late"), "after-sales", "ann").await;
    let applied = ann
        .apply_reply(pb::ApplyReplyRequest {
            values: render("", 0, &values).values,
            ..apply("refund-delay", mine.id, "")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(applied.comment.unwrap().author, "ann");
    s.stop().await;
}

async fn replies_render_in_the_customers_language(backend: Backend) {
    let (s, mut c, mut r) = desk(backend, vec![refund()]).await;
    let en = worked(&mut c, new_ticket("Refund late"), "after-sales", "ann").await;
    let values = [("amount", "199.90"), ("arrival", "2026-12-03")];
    let rendered = r
        .render_reply(pb::RenderReplyRequest {
            actor: "ann".into(),
            ..render("refund-delay", en.id, &values)
        })
        .await
        .unwrap()
        .into_inner();
    let due = en
        .sla
        .as_ref()
        .unwrap()
        .clocks
        .iter()
        .find(|c| c.target == pb::SlaTarget::Resolution as i32)
        .and_then(|c| c.due_time)
        .expect("a resolution deadline");
    let due = chrono::DateTime::from_timestamp(due.seconds, 0).unwrap();
    assert_eq!(
        rendered.body,
        format!(
            "Dear Li Lei, your refund of 199.90 yuan for {} will arrive by 3 December 2026 via \
             bank; we close this by {}. ann, after-sales",
            en.number,
            Language::En.datetime(due, chrono_tz::UTC)
        )
    );
    assert_eq!(rendered.language, "en");
    // What applying would do: the first response, and the ticket in progress.
    let fields: Vec<&str> = rendered.changes.iter().map(|c| c.field.as_str()).collect();
    assert!(fields.contains(&"status"), "{fields:?}");
    assert!(fields.contains(&"first_response_time"), "{fields:?}");
    // A preview writes nothing.
    assert_eq!(get_ticket(&mut c, en.id).await.etag, en.etag);

    let mut chinese = new_ticket("退款迟迟未到");
    let customer = chinese.customer.as_mut().unwrap();
    customer.name = "韩梅梅".into();
    customer.language = "zh".into();
    let zh = worked(&mut c, chinese, "after-sales", "ann").await;
    let rendered = r
        .render_reply(pb::RenderReplyRequest {
            actor: "ann".into(),
            ..render(
                "refund-delay",
                zh.id,
                &[
                    ("method", "alipay"),
                    ("amount", "20"),
                    ("arrival", "2026-12-03"),
                ],
            )
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rendered.language, "zh");
    assert_eq!(
        rendered.body,
        format!(
            "韩梅梅您好，工单{}的20元退款将于2026年12月3日通过alipay到账。ann（after-sales）",
            zh.number
        )
    );
    // Posted as someone who is no agent, a template that names the agent has nobody to name.
    let nobody = r
        .render_reply(render("refund-delay", zh.id, &values))
        .await
        .unwrap_err();
    assert_eq!(nobody.code(), Code::FailedPrecondition, "{nobody:?}");
    assert!(nobody.message().contains("agent.name"), "{nobody:?}");
    s.stop().await;
}

async fn bad_values_are_named(backend: Backend) {
    let (s, mut c, mut r) = desk(backend, vec![refund()]).await;
    let t = worked(&mut c, new_ticket("Refund late"), "after-sales", "ann").await;
    let cases: &[(Values, &[&str])] = &[
        (&[("arrival", "2026-12-03")], &["values.amount"]),
        (
            &[("amount", "twenty"), ("arrival", "3/12/2026")],
            &["values.amount", "values.arrival"],
        ),
        (
            &[
                ("amount", "20"),
                ("arrival", "2026-12-03"),
                ("method", "cash"),
            ],
            &["values.method"],
        ),
        (
            &[
                ("amount", "20"),
                ("arrival", "2026-12-03"),
                ("colour", "red"),
            ],
            &["values.colour"],
        ),
    ];
    for &(values, fields) in cases {
        let rendered = r
            .render_reply(render("refund-delay", t.id, values))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&rendered), fields, "render {values:?}");
        let applied = r
            .apply_reply(pb::ApplyReplyRequest {
                values: render("", 0, values).values,
                actor: "ann".into(),
                ..apply("refund-delay", t.id, "")
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&applied), fields, "apply {values:?}");
    }
    assert_eq!(
        get_ticket(&mut c, t.id).await.etag,
        t.etag,
        "nothing written"
    );
    let unknown = r.render_reply(render("nope", t.id, &[])).await.unwrap_err();
    assert_eq!(missing(&unknown), ("reply template".into(), "nope".into()));
    let no_ticket = r
        .render_reply(render(
            "refund-delay",
            987_654,
            &[("amount", "1"), ("arrival", "2026-12-03")],
        ))
        .await
        .unwrap_err();
    assert_eq!(missing(&no_ticket), ("ticket".into(), "987654".into()));
    s.stop().await;
}

async fn a_reply_and_its_changes_are_one_version(backend: Backend) {
    let (s, mut c, mut r) = desk(backend, vec![receipt()]).await;
    let t = worked(&mut c, new_ticket("Refund late"), "after-sales", "ann").await;
    let from = last_cursor(&mut c, t.id).await;
    let mut stream = c
        .watch_tickets(pb::WatchTicketsRequest {
            after_cursor: Some(from),
            ticket_id: t.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    let request = pb::ApplyReplyRequest {
        actor: "ann".into(),
        etag: t.etag.clone(),
        ..apply("need-receipt", t.id, "receipt-1")
    };
    let applied = r.apply_reply(request.clone()).await.unwrap().into_inner();
    let comment = applied.comment.unwrap();
    let after = applied.ticket.unwrap();
    assert_eq!(
        comment.body,
        format!("Please send us the receipt for {}.", t.number)
    );
    assert_eq!(comment.author, "ann");
    assert_eq!(
        pb::CommentVisibility::try_from(comment.visibility),
        Ok(pb::CommentVisibility::Public)
    );
    assert_eq!(
        pb::TicketStatus::try_from(after.status),
        Ok(pb::TicketStatus::PendingCustomer)
    );
    assert_eq!(
        pb::Priority::try_from(after.priority),
        Ok(pb::Priority::Urgent)
    );
    assert_eq!(after.tags, ["receipt"]);
    assert!(after.first_response_time.is_some());
    assert_eq!(version(&after.etag), version(&t.etag) + 1, "one version");

    // The reply and the wait are recorded together, on one version of the ticket.
    let events = events_after(&mut c, t.id, from).await;
    let types: Vec<E> = events
        .iter()
        .map(|e| E::try_from(e.r#type).unwrap())
        .filter(|t| {
            matches!(
                t,
                E::CommentAdded | E::TicketUpdated | E::TicketPending | E::TicketResumed
            )
        })
        .collect();
    assert_eq!(types, [E::CommentAdded, E::TicketPending]);
    assert!(
        events
            .iter()
            .all(|e| e.ticket.as_ref().unwrap().etag == after.etag)
    );
    let added = &events[0];
    assert_eq!(added.reason, "reply template need-receipt");
    assert_eq!(added.comment.as_ref().unwrap().id, comment.id);
    let changed: Vec<&str> = added.changes.iter().map(|c| c.field.as_str()).collect();
    for field in ["priority", "tags", "first_response_time", "status"] {
        assert!(changed.contains(&field), "{field} in {changed:?}");
    }
    let pending = &events[1];
    assert_eq!(pending.changes[0].field, "status");
    assert_eq!(pending.changes[0].before, "IN_PROGRESS");
    assert_eq!(pending.changes[0].after, "PENDING_CUSTOMER");
    // The same on the stream, as they committed.
    let mut seen = Vec::new();
    while seen.len() < events.len() {
        let message = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("the events arrive")
            .unwrap()
            .unwrap();
        seen.extend(message.events.into_iter().map(|e| e.cursor));
    }
    assert_eq!(seen, events.iter().map(|e| e.cursor).collect::<Vec<_>>());

    // A retry answers with the first reply and changes nothing more.
    let retried = r.apply_reply(request.clone()).await.unwrap().into_inner();
    assert_eq!(retried.comment.unwrap(), comment);
    assert_eq!(retried.ticket.unwrap().etag, after.etag);
    let comments = c
        .list_comments(pb::ListCommentsRequest {
            ticket_id: t.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .comments;
    assert_eq!(comments.len(), 1);
    // The same key for another request is refused.
    let reused = r
        .apply_reply(pb::ApplyReplyRequest {
            etag: String::new(),
            actor: "bea".into(),
            ..request
        })
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::AlreadyExists, "{reused:?}");
    // A stale etag is refused.
    let stale = r
        .apply_reply(pb::ApplyReplyRequest {
            etag: t.etag.clone(),
            ..apply("need-receipt", t.id, "")
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");
    s.stop().await;
}

async fn a_disallowed_status_change_writes_nothing(backend: Backend) {
    let (s, mut c, mut r) = desk(backend, vec![receipt()]).await;
    let solve = pb::ReplyTemplate {
        id: "solved-note".into(),
        title: "Refund paid".into(),
        body_en: "Refund paid for {{ticket.number}}.".into(),
        visibility: pb::CommentVisibility::Internal.into(),
        changes: Some(pb::ReplyFieldChanges {
            status: pb::TicketStatus::Resolved.into(),
            add_tags: vec!["paid".into()],
            resolution_summary: "The refund was paid.".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    create(&mut r, solve).await;
    // Nobody has the new ticket: no public reply yet, and nothing to resolve.
    let new = crate::support::create(&mut c, "Refund late").await;
    let from = last_cursor(&mut c, new.id).await;
    for template in ["need-receipt", "solved-note"] {
        let refused = r
            .apply_reply(apply(template, new.id, &format!("r-{template}")))
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::FailedPrecondition,
            "{template}: {refused:?}"
        );
        let preview = r
            .render_reply(render(template, new.id, &[]))
            .await
            .unwrap_err();
        assert_eq!(
            preview.code(),
            Code::FailedPrecondition,
            "{template}: {preview:?}"
        );
    }
    let unchanged = get_ticket(&mut c, new.id).await;
    assert_eq!(unchanged.etag, new.etag);
    assert_eq!(unchanged.tags, new.tags);
    assert!(events_after(&mut c, new.id, from).await.is_empty());
    let comments = c
        .list_comments(pb::ListCommentsRequest {
            ticket_id: new.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .comments;
    assert!(comments.is_empty());

    // On a ticket in work, the note resolves it in the same version, survey and all.
    let t = worked(&mut c, new_ticket("Refund late"), "after-sales", "ann").await;
    let from = last_cursor(&mut c, t.id).await;
    let solved = r
        .apply_reply(pb::ApplyReplyRequest {
            actor: "ann".into(),
            ..apply("solved-note", t.id, "")
        })
        .await
        .unwrap()
        .into_inner();
    let after = solved.ticket.unwrap();
    assert_eq!(
        pb::TicketStatus::try_from(after.status),
        Ok(pb::TicketStatus::Resolved)
    );
    assert_eq!(after.resolution_summary, "The refund was paid.");
    assert!(after.first_response_time.is_none(), "a note answers nobody");
    let types: Vec<E> = events_after(&mut c, t.id, from)
        .await
        .iter()
        .filter(|e| e.ticket.as_ref().unwrap().etag == after.etag)
        .map(|e| E::try_from(e.r#type).unwrap())
        .filter(|t| matches!(t, E::CommentAdded | E::TicketResolved))
        .collect();
    assert_eq!(types, [E::CommentAdded, E::TicketResolved]);
    s.stop().await;
}

async fn concurrent_retries_reply_once(backend: Backend) {
    let (s, mut c, r) = desk(backend, vec![receipt()]).await;
    let t = worked(&mut c, new_ticket("Refund late"), "after-sales", "ann").await;
    let request = pb::ApplyReplyRequest {
        actor: "ann".into(),
        ..apply("need-receipt", t.id, "desk-7:receipt")
    };
    let answers = futures::future::join_all((0..8).map(|_| {
        let mut r = r.clone();
        let request = request.clone();
        async move { r.apply_reply(request).await.expect("retry").into_inner() }
    }))
    .await;
    let comments: std::collections::HashSet<i64> = answers
        .iter()
        .map(|a| a.comment.as_ref().unwrap().id)
        .collect();
    assert_eq!(comments.len(), 1);
    let after = get_ticket(&mut c, t.id).await;
    assert_eq!(version(&after.etag), version(&t.etag) + 1, "changed once");
    s.stop().await;
}
