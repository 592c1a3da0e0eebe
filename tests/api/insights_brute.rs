//! The figures against brute force: random histories made through the API, every metric
//! recomputed from the event log (read through the API, folded here by the definitions), and
//! compared with QueryMetrics by day in total, by one dimension (from the roll-ups) and by two
//! (from the facts). They must agree exactly; percentiles are compared as the API reports
//! them, at the top of the 1 %-wide bucket the exact nearest-rank value falls in.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use feedbackd::domain::calendar::Calendar;
use feedbackd::domain::clock::ManualClock;
use feedbackd::domain::insights::{bin, bin_value};
use feedbackd::proto::feedback::v1 as pb;
use pb::insights_service_client::InsightsServiceClient;

use crate::both;
use crate::support::{Authed, Backend, Client, TestDb, TestServer, create_with, new_ticket};

both!(random_histories_agree_with_brute_force);

/// A small, seeded generator: the same seed gives the same history.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn time(ts: &Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    ts.as_ref()
        .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos as u32))
}

fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

const START: (u32, u32) = (2, 8);
const DAYS: i64 = 8;

async fn random_histories_agree_with_brute_force(backend: Backend) {
    for seed in [0x9e37_79b9_7f4a_7c15_u64, 0x1234_5678_9abc_def1] {
        one_history(backend, seed).await;
    }
}

async fn one_history(backend: Backend, seed: u64) {
    let start = Utc
        .with_ymd_and_hms(2026, 11, START.0, START.1, 0, 0)
        .unwrap();
    let clock = ManualClock::new(start);
    let db = Arc::new(TestDb::new(backend).await);
    // No periodic pass writes while the brute force reads: every event comes from a call.
    let s = TestServer::start_on(db, Arc::new(clock.clone()), |config| {
        config.sla_interval = Duration::from_secs(3600);
        config.survey_interval = Duration::from_secs(3600);
        config.dispatch_interval = Duration::from_secs(3600);
    })
    .await;
    let mut routing = s.routing().await;
    for (team, agent) in [("mall", "ann"), ("parcel", "bob")] {
        crate::support::product_team(&mut routing, team, "", &[(agent, true)], "").await;
    }
    let mut c = s.client().await;
    let mut rng = Rng(seed);
    let mut tickets: Vec<(i64, &str)> = Vec::new();
    let end = start + chrono::Duration::days(DAYS);
    while clock_now(&clock) < end - chrono::Duration::hours(6) {
        clock.advance(chrono::Duration::minutes(1 + rng.below(240) as i64));
        if tickets.is_empty() || rng.below(3) == 0 {
            let (product, agent) = *rng.pick(&[("mall", "ann"), ("parcel", "bob")]);
            let request = pb::CreateTicketRequest {
                product: product.into(),
                kind: *rng.pick(&[pb::TicketKind::Complaint, pb::TicketKind::Inquiry]) as i32,
                channel: *rng.pick(&[pb::Channel::App, pb::Channel::Hotline, pb::Channel::Email])
                    as i32,
                ..new_ticket(rng.pick::<&str>(&["Refund missing", "支付失败", "Parcel late"]))
            };
            let t = create_with(&mut c, request).await;
            tickets.push((t.id, agent));
            continue;
        }
        let &(id, agent) = rng.pick(&tickets);
        // Whatever the lifecycle refuses is simply not part of the history.
        let _ = match rng.below(7) {
            0 => c
                .acknowledge_ticket(pb::AcknowledgeTicketRequest {
                    ticket_id: id,
                    agent: agent.into(),
                    ..Default::default()
                })
                .await
                .map(|_| ()),
            1 | 2 => c
                .add_comment(pb::AddCommentRequest {
                    ticket_id: id,
                    visibility: pb::CommentVisibility::Public.into(),
                    body: "Working on it".into(),
                    author: agent.into(),
                    author_role: pb::AuthorRole::Agent.into(),
                    request_id: String::new(),
                })
                .await
                .map(|_| ()),
            3 => c
                .resolve_ticket(pb::ResolveTicketRequest {
                    ticket_id: id,
                    resolution_summary: "Done".into(),
                    ..Default::default()
                })
                .await
                .map(|_| ()),
            4 => c
                .reopen_ticket(pb::ReopenTicketRequest {
                    ticket_id: id,
                    reason: "Still broken".into(),
                    ..Default::default()
                })
                .await
                .map(|_| ()),
            5 => c
                .set_pending(pb::SetPendingRequest {
                    ticket_id: id,
                    reason: "Waiting for the receipt".into(),
                    ..Default::default()
                })
                .await
                .map(|_| ()),
            _ => {
                // A new priority moves every figure of the ticket to the new value.
                let priority = *rng.pick(&[pb::Priority::High, pb::Priority::Low]);
                c.update_ticket(pb::UpdateTicketRequest {
                    ticket: Some(pb::Ticket {
                        id,
                        priority: priority.into(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["priority".into()],
                    }),
                    actor: String::new(),
                })
                .await
                .map(|_| ())
            }
        };
    }
    clock.set(end);

    let mut insights = InsightsServiceClient::new(s.channel());
    let histories = settled_histories(&mut c, &mut insights, &tickets, (start, end)).await;
    let days: Vec<(DateTime<Utc>, DateTime<Utc>)> = (0..=DAYS)
        .map(|d| {
            let day = Utc.with_ymd_and_hms(2026, 11, START.0, 0, 0, 0).unwrap()
                + chrono::Duration::days(d);
            (day, day + chrono::Duration::days(1))
        })
        .collect();
    for group_by in [
        vec![],
        vec![pb::Dimension::Priority],
        vec![pb::Dimension::Team, pb::Dimension::Kind],
    ] {
        let answer = insights
            .query_metrics(pb::QueryMetricsRequest {
                start_time: ts(days[0].0),
                end_time: ts(days[days.len() - 1].1),
                bucket: pb::TimeBucket::Day.into(),
                group_by: group_by.iter().map(|d| (*d).into()).collect(),
                ..Default::default()
            })
            .await
            .expect("query")
            .into_inner();
        let expected = brute_force(&histories, &days, &group_by);
        let got: BTreeMap<(i64, Vec<String>), pb::Figures> = answer
            .rows
            .into_iter()
            .map(|r| {
                let day = time(&r.bucket_start).unwrap().timestamp();
                let group = r.group.into_iter().map(|g| g.value).collect();
                ((day, group), r.figures.unwrap())
            })
            .collect();
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "seed {seed:#x}, by {group_by:?}: the same buckets and groups"
        );
        for (key, figures) in &expected {
            assert_eq!(
                &got[key], figures,
                "seed {seed:#x}, by {group_by:?}, bucket and group {key:?}"
            );
        }
    }
    s.stop().await;
}

fn clock_now(clock: &ManualClock) -> DateTime<Utc> {
    use feedbackd::domain::clock::Clock;
    clock.now()
}

/// Every ticket's events once nothing more follows from the calls: the reactions they set in
/// motion have written theirs, and the figures include the last (a query waits only a second
/// for them, which a loaded machine can outlast).
async fn settled_histories(
    c: &mut Client,
    insights: &mut InsightsServiceClient<Authed>,
    tickets: &[(i64, &str)],
    (start, end): (DateTime<Utc>, DateTime<Utc>),
) -> Vec<Vec<pb::TicketEvent>> {
    let mut histories = read_histories(c, tickets).await;
    for _ in 0..600 {
        let last = histories.iter().flatten().map(|e| e.cursor).max();
        let figures = insights
            .query_metrics(pb::QueryMetricsRequest {
                start_time: ts(start),
                end_time: ts(end),
                bucket: pb::TimeBucket::Day.into(),
                ..Default::default()
            })
            .await
            .expect("query")
            .into_inner();
        if Some(figures.cursor) >= last {
            let again = read_histories(c, tickets).await;
            if again == histories {
                return histories;
            }
            histories = again;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the figures never caught up with the history");
}

/// Every ticket's events, oldest first.
async fn read_histories(c: &mut Client, tickets: &[(i64, &str)]) -> Vec<Vec<pb::TicketEvent>> {
    let mut all = Vec::new();
    for (id, _) in tickets {
        all.push(crate::support::history(c, *id, &[]).await);
    }
    all
}

/// A finished SLA clock: target, start, when it finished, whether met.
type Clock = (i32, Option<DateTime<Utc>>, DateTime<Utc>, bool);

/// What one ticket adds, by the definitions, folded from its events.
#[derive(Default)]
struct Brute {
    created: Option<DateTime<Utc>>,
    /// Its dimension values now, by dimension.
    dims: HashMap<i32, String>,
    statuses: Vec<(DateTime<Utc>, i32)>,
    dispatch: Option<DateTime<Utc>>,
    acknowledged: Option<DateTime<Utc>>,
    first_response: Option<DateTime<Utc>>,
    resolves: Vec<DateTime<Utc>>,
    reopens: Vec<DateTime<Utc>>,
    replies: u32,
    clocks: Vec<Clock>,
    escalated: bool,
    complaint: bool,
    repeat: bool,
    open: bool,
    surveys_sent: Vec<DateTime<Utc>>,
}

fn fold(events: &[pb::TicketEvent]) -> Brute {
    let mut b = Brute::default();
    for e in events {
        let at = time(&e.time).unwrap();
        let t = e.ticket.as_ref().unwrap();
        b.created = time(&t.create_time);
        b.dims = HashMap::from([
            (pb::Dimension::Kind as i32, kind_name(t.kind)),
            (pb::Dimension::Team as i32, t.team.clone()),
            (pb::Dimension::Priority as i32, priority_name(t.priority)),
        ]);
        if b.statuses.last().map(|s| s.1) != Some(t.status) {
            b.statuses.push((at, t.status));
        }
        if b.dispatch.is_none() && !t.assignee.is_empty() {
            b.dispatch = time(&t.assign_time).or(Some(at));
        }
        if b.acknowledged.is_none() {
            b.acknowledged = time(&t.acknowledge_time);
        }
        if b.first_response.is_none() {
            b.first_response = time(&t.first_response_time);
        }
        let event_type = pb::EventType::try_from(e.r#type).unwrap();
        match event_type {
            pb::EventType::TicketResolved => b.resolves.push(at),
            pb::EventType::TicketReopened => b.reopens.push(at),
            pb::EventType::CommentAdded => {
                let c = e.comment.as_ref().unwrap();
                if c.visibility == pb::CommentVisibility::Public as i32
                    && c.author_role == pb::AuthorRole::Agent as i32
                {
                    b.replies += 1;
                }
            }
            pb::EventType::SurveyInvited => b.surveys_sent.push(at),
            _ => {}
        }
        if let Some(sla) = &t.sla {
            b.escalated |= sla.escalation_level > 0;
            for clock in &sla.clocks {
                let done = [
                    pb::SlaClockState::Met as i32,
                    pb::SlaClockState::Breached as i32,
                ];
                let start = time(&clock.start_time);
                let known = b.clocks.iter().any(|c| c.0 == clock.target && c.1 == start);
                if done.contains(&clock.state) && !known {
                    let finished = time(&clock.stop_time).unwrap_or(at);
                    let met = clock.state == pb::SlaClockState::Met as i32;
                    b.clocks.push((clock.target, start, finished, met));
                }
            }
        }
        b.complaint = t.kind == pb::TicketKind::Complaint as i32;
        b.repeat = !t.repeat_of.is_empty();
        b.open = ![
            pb::TicketStatus::Resolved as i32,
            pb::TicketStatus::Closed as i32,
        ]
        .contains(&t.status);
    }
    b
}

fn kind_name(kind: i32) -> String {
    match pb::TicketKind::try_from(kind).unwrap() {
        pb::TicketKind::Complaint => "COMPLAINT",
        pb::TicketKind::Inquiry => "INQUIRY",
        pb::TicketKind::Suggestion => "SUGGESTION",
        _ => "PROBLEM",
    }
    .into()
}

fn priority_name(priority: i32) -> String {
    pb::Priority::try_from(priority)
        .unwrap()
        .as_str_name()
        .trim_start_matches("PRIORITY_")
        .into()
}

/// Durations as the API reports them: count, exact mean, bucketed nearest-rank percentiles.
fn durations(mut calendar: Vec<i64>, mut business: Vec<i64>) -> pb::DurationFigures {
    let d = |s: i64| prost_types::Duration {
        seconds: s,
        nanos: 0,
    };
    let mean = |v: &[i64]| {
        (!v.is_empty()).then(|| {
            let millis = v.iter().sum::<i64>() * 1000 / v.len() as i64;
            prost_types::Duration {
                seconds: millis / 1000,
                nanos: (millis % 1000) as i32 * 1_000_000,
            }
        })
    };
    let rank = |v: &[i64], p: f64| {
        (!v.is_empty()).then(|| {
            let r = ((p * v.len() as f64).ceil() as usize).max(1);
            d(bin_value(bin(v[r - 1])))
        })
    };
    calendar.sort_unstable();
    business.sort_unstable();
    pb::DurationFigures {
        count: calendar.len() as i64,
        average: mean(&calendar),
        p50: rank(&calendar, 0.5),
        p90: rank(&calendar, 0.9),
        business_average: mean(&business),
        business_p50: rank(&business, 0.5),
        business_p90: rank(&business, 0.9),
    }
}

fn ratio(part: i64, whole: i64) -> Option<pb::Ratio> {
    Some(pb::Ratio {
        part,
        whole,
        value: (whole > 0).then(|| part as f64 / whole as f64),
    })
}

/// Every metric per day and group, recomputed from the histories.
fn brute_force(
    histories: &[Vec<pb::TicketEvent>],
    days: &[(DateTime<Utc>, DateTime<Utc>)],
    group_by: &[pb::Dimension],
) -> BTreeMap<(i64, Vec<String>), pb::Figures> {
    let office = Calendar::office_hours(chrono_tz::UTC);
    let tickets: Vec<Brute> = histories.iter().map(|h| fold(h)).collect();
    let mut out = BTreeMap::new();
    let mut groups: Vec<Vec<String>> = tickets
        .iter()
        .map(|t| {
            group_by
                .iter()
                .map(|d| t.dims[&(*d as i32)].clone())
                .collect()
        })
        .collect();
    groups.sort();
    groups.dedup();
    let nothing = figures_of(&[], (days[0].0, days[0].0), &office);
    for &(from, to) in days {
        for group in &groups {
            let mine: Vec<&Brute> = tickets
                .iter()
                .filter(|t| {
                    group_by
                        .iter()
                        .zip(group)
                        .all(|(d, v)| &t.dims[&(*d as i32)] == v)
                })
                .collect();
            let figures = figures_of(&mine, (from, to), &office);
            // The total has a row every day; a group only where it has a figure.
            if group_by.is_empty() || figures != nothing {
                out.insert((from.timestamp(), group.clone()), figures);
            }
        }
    }
    out
}

/// Every metric over `mine` for the bucket `from`..`to`, by the definitions.
fn figures_of(
    mine: &[&Brute],
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    office: &Calendar,
) -> pb::Figures {
    let within = |at: &DateTime<Utc>| *at >= from && *at < to;
    let span = |mark: fn(&Brute) -> Option<DateTime<Utc>>| {
        let ended: Vec<(DateTime<Utc>, DateTime<Utc>)> = mine
            .iter()
            .filter_map(|t| Some((t.created?, mark(t)?)))
            .filter(|(_, at)| within(at))
            .collect();
        durations(
            ended
                .iter()
                .map(|(c, at)| (*at - *c).num_seconds().max(0))
                .collect(),
            ended
                .iter()
                .map(|(c, at)| office.between(*c, *at).num_seconds())
                .collect(),
        )
    };
    let created: Vec<&&Brute> = mine
        .iter()
        .filter(|t| within(&t.created.unwrap()))
        .collect();
    let count = |f: &dyn Fn(&Brute) -> bool| created.iter().filter(|t| f(t)).count() as i64;
    let first_resolved: Vec<&&Brute> = mine
        .iter()
        .filter(|t| t.resolves.first().is_some_and(within))
        .collect();
    let events = |f: fn(&Brute) -> &Vec<DateTime<Utc>>| {
        mine.iter()
            .map(|t| f(t).iter().filter(|a| within(a)).count() as i64)
            .sum::<i64>()
    };
    let sla = [
        pb::SlaTarget::Acknowledge,
        pb::SlaTarget::FirstResponse,
        pb::SlaTarget::Resolution,
    ]
    .map(|target| {
        let finished: Vec<bool> = mine
            .iter()
            .flat_map(|t| t.clocks.iter())
            .filter(|c| c.0 == target as i32 && within(&c.2))
            .map(|c| c.3)
            .collect();
        let met = finished.iter().filter(|m| **m).count() as i64;
        let breached = finished.len() as i64 - met;
        pb::SlaAttainment {
            target: target.into(),
            met,
            breached,
            attainment: (met + breached > 0).then(|| met as f64 / (met + breached) as f64),
        }
    });
    let mut backlog: BTreeMap<i32, i64> = BTreeMap::new();
    for t in mine {
        if let Some((_, status)) = t.statuses.iter().take_while(|(at, _)| *at < to).last() {
            let open = ![
                pb::TicketStatus::Resolved as i32,
                pb::TicketStatus::Closed as i32,
                pb::TicketStatus::Quarantined as i32,
            ]
            .contains(status);
            if open {
                *backlog.entry(*status).or_default() += 1;
            }
        }
    }
    let sent = events(|t| &t.surveys_sent);
    pb::Figures {
        intake: created.len() as i64,
        dispatch_time: Some(span(|t| t.dispatch)),
        acknowledgement_time: Some(span(|t| t.acknowledged)),
        first_response_time: Some(span(|t| t.first_response)),
        first_resolution_time: Some(span(|t| t.resolves.first().copied())),
        full_resolution_time: Some(span(|t| t.resolves.last().copied())),
        completion: ratio(count(&|t| !t.open), created.len() as i64),
        one_touch_resolution: ratio(
            first_resolved
                .iter()
                .filter(|t| t.reopens.is_empty() && t.replies <= 1)
                .count() as i64,
            first_resolved.len() as i64,
        ),
        reopen: ratio(events(|t| &t.reopens), events(|t| &t.resolves)),
        repeat: ratio(count(&|t| t.repeat), created.len() as i64),
        escalation: ratio(
            count(&|t| t.complaint && t.escalated),
            count(&|t| t.complaint),
        ),
        sla: sla.to_vec(),
        survey_response: ratio(0, sent),
        csat: ratio(0, 0),
        nps: None,
        nps_answers: 0,
        backlog: backlog
            .into_iter()
            .map(|(status, count)| pb::StatusCount { status, count })
            .collect(),
    }
}
