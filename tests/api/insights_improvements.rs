//! InsightsService: improvements (整改) kept with etags, status moves, paging and the
//! configuration audit; and the top issues of a period, clustered from tickets in Chinese and
//! English, linked to their improvements, with the share of them done (整改率).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use feedbackd::domain::clock::ManualClock;
use feedbackd::proto::feedback::v1 as pb;
use pb::insights_service_client::InsightsServiceClient;
use prost_types::{FieldMask, Timestamp};
use tonic::Code;

use crate::both;
use crate::support::{
    Authed, Backend, Client, TestDb, TestServer, bad_fields, create_with, missing, new_ticket,
};

both!(
    improvements_are_kept_with_etags_and_audited,
    bad_improvements_are_named,
    analysts_read_improvements_and_do_not_change_them,
    improvements_list_newest_first_a_page_at_a_time,
    top_issues_cluster_tickets_and_link_improvements,
);

type Insights = InsightsServiceClient<Authed>;
type S = pb::ImprovementStatus;

fn insights(channel: Authed) -> Insights {
    InsightsServiceClient::new(channel)
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("a time")
}

fn ts(s: &str) -> Option<Timestamp> {
    let t = at(s);
    Some(Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

fn improvement(title: &str, key: &str, team: &str) -> pb::Improvement {
    pb::Improvement {
        title: title.into(),
        description: "Retry the bank call once before failing.".into(),
        issue_key: key.into(),
        owner_team: team.into(),
        due_time: ts("2026-12-31T00:00:00Z"),
        ..Default::default()
    }
}

async fn create(
    i: &mut Insights,
    improvement: pb::Improvement,
    request_id: &str,
) -> pb::Improvement {
    i.create_improvement(pb::CreateImprovementRequest {
        improvement: Some(improvement),
        request_id: request_id.into(),
    })
    .await
    .expect("create improvement")
    .into_inner()
}

/// Moves improvement `id` (at `etag`) to `status`.
async fn move_to(
    i: &mut Insights,
    id: &str,
    etag: &str,
    status: S,
) -> Result<pb::Improvement, tonic::Status> {
    i.update_improvement(pb::UpdateImprovementRequest {
        improvement: Some(pb::Improvement {
            id: id.into(),
            etag: etag.into(),
            status: status.into(),
            ..Default::default()
        }),
        update_mask: mask(&["status"]),
    })
    .await
    .map(|r| r.into_inner())
}

fn status(i: &pb::Improvement) -> S {
    S::try_from(i.status).expect("a known status")
}

async fn improvements_are_kept_with_etags_and_audited(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let mut i = insights(s.channel());
    let first = create(
        &mut i,
        improvement("Fix the payment retry", "支付/App/支付失败", "tech"),
        "imp-1",
    )
    .await;
    assert!(first.id.starts_with("IMP-"), "{}", first.id);
    assert_eq!(status(&first), S::Planned, "created PLANNED unless given");
    assert_eq!(first.etag, "W/\"1\"");
    assert!(first.created_by.starts_with("key:"), "{}", first.created_by);
    assert_eq!((first.done_time, first.effect), (None, None));

    // A retry answers with the first; the same request_id for another request is refused.
    let again = create(
        &mut i,
        improvement("Fix the payment retry", "支付/App/支付失败", "tech"),
        "imp-1",
    )
    .await;
    assert_eq!(again, first);
    let reused = i
        .create_improvement(pb::CreateImprovementRequest {
            improvement: Some(improvement("Something else", "支付/App/", "tech")),
            request_id: "imp-1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::AlreadyExists, "{reused:?}");

    let got = i
        .get_improvement(pb::GetImprovementRequest {
            id: first.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, first);

    // Fields change by the mask; a stale etag is ABORTED.
    let renamed = i
        .update_improvement(pb::UpdateImprovementRequest {
            improvement: Some(pb::Improvement {
                id: first.id.clone(),
                etag: first.etag.clone(),
                title: "Retry payments once".into(),
                description: "ignored: not in the mask".into(),
                ..Default::default()
            }),
            update_mask: mask(&["title"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renamed.title, "Retry payments once");
    assert_eq!(renamed.description, first.description);
    assert_eq!(renamed.etag, "W/\"2\"");
    let stale = move_to(&mut i, &first.id, &first.etag, S::InProgress)
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");

    // PLANNED → IN_PROGRESS → DONE; not straight to DONE, and not back from DONE.
    let skipped = move_to(&mut i, &first.id, "", S::Done).await.unwrap_err();
    assert_eq!(skipped.code(), Code::FailedPrecondition, "{skipped:?}");
    let going = move_to(&mut i, &first.id, &renamed.etag, S::InProgress)
        .await
        .unwrap();
    assert_eq!((status(&going), going.done_time), (S::InProgress, None));
    let done = move_to(&mut i, &first.id, &going.etag, S::Done)
        .await
        .unwrap();
    assert_eq!(status(&done), S::Done);
    let done_time = done.done_time.expect("DONE records when");
    assert!(done_time.seconds >= going.update_time.unwrap().seconds);
    let effect = done.effect.expect("a DONE improvement has its effect");
    assert_eq!((effect.tickets_before, effect.tickets_after), (0, 0));
    let back = move_to(&mut i, &first.id, "", S::InProgress)
        .await
        .unwrap_err();
    assert_eq!(back.code(), Code::FailedPrecondition, "{back:?}");
    let dropped = move_to(&mut i, &first.id, "", S::Dropped)
        .await
        .unwrap_err();
    assert_eq!(dropped.code(), Code::FailedPrecondition, "DONE is final");

    let gone = i
        .get_improvement(pb::GetImprovementRequest {
            id: "IMP-999".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing(&gone), ("improvement".into(), "IMP-999".into()));

    // A team with an open improvement is kept.
    let mut routing = s.routing().await;
    routing
        .create_team(pb::CreateTeamRequest {
            team: Some(pb::Team {
                id: "quality".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let kept = create(
        &mut i,
        improvement("Audit refunds", "退款/App/", "quality"),
        "",
    )
    .await;
    let refused = routing
        .delete_team(pb::DeleteTeamRequest {
            id: "quality".into(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains(&kept.id), "{refused:?}");
    move_to(&mut i, &kept.id, "", S::Dropped).await.unwrap();
    routing
        .delete_team(pb::DeleteTeamRequest {
            id: "quality".into(),
            etag: String::new(),
        })
        .await
        .expect("a dropped improvement keeps no team");

    // Every change is in the configuration audit; replays and refusals are not.
    let audit = pb::access_service_client::AccessServiceClient::new(s.channel())
        .list_audit_entries(pb::ListAuditEntriesRequest {
            resource: "improvement".into(),
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
    let (a, b) = (first.id.as_str(), kept.id.as_str());
    assert_eq!(
        actions,
        [
            (b, "UPDATED"),
            (b, "CREATED"),
            (a, "UPDATED"),
            (a, "UPDATED"),
            (a, "UPDATED"),
            (a, "CREATED"),
        ]
    );
    s.stop().await;
}

async fn bad_improvements_are_named(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let mut i = insights(s.channel());
    let refused = |improvement: Option<pb::Improvement>, request_id: String| {
        let mut i = i.clone();
        async move {
            i.create_improvement(pb::CreateImprovementRequest {
                improvement,
                request_id,
            })
            .await
            .unwrap_err()
        }
    };
    assert_eq!(
        bad_fields(&refused(None, String::new()).await),
        ["improvement"]
    );
    let bad = pb::Improvement {
        title: " ".into(),
        description: "x".repeat(4_001),
        issue_key: "payment failed".into(),
        owner_team: "no such/team".into(),
        status: 42,
        ..Default::default()
    };
    assert_eq!(
        bad_fields(&refused(Some(bad), "r".repeat(129)).await),
        [
            "improvement.due_time",
            "improvement.title",
            "improvement.description",
            "improvement.issue_key",
            "improvement.owner_team",
            "improvement.status",
            "request_id",
        ]
    );
    let long_key = improvement("t", &format!("a/b/{}", "x".repeat(300)), "tech");
    assert_eq!(
        bad_fields(&refused(Some(long_key), String::new()).await),
        ["improvement.issue_key"]
    );
    let dropped = pb::Improvement {
        status: S::Dropped.into(),
        ..improvement("t", "a/b/", "tech")
    };
    assert_eq!(
        bad_fields(&refused(Some(dropped), String::new()).await),
        ["improvement.status"],
        "a new improvement is not DROPPED"
    );
    let nobody = refused(Some(improvement("t", "a/b/", "nobody")), String::new()).await;
    assert_eq!(missing(&nobody), ("team".into(), "nobody".into()));

    let made = create(&mut i, improvement("t", "a/b/", "tech"), "").await;
    let update = |improvement: pb::Improvement, paths: &[&str]| {
        let mut i = i.clone();
        let update_mask = if paths.is_empty() { None } else { mask(paths) };
        async move {
            i.update_improvement(pb::UpdateImprovementRequest {
                improvement: Some(improvement),
                update_mask,
            })
            .await
            .unwrap_err()
        }
    };
    let id = || pb::Improvement {
        id: made.id.clone(),
        ..Default::default()
    };
    assert_eq!(bad_fields(&update(id(), &[]).await), ["update_mask"]);
    assert_eq!(
        bad_fields(&update(id(), &["created_by"]).await),
        ["update_mask.paths[created_by]"]
    );
    assert_eq!(
        bad_fields(&update(id(), &["title", "status", "due_time"]).await),
        [
            "improvement.due_time",
            "improvement.title",
            "improvement.status"
        ],
        "each named field is checked, the others not"
    );
    let not_an_id = pb::Improvement {
        id: "7".into(),
        title: "ok".into(),
        ..Default::default()
    };
    assert_eq!(
        bad_fields(&update(not_an_id, &["title"]).await),
        ["improvement.id"]
    );
    let moved_to_nobody = pb::Improvement {
        owner_team: "nobody".into(),
        ..id()
    };
    assert_eq!(
        missing(&update(moved_to_nobody, &["owner_team"]).await),
        ("team".into(), "nobody".into())
    );
    let get = i
        .get_improvement(pb::GetImprovementRequest { id: "7".into() })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&get), ["id"]);

    let list = |r: pb::ListImprovementsRequest| {
        let mut i = i.clone();
        async move { i.list_improvements(r).await.unwrap_err() }
    };
    let listed = list(pb::ListImprovementsRequest {
        statuses: vec![99],
        issue_key: "no key".into(),
        page_size: -1,
        page_token: "junk".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(
        bad_fields(&listed),
        ["statuses[0]", "issue_key", "page_size", "page_token"]
    );
    let too_many = list(pb::ListImprovementsRequest {
        statuses: vec![1, 2, 3, 4, 1],
        ..Default::default()
    })
    .await;
    assert_eq!(bad_fields(&too_many), ["statuses"]);
    let nobody = list(pb::ListImprovementsRequest {
        owner_team: "nobody".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(missing(&nobody), ("team".into(), "nobody".into()));

    let top = |r: pb::GetTopIssuesRequest| {
        let mut i = i.clone();
        async move { i.get_top_issues(r).await.unwrap_err() }
    };
    let backwards = top(pb::GetTopIssuesRequest {
        start_time: ts("2026-11-02T00:00:00Z"),
        end_time: ts("2026-11-01T00:00:00Z"),
        time_zone: "Mars/Olympus".into(),
        limit: -1,
        filter: Some(pb::DimensionValue {
            dimension: 0,
            value: "x".into(),
        }),
    })
    .await;
    assert_eq!(
        bad_fields(&backwards),
        ["time_zone", "end_time", "limit", "filter.dimension"]
    );
    let half = top(pb::GetTopIssuesRequest {
        start_time: ts("2026-11-01T00:00:00Z"),
        ..Default::default()
    })
    .await;
    assert_eq!(bad_fields(&half), ["end_time"]);
    let long = top(pb::GetTopIssuesRequest {
        start_time: ts("2025-01-01T00:00:00Z"),
        end_time: ts("2026-11-01T00:00:00Z"),
        filter: Some(pb::DimensionValue {
            dimension: 99,
            value: "x".repeat(129),
        }),
        ..Default::default()
    })
    .await;
    assert_eq!(
        bad_fields(&long),
        ["end_time", "filter.dimension", "filter.value"]
    );
    s.stop().await;
}

async fn analysts_read_improvements_and_do_not_change_them(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let analyst = s.key("ana", pb::Role::Analyst, &[], "", "").await;
    let supervisor = s.key("sue", pb::Role::Supervisor, &["tech"], "", "").await;
    let agent = s.key("ann", pb::Role::Agent, &["tech"], "ann", "").await;
    let mut by_supervisor = insights(s.channel_as(&supervisor));
    let made = create(
        &mut by_supervisor,
        improvement("Fix the retry", "支付/App/支付失败", "tech"),
        "",
    )
    .await;

    let mut by_analyst = insights(s.channel_as(&analyst));
    let read = by_analyst
        .get_improvement(pb::GetImprovementRequest {
            id: made.id.clone(),
        })
        .await
        .expect("an analyst reads improvements")
        .into_inner();
    assert_eq!(read, made);
    let listed = by_analyst
        .list_improvements(pb::ListImprovementsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.improvements, std::slice::from_ref(&made));
    by_analyst
        .get_top_issues(pb::GetTopIssuesRequest::default())
        .await
        .expect("an analyst reads top issues");
    let denied = by_analyst
        .create_improvement(pb::CreateImprovementRequest {
            improvement: Some(improvement("t", "a/b/", "tech")),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let denied = move_to(&mut by_analyst, &made.id, "", S::InProgress)
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");

    by_supervisor
        .get_top_issues(pb::GetTopIssuesRequest {
            filter: Some(pb::DimensionValue {
                dimension: pb::Dimension::Team.into(),
                value: "tech".into(),
            }),
            ..Default::default()
        })
        .await
        .expect("a supervisor reads top issues");

    let denied = insights(s.channel_as(&agent))
        .get_improvement(pb::GetImprovementRequest { id: made.id })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    s.stop().await;
}

async fn improvements_list_newest_first_a_page_at_a_time(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.seed_staff().await;
    let mut i = insights(s.channel());
    let mut made = Vec::new();
    for (n, (key, team, status)) in [
        ("支付/App/支付失败", "tech", S::Planned),
        ("billing/mall/", "billing", S::InProgress),
        ("支付/App/支付失败", "tech", S::Done),
        ("billing/mall/refund", "billing", S::Planned),
        ("物流/App/", "ops", S::Done),
    ]
    .into_iter()
    .enumerate()
    {
        let new = pb::Improvement {
            status: status.into(),
            ..improvement(&format!("step {n}"), key, team)
        };
        made.push(create(&mut i, new, "").await);
    }
    assert!(made[2].done_time.is_some(), "created DONE: done now");
    let newest_first: Vec<String> = made.iter().rev().map(|m| m.id.clone()).collect();

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = i
            .list_improvements(pb::ListImprovementsRequest {
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.improvements.len() <= 2);
        assert!(
            page.improvements.iter().all(|m| m.effect.is_none()),
            "lists leave effects to GetImprovement"
        );
        seen.extend(page.improvements.into_iter().map(|m| m.id));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!((seen, pages), (newest_first, 3));

    let ids = |r: pb::ListImprovementsRequest| {
        let mut i = i.clone();
        async move {
            i.list_improvements(r)
                .await
                .unwrap()
                .into_inner()
                .improvements
                .into_iter()
                .map(|m| m.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        ids(pb::ListImprovementsRequest {
            statuses: vec![S::Done.into()],
            ..Default::default()
        })
        .await,
        [made[4].id.clone(), made[2].id.clone()]
    );
    assert_eq!(
        ids(pb::ListImprovementsRequest {
            owner_team: "billing".into(),
            ..Default::default()
        })
        .await,
        [made[3].id.clone(), made[1].id.clone()]
    );
    assert_eq!(
        ids(pb::ListImprovementsRequest {
            issue_key: "支付/App/支付失败".into(),
            statuses: vec![S::Planned.into(), S::InProgress.into()],
            ..Default::default()
        })
        .await,
        [made[0].id.clone()]
    );

    // A token is good for its own query only.
    let first = i
        .list_improvements(pb::ListImprovementsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let other = i
        .list_improvements(pb::ListImprovementsRequest {
            page_size: 1,
            owner_team: "tech".into(),
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&other), ["page_token"]);
    s.stop().await;
}

/// A complaint of `customer` about `product` in `category`, in the words of `text`.
fn complaint(text: &str, category: &str, product: &str, customer: &str) -> pb::CreateTicketRequest {
    let mut request = new_ticket(text);
    request.description = text.into();
    request.category = category.into();
    request.product = product.into();
    request.tags.clear();
    if let Some(c) = request.customer.as_mut() {
        c.external_id = customer.into();
        c.phone.clear();
        c.email = format!("{customer}@example.com");
    }
    request
}

/// The top issues of November 2026 (or as `r` asks), once they count `tickets` tickets (the
/// figures follow the tickets within a second).
async fn november(i: &mut Insights, r: pb::GetTopIssuesRequest, tickets: i64) -> pb::TopIssues {
    let r = pb::GetTopIssuesRequest {
        start_time: ts("2026-11-01T00:00:00Z"),
        end_time: ts("2026-12-01T00:00:00Z"),
        ..r
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let top = i.get_top_issues(r.clone()).await.unwrap().into_inner();
        if top.tickets >= tickets || tokio::time::Instant::now() > deadline {
            return top;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn top_issues_cluster_tickets_and_link_improvements(backend: Backend) {
    let clock = ManualClock::new(at("2026-10-15T02:00:00Z"));
    let s = TestServer::start_on(
        Arc::new(TestDb::new(backend).await),
        Arc::new(clock.clone()),
        |_| {},
    )
    .await;
    s.seed_staff().await;
    let mut c: Client = s.client().await;
    let mut i = insights(s.channel());

    // October: one 支付失败, the previous period's.
    create_with(&mut c, complaint("今天又支付失败", "支付", "App", "cust-0")).await;
    // November: 支付失败 three times (the second a repeat of the first customer's), and one
    // other 支付 problem; "payment failed" three times and a refund in English.
    clock.set(at("2026-11-10T02:00:00Z"));
    let mut pay = Vec::new();
    for (text, customer) in [
        ("支付失败", "cust-1"),
        ("订单支付失败了", "cust-1"),
        ("付款时一直支付失败", "cust-2"),
    ] {
        pay.push(create_with(&mut c, complaint(text, "支付", "App", customer)).await);
    }
    create_with(&mut c, complaint("发票开错", "支付", "App", "cust-3")).await;
    for (text, customer) in [
        ("Payment failed", "cust-4"),
        ("My payment failed twice", "cust-5"),
        ("Payment failed at checkout", "cust-6"),
        ("Refund is slow", "cust-7"),
    ] {
        create_with(&mut c, complaint(text, "billing", "mall", customer)).await;
    }

    let top = november(&mut i, pb::GetTopIssuesRequest::default(), 8).await;
    assert_eq!(top.tickets, 8);
    assert_eq!(top.start_time, ts("2026-11-01T00:00:00Z"));
    let counts: Vec<(&str, i64, i64)> = top
        .issues
        .iter()
        .map(|t| (t.key.as_str(), t.count, t.previous_count))
        .collect();
    assert_eq!(
        counts,
        [
            ("billing/mall/payment failed", 3, 0),
            ("支付/App/支付失败", 3, 1),
            ("billing/mall/", 1, 0),
            ("支付/App/", 1, 0),
        ],
        "most tickets first; as many, by key"
    );
    let failed = &top.issues[1];
    assert_eq!(
        (
            failed.category.as_str(),
            failed.product.as_str(),
            failed.phrase.as_str()
        ),
        ("支付", "App", "支付失败")
    );
    assert!((failed.share - 3.0 / 8.0).abs() < 1e-9);
    assert_eq!(failed.change, Some(2.0));
    assert_eq!(top.issues[0].change, None, "nothing before to change from");
    let repeat = failed.repeat.as_ref().unwrap();
    assert_eq!((repeat.part, repeat.whole), (1, 3));
    assert_eq!(failed.average_resolution_time, None, "none resolved");
    assert_eq!(
        failed.example_numbers,
        pay.iter()
            .rev()
            .map(|t| t.number.clone())
            .collect::<Vec<_>>(),
        "newest first"
    );
    let rate = top.improvement_rate.as_ref().unwrap();
    assert_eq!((rate.part, rate.whole, rate.value), (0, 4, Some(0.0)));

    // Improvements: one planned for 支付失败, one for all of billing/mall, done an hour later.
    let planned = create(
        &mut i,
        improvement("Retry the bank", "支付/App/支付失败", "tech"),
        "",
    )
    .await;
    let whole = create(
        &mut i,
        pb::Improvement {
            status: S::InProgress.into(),
            ..improvement("Rework checkout", "billing/mall/", "billing")
        },
        "",
    )
    .await;
    clock.set(at("2026-11-10T03:00:00Z"));
    let done = move_to(&mut i, &whole.id, "", S::Done).await.unwrap();
    // After it was done: one more payment failure; then a day goes by.
    clock.set(at("2026-11-10T04:00:00Z"));
    create_with(
        &mut c,
        complaint("payment failed again", "billing", "mall", "cust-8"),
    )
    .await;
    clock.set(at("2026-11-11T03:00:00Z"));

    let top = november(&mut i, pb::GetTopIssuesRequest::default(), 9).await;
    let linked: Vec<(&str, i64, Option<&str>)> = top
        .issues
        .iter()
        .map(|t| {
            (
                t.key.as_str(),
                t.count,
                t.improvement.as_ref().map(|m| m.id.as_str()),
            )
        })
        .collect();
    assert_eq!(
        linked,
        [
            ("billing/mall/payment failed", 4, Some(done.id.as_str())),
            ("支付/App/支付失败", 3, Some(planned.id.as_str())),
            ("billing/mall/", 1, Some(done.id.as_str())),
            ("支付/App/", 1, None),
        ],
        "an issue's own improvement, or its category and product's"
    );
    let rate = top.improvement_rate.as_ref().unwrap();
    assert_eq!((rate.part, rate.whole, rate.value), (2, 4, Some(0.5)));
    let effect = top.issues[0]
        .improvement
        .as_ref()
        .and_then(|m| m.effect)
        .expect("a DONE improvement's effect");
    assert_eq!(
        effect.window,
        Some(prost_types::Duration {
            seconds: 86_400,
            nanos: 0
        }),
        "a day since it was done"
    );
    assert_eq!((effect.tickets_before, effect.tickets_after), (4, 1));
    let got = i
        .get_improvement(pb::GetImprovementRequest {
            id: done.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.effect, Some(effect));

    // Filtered and limited.
    let app = november(
        &mut i,
        pb::GetTopIssuesRequest {
            filter: Some(pb::DimensionValue {
                dimension: pb::Dimension::Product.into(),
                value: "App".into(),
            }),
            limit: 1,
            ..Default::default()
        },
        4,
    )
    .await;
    assert_eq!(app.tickets, 4);
    let keys: Vec<&str> = app.issues.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(keys, ["支付/App/支付失败"]);
    s.stop().await;
}
