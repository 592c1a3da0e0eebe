//! Insights: figures kept from the event log, checked against hand-computed histories; the
//! dashboard and its stream; the export; bad input.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use feedbackd::domain::clock::ManualClock;
use feedbackd::proto::feedback::v1 as pb;
use pb::insights_service_client::InsightsServiceClient;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::both;
use crate::support::{
    Authed, Backend, Client, TestDb, TestServer, bad_fields, create_with, new_ticket,
};

type Insights = InsightsServiceClient<Authed>;

both!(
    figures_follow_a_hand_computed_day,
    two_dimensions_agree_with_one,
    sums_ticket_by_ticket_stop_at_the_configured_most,
    a_supervisor_reads_the_figures_of_their_teams,
    the_dashboard_shows_the_floor_now,
    the_export_streams_every_ticket_and_resumes,
    metric_queries_are_checked,
    the_monthly_report_is_one_page,
    two_instances_and_a_restart_count_each_event_once,
);

fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, minute, 0)
        .unwrap()
}

fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn secs(d: &Option<prost_types::Duration>) -> i64 {
    d.as_ref().map_or(-1, |d| d.seconds)
}

/// A server at `clock` with team `mall` (agents ann, online, and sue, its supervisor) that
/// takes tickets about product "mall", and team `parcel` (agent bob) for "parcel".
async fn floor(backend: Backend, clock: &ManualClock) -> (TestServer, Client, Insights) {
    floor_with(backend, clock, |_| {}).await
}

/// [`floor`], on a server configured by `configure`.
async fn floor_with(
    backend: Backend,
    clock: &ManualClock,
    configure: impl FnOnce(&mut feedbackd::config::Config),
) -> (TestServer, Client, Insights) {
    let db = Arc::new(TestDb::new(backend).await);
    let s = TestServer::start_on(db, Arc::new(clock.clone()), configure).await;
    let mut routing = s.routing().await;
    crate::support::product_team(
        &mut routing,
        "mall",
        "",
        &[("ann", true), ("sue", false)],
        "sue",
    )
    .await;
    crate::support::product_team(&mut routing, "parcel", "", &[("bob", true)], "").await;
    let c = s.client().await;
    let insights = InsightsServiceClient::new(s.channel());
    (s, c, insights)
}

async fn ticket(c: &mut Client, title: &str, product: &str, kind: pb::TicketKind) -> pb::Ticket {
    create_with(
        c,
        pb::CreateTicketRequest {
            product: product.into(),
            kind: kind.into(),
            ..new_ticket(title)
        },
    )
    .await
}

async fn acknowledge(c: &mut Client, id: i64, agent: &str) {
    c.acknowledge_ticket(pb::AcknowledgeTicketRequest {
        ticket_id: id,
        agent: agent.into(),
        ..Default::default()
    })
    .await
    .expect("acknowledge");
}

async fn reply(c: &mut Client, id: i64, agent: &str) {
    c.add_comment(pb::AddCommentRequest {
        ticket_id: id,
        visibility: pb::CommentVisibility::Public.into(),
        body: "We are on it.".into(),
        author: agent.into(),
        author_role: pb::AuthorRole::Agent.into(),
        request_id: String::new(),
    })
    .await
    .expect("reply");
}

async fn resolve(c: &mut Client, id: i64) {
    c.resolve_ticket(pb::ResolveTicketRequest {
        ticket_id: id,
        resolution_summary: "Refunded".into(),
        ..Default::default()
    })
    .await
    .expect("resolve");
}

/// Whether a reported percentile is `exact` or up to 1 % above it.
fn within_a_percent(reported: i64, exact: i64) -> bool {
    reported >= exact && reported as f64 <= exact as f64 * 1.01
}

async fn query(i: &mut Insights, request: pb::QueryMetricsRequest) -> pb::QueryMetricsResponse {
    i.query_metrics(request).await.expect("query").into_inner()
}

/// Monday 23 November: three tickets, their timings by hand.
///
/// - A (mall, complaint) 10:00, assigned at once to ann, acknowledged 10:30, replied 11:00,
///   resolved 12:00.
/// - B (mall, inquiry) 10:15, assigned at once, never touched: open at the day's end.
/// - C (parcel, complaint) Friday 27th 17:00, acknowledged Monday 30th 10:00: 65 hours of
///   calendar time, 2 working hours (Friday 17–18, Monday 9–10, office hours in UTC).
async fn hand_computed_history(c: &mut Client, clock: &ManualClock) -> [pb::Ticket; 3] {
    clock.set(at(23, 10, 0));
    let a = ticket(c, "Refund missing", "mall", pb::TicketKind::Complaint).await;
    clock.set(at(23, 10, 15));
    let b = ticket(c, "Where is the invoice", "mall", pb::TicketKind::Inquiry).await;
    clock.set(at(23, 10, 30));
    acknowledge(c, a.id, "ann").await;
    clock.set(at(23, 11, 0));
    reply(c, a.id, "ann").await;
    clock.set(at(23, 12, 0));
    resolve(c, a.id).await;
    clock.set(at(27, 17, 0));
    let parcel = ticket(c, "Parcel lost", "parcel", pb::TicketKind::Complaint).await;
    clock.set(at(30, 10, 0));
    acknowledge(c, parcel.id, "bob").await;
    [a, b, parcel]
}

async fn figures_follow_a_hand_computed_day(backend: Backend) {
    let clock = ManualClock::new(at(23, 9, 0));
    let (s, mut c, mut insights) = floor(backend, &clock).await;
    hand_computed_history(&mut c, &clock).await;
    clock.set(at(30, 12, 0));

    let day = query(
        &mut insights,
        pb::QueryMetricsRequest {
            start_time: ts(at(23, 0, 0)),
            end_time: ts(at(24, 0, 0)),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(day.rows.len(), 1, "the total, one bucket");
    let f = day.rows[0].figures.clone().unwrap();
    assert_eq!(f.intake, 2);
    let dispatch = f.dispatch_time.unwrap();
    assert_eq!((dispatch.count, secs(&dispatch.p50)), (2, 0));
    let ack = f.acknowledgement_time.unwrap();
    // Averages are exact; percentiles are the top of the 1 %-wide bucket they fall in.
    assert_eq!((ack.count, secs(&ack.average)), (1, 1800));
    assert!(within_a_percent(secs(&ack.p50), 1800));
    assert!(
        within_a_percent(secs(&ack.business_p50), 1800),
        "inside office hours"
    );
    let first = f.first_response_time.unwrap();
    assert_eq!(first.count, 1);
    assert!(within_a_percent(secs(&first.p90), 3600));
    let resolution = f.first_resolution_time.unwrap();
    assert_eq!(resolution.count, 1);
    assert!(within_a_percent(secs(&resolution.p50), 7200));
    let completion = f.completion.unwrap();
    assert_eq!(
        (completion.part, completion.whole, completion.value),
        (1, 2, Some(0.5))
    );
    let one_touch = f.one_touch_resolution.unwrap();
    assert_eq!(
        (one_touch.part, one_touch.whole),
        (1, 1),
        "one reply, never reopened"
    );
    let escalation = f.escalation.unwrap();
    assert_eq!(
        (escalation.part, escalation.whole),
        (0, 1),
        "one complaint that day"
    );
    assert_eq!(
        f.backlog,
        [pb::StatusCount {
            status: pb::TicketStatus::Assigned.into(),
            count: 1
        }],
        "B waits, assigned, at the end of the day"
    );

    // The parcel ticket's acknowledgement, on the day it ended: 65 h, of which 2 working.
    let monday = query(
        &mut insights,
        pb::QueryMetricsRequest {
            start_time: ts(at(30, 0, 0)),
            end_time: ts(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()),
            group_by: vec![pb::Dimension::Team.into()],
            ..Default::default()
        },
    )
    .await;
    let parcel = monday
        .rows
        .iter()
        .find(|r| r.group[0].value == "parcel")
        .expect("parcel's row");
    let ack = parcel
        .figures
        .clone()
        .unwrap()
        .acknowledgement_time
        .unwrap();
    assert!(within_a_percent(secs(&ack.p50), 65 * 3600));
    assert!(within_a_percent(secs(&ack.business_p50), 2 * 3600));
    assert_eq!(secs(&ack.business_average), 2 * 3600);

    // By day in Shanghai: Monday 10:00 UTC is 18:00 there, still Monday the 23rd.
    let week = query(
        &mut insights,
        pb::QueryMetricsRequest {
            start_time: ts(at(22, 16, 0)),
            end_time: ts(at(29, 16, 0)),
            bucket: pb::TimeBucket::Day.into(),
            time_zone: "Asia/Shanghai".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(week.rows.len(), 7, "the total has a row every day");
    let intake: Vec<i64> = week
        .rows
        .iter()
        .map(|r| r.figures.as_ref().unwrap().intake)
        .collect();
    assert_eq!(
        intake,
        [2, 0, 0, 0, 0, 1, 0],
        "Friday 17:00 UTC is Saturday 01:00 there"
    );
    s.stop().await;
}

async fn two_dimensions_agree_with_one(backend: Backend) {
    let clock = ManualClock::new(at(23, 9, 0));
    let (s, mut c, mut insights) = floor(backend, &clock).await;
    hand_computed_history(&mut c, &clock).await;
    clock.set(at(30, 12, 0));
    let period = |group_by: Vec<pb::Dimension>| pb::QueryMetricsRequest {
        start_time: ts(at(23, 0, 0)),
        end_time: ts(at(30, 12, 0)),
        bucket: pb::TimeBucket::Day.into(),
        group_by: group_by.into_iter().map(Into::into).collect(),
        ..Default::default()
    };
    let by_team = query(&mut insights, period(vec![pb::Dimension::Team])).await;
    let by_team_kind = query(
        &mut insights,
        period(vec![pb::Dimension::Team, pb::Dimension::Kind]),
    )
    .await;
    assert!(
        by_team_kind.rows.iter().any(|r| r.group.len() == 2),
        "rows name both values"
    );
    // Summed over kinds, the pairs give each team's figures.
    for row in &by_team.rows {
        let team = &row.group[0].value;
        let pairs: Vec<&pb::MetricRow> = by_team_kind
            .rows
            .iter()
            .filter(|r| r.bucket_start == row.bucket_start && &r.group[0].value == team)
            .collect();
        let sum = |f: fn(&pb::Figures) -> i64| -> i64 {
            pairs.iter().map(|r| f(r.figures.as_ref().unwrap())).sum()
        };
        let f = row.figures.as_ref().unwrap();
        assert_eq!(sum(|f| f.intake), f.intake, "{team}");
        assert_eq!(
            sum(|f| f.backlog.iter().map(|b| b.count).sum()),
            f.backlog.iter().map(|b| b.count).sum::<i64>(),
            "{team}"
        );
        assert_eq!(
            sum(|f| f.acknowledgement_time.as_ref().unwrap().count),
            f.acknowledgement_time.as_ref().unwrap().count
        );
    }
    // A filter with a grouping is two dimensions too: mall's tickets by kind.
    let mall = query(
        &mut insights,
        pb::QueryMetricsRequest {
            filter: Some(pb::DimensionValue {
                dimension: pb::Dimension::Team.into(),
                value: "mall".into(),
            }),
            ..period(vec![pb::Dimension::Kind])
        },
    )
    .await;
    let kinds: Vec<&str> = mall
        .rows
        .iter()
        .filter(|r| r.figures.as_ref().unwrap().intake > 0)
        .map(|r| r.group[0].value.as_str())
        .collect();
    assert_eq!(kinds, ["COMPLAINT", "INQUIRY"]);
    // A filter alone answers, per bucket, the figures of that team's row.
    let mall_alone = query(
        &mut insights,
        pb::QueryMetricsRequest {
            filter: Some(pb::DimensionValue {
                dimension: pb::Dimension::Team.into(),
                value: "mall".into(),
            }),
            ..period(vec![])
        },
    )
    .await;
    let mall_rows: Vec<&pb::MetricRow> = by_team
        .rows
        .iter()
        .filter(|r| r.group[0].value == "mall")
        .collect();
    assert!(!mall_rows.is_empty());
    for row in mall_rows {
        let alone = mall_alone
            .rows
            .iter()
            .find(|r| r.bucket_start == row.bucket_start)
            .expect("a row in every bucket");
        assert!(alone.group.is_empty());
        assert_eq!(alone.figures, row.figures, "{:?}", row.bucket_start);
    }
    s.stop().await;
}

async fn sums_ticket_by_ticket_stop_at_the_configured_most(backend: Backend) {
    let clock = ManualClock::new(at(23, 9, 0));
    let (s, mut c, mut insights) =
        floor_with(backend, &clock, |config| config.insights_max_tickets = 2).await;
    hand_computed_history(&mut c, &clock).await;
    clock.set(at(30, 12, 0));
    let week = |group_by: Vec<pb::Dimension>, filter: Option<(pb::Dimension, &str)>| {
        pb::QueryMetricsRequest {
            start_time: ts(at(23, 0, 0)),
            end_time: ts(at(30, 12, 0)),
            bucket: pb::TimeBucket::Day.into(),
            group_by: group_by.into_iter().map(Into::into).collect(),
            filter: filter.map(|(d, v)| pb::DimensionValue {
                dimension: d.into(),
                value: v.into(),
            }),
            ..Default::default()
        }
    };
    let over = |refused: Status| {
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
        let quota = refused.get_details_quota_failure().expect("QuotaFailure");
        assert_eq!(quota.violations[0].subject, "tickets");
        assert!(
            refused.message().contains("more than 2 tickets"),
            "{refused:?}"
        );
    };
    // Three tickets, two dimensions: summed ticket by ticket, over the most.
    let pairs = vec![pb::Dimension::Team, pb::Dimension::Kind];
    over(
        insights
            .query_metrics(week(pairs.clone(), None))
            .await
            .unwrap_err(),
    );
    let top = pb::GetTopIssuesRequest {
        start_time: ts(at(23, 0, 0)),
        end_time: ts(at(30, 12, 0)),
        ..Default::default()
    };
    over(insights.get_top_issues(top).await.unwrap_err());
    // A filter that leaves two is answered; one dimension is answered from the roll-ups.
    let mall = query(
        &mut insights,
        week(pairs, Some((pb::Dimension::Team, "mall"))),
    )
    .await;
    let intake: i64 = mall
        .rows
        .iter()
        .map(|r| r.figures.as_ref().unwrap().intake)
        .sum();
    assert_eq!(intake, 2);
    let by_team = query(&mut insights, week(vec![pb::Dimension::Team], None)).await;
    let intake: i64 = by_team
        .rows
        .iter()
        .map(|r| r.figures.as_ref().unwrap().intake)
        .sum();
    assert_eq!(intake, 3);
    // In December, November's top issues are over the most, and the dashboard still stands:
    // its 整改率 is left empty.
    clock.set(Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap());
    let dashboard = insights
        .get_dashboard(pb::GetDashboardRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dashboard.open, 2);
    let rate = dashboard.improvement_rate.unwrap();
    assert_eq!((rate.part, rate.whole), (0, 0));
    // An improvement done then, read ten days on: its windows hold the three tickets, too
    // many to weigh, so it answers without its effect rather than failing.
    let done = insights
        .create_improvement(pb::CreateImprovementRequest {
            improvement: Some(pb::Improvement {
                title: "Answer within the hour".into(),
                issue_key: "/mall/".into(),
                owner_team: "mall".into(),
                due_time: ts(Utc.with_ymd_and_hms(2026, 12, 31, 0, 0, 0).unwrap()),
                status: pb::ImprovementStatus::Done.into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    clock.set(Utc.with_ymd_and_hms(2026, 12, 12, 9, 0, 0).unwrap());
    let read = insights
        .get_improvement(pb::GetImprovementRequest { id: done.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.status(), pb::ImprovementStatus::Done);
    assert_eq!(read.effect, None);
    s.stop().await;
}

async fn a_supervisor_reads_the_figures_of_their_teams(backend: Backend) {
    let clock = ManualClock::new(at(23, 9, 0));
    let (s, mut c, _) = floor(backend, &clock).await;
    hand_computed_history(&mut c, &clock).await;
    clock.set(at(30, 12, 0));
    let sue = s.key("sue", pb::Role::Supervisor, &["mall"], "", "").await;
    let mut sue = InsightsServiceClient::new(s.channel_as(&sue));
    let team = |name: &str| {
        Some(pb::DimensionValue {
            dimension: pb::Dimension::Team.into(),
            value: name.into(),
        })
    };
    let week = |filter| pb::QueryMetricsRequest {
        start_time: ts(at(23, 0, 0)),
        end_time: ts(at(30, 12, 0)),
        filter,
        ..Default::default()
    };
    // Their team's figures, dashboard and tickets.
    let mall = sue
        .query_metrics(week(team("mall")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mall.rows[0].figures.as_ref().unwrap().intake, 2);
    let dashboard = sue
        .get_dashboard(pb::GetDashboardRequest {
            scope: team("mall"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dashboard.open, 1);
    let mut export = sue
        .export_tickets(pb::ExportTicketsRequest {
            filter: team("mall"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(export.message().await.unwrap().unwrap().tickets.len(), 2);
    // Another team's, or the whole floor's, are refused, saying which teams are theirs.
    let refusals = [
        sue.query_metrics(week(team("parcel"))).await.map(|_| ()),
        sue.query_metrics(week(None)).await.map(|_| ()),
        sue.get_dashboard(pb::GetDashboardRequest::default())
            .await
            .map(|_| ()),
        sue.get_top_issues(pb::GetTopIssuesRequest::default())
            .await
            .map(|_| ()),
        sue.render_report(pb::RenderReportRequest::default())
            .await
            .map(|_| ()),
        sue.export_tickets(pb::ExportTicketsRequest {
            filter: team("parcel"),
            ..Default::default()
        })
        .await
        .map(|_| ()),
    ];
    for refused in refusals {
        let refused = refused.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
        assert!(
            refused.message().contains("ask for one of mall"),
            "{refused:?}"
        );
    }
    s.stop().await;
}

async fn the_dashboard_shows_the_floor_now(backend: Backend) {
    let clock = ManualClock::new(at(23, 9, 0));
    let (s, mut c, mut insights) = floor(backend, &clock).await;
    let mut stream = insights
        .watch_dashboard(pb::WatchDashboardRequest::default())
        .await
        .unwrap()
        .into_inner();
    let first = stream
        .message()
        .await
        .unwrap()
        .expect("the dashboard at once");
    assert_eq!(first.open, 0);
    hand_computed_history(&mut c, &clock).await;
    clock.set(at(30, 10, 30));
    let d = insights
        .get_dashboard(pb::GetDashboardRequest {
            window: Some(prost_types::Duration {
                seconds: 14 * 86_400,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d.open, 2, "B and the parcel ticket");
    let by_team: Vec<(&str, i64)> = d
        .backlog_by_team
        .iter()
        .map(|g| (g.key.as_str(), g.count))
        .collect();
    assert!(
        by_team.contains(&("mall", 1)) && by_team.contains(&("parcel", 1)),
        "{by_team:?}"
    );
    let mall = d.backlog_by_team.iter().find(|g| g.key == "mall").unwrap();
    assert_eq!(
        secs(&mall.oldest_age),
        (at(30, 10, 30) - at(23, 10, 15)).num_seconds(),
        "B is mall's oldest"
    );
    assert_eq!(d.intake_today, 0);
    let w = d.window.unwrap();
    assert_eq!(w.intake, 3);
    assert_eq!(w.acknowledgement_time.unwrap().count, 2);
    // The stream showed the change, at most once a second.
    let changed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let d = stream.message().await.unwrap().expect("a dashboard");
            if d.open == 2 {
                return d;
            }
        }
    })
    .await
    .expect("the stream shows the new backlog");
    assert!(changed.cursor > first.cursor);
    // Scoped to a team.
    let parcel = insights
        .get_dashboard(pb::GetDashboardRequest {
            scope: Some(pb::DimensionValue {
                dimension: pb::Dimension::Team.into(),
                value: "parcel".into(),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(parcel.open, 1);
    let window = parcel.window.as_ref().unwrap();
    assert_eq!(
        window.intake, 1,
        "parcel's one ticket, in the window's figures"
    );
    assert_eq!(
        window.backlog.iter().map(|b| b.count).sum::<i64>(),
        1,
        "and in its backlog"
    );
    s.stop().await;
}

async fn the_export_streams_every_ticket_and_resumes(backend: Backend) {
    let clock = ManualClock::new(at(23, 9, 0));
    let (s, mut c, mut insights) = floor(backend, &clock).await;
    let [a, b, parcel] = hand_computed_history(&mut c, &clock).await;
    // Wait for the figures to include the history: the dashboard waits for them.
    insights
        .get_dashboard(pb::GetDashboardRequest::default())
        .await
        .unwrap();
    let export = |after: String| pb::ExportTicketsRequest {
        after_cursor: after,
        ..Default::default()
    };
    let mut all = Vec::new();
    let mut stream = insights
        .export_tickets(export(String::new()))
        .await
        .unwrap()
        .into_inner();
    let mut cursor = String::new();
    while let Some(message) = stream.message().await.unwrap() {
        cursor = message.cursor.clone();
        all.extend(message.tickets);
    }
    let numbers: Vec<&str> = all.iter().map(|t| t.number.as_str()).collect();
    assert_eq!(
        numbers,
        [a.number.as_str(), b.number.as_str(), parcel.number.as_str()]
    );
    let first = &all[0];
    assert_eq!(first.team, "mall");
    assert_eq!(
        first.first_response_time.as_ref().map(|t| t.seconds),
        Some(at(23, 11, 0).timestamp())
    );
    assert_eq!(secs(&all[2].business_first_response), -1, "not replied yet");
    // Resuming after the last cursor gives nothing more; after the first, the other two.
    let mut rest = insights
        .export_tickets(export(cursor))
        .await
        .unwrap()
        .into_inner();
    assert!(rest.message().await.unwrap().is_none());
    let mut rest = insights
        .export_tickets(export(a.id.to_string()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.message().await.unwrap().unwrap().tickets.len(), 2);
    // A number that names no ticket is no cursor.
    let mut nowhere = insights
        .export_tickets(export((parcel.id + 1000).to_string()))
        .await
        .unwrap()
        .into_inner();
    let refused = nowhere.message().await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(bad_fields(&refused), ["after_cursor"]);
    s.stop().await;
}

async fn metric_queries_are_checked(backend: Backend) {
    let clock = ManualClock::new(at(23, 9, 0));
    let (s, _c, mut insights) = floor(backend, &clock).await;
    let bad = |request: pb::QueryMetricsRequest| {
        let mut i = insights.clone();
        async move { i.query_metrics(request).await.unwrap_err() }
    };
    let month = pb::QueryMetricsRequest {
        start_time: ts(at(1, 0, 0)),
        end_time: ts(at(30, 0, 0)),
        ..Default::default()
    };
    let wrong_order = pb::QueryMetricsRequest {
        start_time: month.end_time,
        end_time: month.start_time,
        ..Default::default()
    };
    assert_eq!(bad_fields(&bad(wrong_order).await), ["end_time"]);
    let missing = bad(pb::QueryMetricsRequest::default()).await;
    assert!(bad_fields(&missing).contains(&"start_time".to_owned()));
    let year = pb::QueryMetricsRequest {
        end_time: ts(Utc.with_ymd_and_hms(2027, 6, 1, 0, 0, 0).unwrap()),
        bucket: pb::TimeBucket::Hour.into(),
        ..month.clone()
    };
    assert_eq!(
        bad_fields(&bad(year).await),
        ["bucket"],
        "hours for at most 31 days"
    );
    let half_hour = pb::QueryMetricsRequest {
        end_time: ts(at(29, 23, 30)),
        ..month.clone()
    };
    assert_eq!(bad_fields(&bad(half_hour).await), ["end_time"]);
    let kolkata = pb::QueryMetricsRequest {
        bucket: pb::TimeBucket::Day.into(),
        time_zone: "Asia/Kolkata".into(),
        ..month.clone()
    };
    assert_eq!(bad_fields(&bad(kolkata).await), ["time_zone"]);
    let unknown_zone = pb::QueryMetricsRequest {
        time_zone: "Mars/Olympus".into(),
        ..month.clone()
    };
    assert_eq!(bad_fields(&bad(unknown_zone).await), ["time_zone"]);
    let unknown_dimension = pb::QueryMetricsRequest {
        group_by: vec![42],
        ..month.clone()
    };
    assert_eq!(bad_fields(&bad(unknown_dimension).await), ["group_by[0]"]);
    let three = pb::QueryMetricsRequest {
        group_by: vec![
            pb::Dimension::Team.into(),
            pb::Dimension::Kind.into(),
            pb::Dimension::Channel.into(),
        ],
        ..month.clone()
    };
    assert_eq!(bad_fields(&bad(three).await), ["group_by"]);
    let too_many = pb::QueryMetricsRequest {
        group_by: vec![pb::Dimension::Team.into(), pb::Dimension::Kind.into()],
        filter: Some(pb::DimensionValue {
            dimension: pb::Dimension::Channel.into(),
            value: "APP".into(),
        }),
        ..month.clone()
    };
    assert_eq!(bad_fields(&bad(too_many).await), ["group_by"]);
    let unspecified_filter = pb::QueryMetricsRequest {
        filter: Some(pb::DimensionValue::default()),
        ..month.clone()
    };
    assert_eq!(
        bad_fields(&bad(unspecified_filter).await),
        ["filter.dimension"]
    );
    let dashboard = insights
        .get_dashboard(pb::GetDashboardRequest {
            window: Some(prost_types::Duration {
                seconds: 60,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&dashboard), ["window"]);
    let export = insights
        .export_tickets(pb::ExportTicketsRequest {
            after_cursor: "abc".into(),
            ..Default::default()
        })
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(export.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&export), ["after_cursor"]);
    s.stop().await;
}

async fn the_monthly_report_is_one_page(backend: Backend) {
    let clock = ManualClock::new(at(23, 9, 0));
    let (s, mut c, mut insights) = floor(backend, &clock).await;
    hand_computed_history(&mut c, &clock).await;
    clock.set(Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap());
    // Default: last month, in Chinese.
    let zh = insights
        .render_report(pb::RenderReportRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(zh.title, "客户反馈月报 2026-11");
    assert_eq!(zh.content_type, "text/html; charset=utf-8");
    assert_eq!(zh.start_time, ts(at(1, 0, 0)));
    assert!(zh.html.contains("<svg"), "charts are inline SVG");
    assert!(!zh.html.contains("<script"), "no scripts");
    for fetch in ["src=", "href=", "@import", "url("] {
        assert!(!zh.html.contains(fetch), "nothing fetched: {fetch}");
    }
    let en = insights
        .render_report(pb::RenderReportRequest {
            month: "2026-11".into(),
            time_zone: "Asia/Shanghai".into(),
            language: pb::ReportLanguage::En.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(en.title, "Customer feedback report 2026-11");
    assert!(
        en.html.contains("HOTLINE") || en.html.contains("APP"),
        "channels named"
    );
    let bad = insights
        .render_report(pb::RenderReportRequest {
            month: "2026-13".into(),
            language: 9,
            ..Default::default()
        })
        .await
        .unwrap_err();
    let mut fields = bad_fields(&bad);
    fields.sort();
    assert_eq!(fields, ["language", "month"]);
    s.stop().await;
}

/// Two instances on one database both follow the log: each event counts once. A restart
/// resumes where the figures left off: nothing again, nothing missed.
async fn two_instances_and_a_restart_count_each_event_once(backend: Backend) {
    use feedbackd::domain::clock::SystemClock;
    let a = TestServer::start(backend).await;
    let b = TestServer::start_on(a.db.clone(), Arc::new(SystemClock), |_| {}).await;
    let day = |i: &mut Insights| {
        let mut i = i.clone();
        async move {
            let now = Utc::now();
            let start = now - chrono::Duration::days(1);
            let hour =
                |t: DateTime<Utc>| Utc.timestamp_opt(t.timestamp() / 3600 * 3600, 0).unwrap();
            i.query_metrics(pb::QueryMetricsRequest {
                start_time: ts(hour(start)),
                end_time: ts(hour(now) + chrono::Duration::hours(1)),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .rows[0]
                .figures
                .as_ref()
                .unwrap()
                .intake
        }
    };
    let creates = (0..20).map(|i| {
        let mut c = if i % 2 == 0 {
            a.client.clone()
        } else {
            b.client.clone()
        };
        async move { create_with(&mut c, new_ticket(&format!("t{i}"))).await }
    });
    futures::future::join_all(creates).await;
    let mut on_a = InsightsServiceClient::new(a.channel());
    let mut on_b = InsightsServiceClient::new(b.channel());
    // Both answer once the figures include every commit; poll past the one-second wait.
    let settled = |i: &mut Insights| {
        let mut i = i.clone();
        async move {
            for _ in 0..50 {
                if day(&mut i).await == 20 {
                    return 20;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            day(&mut i).await
        }
    };
    assert_eq!(settled(&mut on_a).await, 20, "every ticket once, on a");
    assert_eq!(settled(&mut on_b).await, 20, "every ticket once, on b");
    // Both followers have had time to go over every event: still once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(day(&mut on_a).await, 20, "no event counted twice");
    b.stop().await;
    let db = a.db.clone();
    a.stop().await;
    // After a restart the figures go on from where they were: nothing counted again.
    let c = TestServer::start_on(db, Arc::new(SystemClock), |_| {}).await;
    let mut client = c.client.clone();
    create_with(&mut client, new_ticket("after the restart")).await;
    let mut on_c = InsightsServiceClient::new(c.channel());
    let mut intake = 0;
    for _ in 0..50 {
        intake = day(&mut on_c).await;
        if intake == 21 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(intake, 21, "the restart neither lost nor repeated an event");
    c.stop().await;
}
