//! SLA: policies and calendars by RPC, clocks that follow the ticket through pauses, reopens
//! and priority changes, deadlines across weekends, holidays, lunch breaks and DST, the
//! scheduler's at-risk and breach events once each across two instances, and every
//! escalation action on the stream.

use std::sync::Arc;
use std::time::Duration;

use crate::support::Authed;
use chrono::{DateTime, TimeZone, Utc};
use feedbackd::domain::clock::ManualClock;
use feedbackd::proto::feedback::v1 as pb;
use pb::sla_service_client::SlaServiceClient;
use prost_types::FieldMask;
use tonic::Code;

use crate::both;
use crate::support::{Backend, Client, TestDb, TestServer, bad_fields, missing, product_team};

both!(
    policies_and_calendars_by_rpc,
    a_changed_policy_times_the_next_ticket,
    deadlines_count_working_time,
    clocks_pause_resume_restart_and_recount,
    at_risk_and_breach_fire_once_across_two_schedulers,
    each_escalation_action_happens_on_the_stream,
);

type Sla = SlaServiceClient<Authed>;
type E = pb::EventType;
type T = pb::SlaTarget;

async fn sla(s: &TestServer) -> Sla {
    SlaServiceClient::new(s.channel())
}

/// A server whose clock the test moves; with `scheduler`, SLA passes run every 20 ms.
async fn start_on(db: Arc<TestDb>, clock: &ManualClock, scheduler: bool) -> TestServer {
    TestServer::start_on(db, Arc::new(clock.clone()), |config| {
        if scheduler {
            config.sla_interval = Duration::from_millis(20);
        }
    })
    .await
}

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

fn hours(h: i64) -> Option<prost_types::Duration> {
    minutes(h * 60)
}

fn minutes(m: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: m * 60,
        nanos: 0,
    })
}

fn time(ts: &Option<prost_types::Timestamp>) -> DateTime<Utc> {
    let ts = ts.as_ref().expect("a time");
    DateTime::from_timestamp(ts.seconds, ts.nanos as u32).unwrap()
}

fn period(start: &str, end: &str) -> pb::WorkingPeriod {
    pb::WorkingPeriod {
        start: start.into(),
        end: end.into(),
    }
}

/// Weekdays 1..=5 with `periods`.
fn weekdays(periods: &[pb::WorkingPeriod]) -> Vec<pb::WeekdayHours> {
    (1..=5)
        .map(|weekday| pb::WeekdayHours {
            weekday,
            periods: periods.to_vec(),
        })
        .collect()
}

/// A ticket of `kind` and `priority` about `team`'s product.
async fn ticket(
    c: &mut Client,
    team: &str,
    kind: pb::TicketKind,
    priority: pb::Priority,
) -> pb::CreateTicketResponse {
    c.create_ticket(pb::CreateTicketRequest {
        channel: pb::Channel::App.into(),
        kind: kind.into(),
        title: "The parcel is late".into(),
        description: "Ordered last week".into(),
        product: team.into(),
        priority: priority.into(),
        customer: Some(pb::Customer {
            name: "Li Lei".into(),
            phone: "13800138000".into(),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

fn sla_clock(t: &pb::Ticket, target: T) -> pb::SlaClock {
    t.sla
        .as_ref()
        .and_then(|s| s.clocks.iter().find(|c| c.target == target as i32))
        .cloned()
        .expect("a clock of each target")
}

fn state(t: &pb::Ticket, target: T) -> pb::SlaClockState {
    pb::SlaClockState::try_from(sla_clock(t, target).state).unwrap()
}

async fn events(c: &mut Client, id: i64) -> Vec<pb::TicketEvent> {
    c.list_ticket_events(pb::ListTicketEventsRequest {
        ticket_id: id,
        page_size: 500,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .events
}

/// The SLA events of a ticket, as (type, targets).
async fn sla_events(c: &mut Client, id: i64) -> Vec<(E, Vec<T>)> {
    events(c, id)
        .await
        .into_iter()
        .filter_map(|e| {
            let detail = e.sla?;
            let targets = detail
                .targets
                .iter()
                .map(|&t| T::try_from(t).unwrap())
                .collect();
            Some((E::try_from(e.r#type).unwrap(), targets))
        })
        .collect()
}

/// Polls the ticket's history until `done` holds; the scheduler runs on real time.
async fn wait_for(
    c: &mut Client,
    id: i64,
    what: &str,
    done: impl Fn(&[pb::TicketEvent]) -> bool,
) -> Vec<pb::TicketEvent> {
    for _ in 0..1_000 {
        let history = events(c, id).await;
        if done(&history) {
            return history;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("ticket {id}: {what} never happened");
}

fn count(history: &[pb::TicketEvent], kind: E, target: T) -> usize {
    history
        .iter()
        .filter(|e| {
            e.r#type == kind as i32
                && e.sla
                    .as_ref()
                    .is_some_and(|s| s.targets.contains(&(target as i32)))
        })
        .count()
}

async fn policy(s: &mut Sla, id: &str) -> pb::SlaPolicy {
    s.get_sla_policy(pb::GetSlaPolicyRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner()
}

/// Makes a fallback policy count calendar time, so a test's arithmetic needs no calendar.
async fn around_the_clock(s: &mut Sla, id: &str) {
    s.update_sla_policy(pb::UpdateSlaPolicyRequest {
        policy: Some(pb::SlaPolicy {
            id: id.into(),
            basis: pb::SlaBasis::CalendarTime.into(),
            etag: String::new(),
            ..Default::default()
        }),
        update_mask: mask(&["basis"]),
    })
    .await
    .unwrap();
}

async fn policies_and_calendars_by_rpc(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut sla = sla(&s).await;
    let mut routing = s.routing().await;

    // The defaults of first start.
    let listed = sla
        .list_sla_policies(pb::ListSlaPoliciesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .policies;
    let summary: Vec<_> = listed
        .iter()
        .map(|p| {
            let secs = |d: &Option<prost_types::Duration>| d.as_ref().unwrap().seconds / 60;
            (
                p.id.as_str(),
                secs(&p.acknowledge_within),
                secs(&p.first_response_within),
                secs(&p.resolve_within),
                pb::SlaBasis::try_from(p.basis).unwrap(),
            )
        })
        .collect();
    use pb::SlaBasis::{BusinessHours, CalendarTime};
    assert_eq!(
        summary,
        vec![
            ("high", 60, 240, 3 * 1440, BusinessHours),
            ("low", 120, 2880, 7 * 1440, BusinessHours),
            ("medium", 120, 1440, 3 * 1440, BusinessHours),
            ("urgent", 15, 60, 1440, CalendarTime),
        ]
    );
    assert_eq!(listed[0].escalation_levels.len(), 3);
    let default = sla
        .get_calendar(pb::GetCalendarRequest {
            id: "default".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(default.description, "Mon–Fri 09:00–18:00 (UTC)");

    // A calendar with a lunch break, a holiday and a make-up Saturday.
    let shanghai = pb::Calendar {
        id: "shanghai".into(),
        time_zone: "Asia/Shanghai".into(),
        weekly_hours: weekdays(&[period("09:00", "12:00"), period("13:00", "18:00")]),
        holidays: vec!["2026-11-30".into()],
        extra_working_days: vec![pb::ExtraWorkingDay {
            date: "2026-12-05".into(),
            periods: vec![period("09:00", "12:00")],
        }],
        ..Default::default()
    };
    let created = sla
        .create_calendar(pb::CreateCalendarRequest {
            calendar: Some(shanghai.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        created.description,
        "Mon–Fri 09:00–12:00, 13:00–18:00 (Asia/Shanghai), 1 holiday, 1 extra working day"
    );
    let again = sla
        .create_calendar(pb::CreateCalendarRequest {
            calendar: Some(shanghai.clone()),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);

    // Every bad part is named, and nothing is written.
    let bad = sla
        .create_calendar(pb::CreateCalendarRequest {
            calendar: Some(pb::Calendar {
                id: "bad one".into(),
                time_zone: "Mars/Base".into(),
                weekly_hours: vec![
                    pb::WeekdayHours {
                        weekday: 8,
                        periods: vec![],
                    },
                    pb::WeekdayHours {
                        weekday: 1,
                        periods: vec![period("18:00", "09:00")],
                    },
                ],
                holidays: vec!["30/11/2026".into()],
                extra_working_days: vec![pb::ExtraWorkingDay {
                    date: "2026-12-05".into(),
                    periods: vec![],
                }],
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields(&bad),
        vec![
            "calendar.id",
            "calendar.time_zone",
            "calendar.weekly_hours[0].weekday",
            "calendar.weekly_hours[1].periods[0]",
            "calendar.holidays[0]",
            "calendar.extra_working_days[0].periods",
            // What is left of the week has no working time.
            "calendar.weekly_hours",
        ]
    );
    let overlap = sla
        .create_calendar(pb::CreateCalendarRequest {
            calendar: Some(pb::Calendar {
                id: "overlap".into(),
                time_zone: "UTC".into(),
                weekly_hours: weekdays(&[period("09:00", "12:00"), period("11:00", "13:00")]),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&overlap), vec!["calendar.weekly_hours"]);
    assert!(
        overlap.message().contains("overlap"),
        "{}",
        overlap.message()
    );

    // An update names its fields and checks the etag.
    let stale = sla
        .update_calendar(pb::UpdateCalendarRequest {
            calendar: Some(pb::Calendar {
                id: "shanghai".into(),
                holidays: vec![],
                etag: "W/\"7\"".into(),
                ..Default::default()
            }),
            update_mask: mask(&["holidays"]),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let updated = sla
        .update_calendar(pb::UpdateCalendarRequest {
            calendar: Some(pb::Calendar {
                id: "shanghai".into(),
                holidays: vec!["2026-11-30".into(), "2026-12-01".into()],
                etag: created.etag.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["holidays"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.holidays, vec!["2026-11-30", "2026-12-01"]);
    assert_eq!(updated.weekly_hours, created.weekly_hours);

    // Teams name calendars that exist; a calendar in use or the default stays.
    let unknown = routing
        .create_team(pb::CreateTeamRequest {
            team: Some(pb::Team {
                id: "desk".into(),
                calendar: "mars".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    // A calendar that does not exist is NOT_FOUND, as every missing reference is.
    assert_eq!(missing(&unknown), ("calendar".into(), "mars".into()));
    product_team(&mut routing, "desk", "shanghai", &[], "").await;
    for id in ["shanghai", "default"] {
        let refused = sla
            .delete_calendar(pb::DeleteCalendarRequest {
                id: id.into(),
                etag: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition, "{id}");
    }

    // A narrower policy; one per scope; its escalation names a team that exists.
    let vip = pb::SlaPolicy {
        id: "vip-complaints".into(),
        priority: pb::Priority::High.into(),
        kind: pb::TicketKind::Complaint.into(),
        tier: pb::CustomerTier::Vip.into(),
        acknowledge_within: minutes(10),
        first_response_within: minutes(30),
        resolve_within: hours(8),
        basis: CalendarTime.into(),
        escalation_levels: vec![pb::EscalationLevel {
            target: T::Acknowledge.into(),
            trigger: pb::SlaTrigger::AtRisk.into(),
            actions: vec![pb::EscalationAction::ReassignToTeam.into()],
            team: "desk".into(),
        }],
        ..Default::default()
    };
    let made = sla
        .create_sla_policy(pb::CreateSlaPolicyRequest {
            policy: Some(vip.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(made.display_name, "vip-complaints");
    let twin = sla
        .create_sla_policy(pb::CreateSlaPolicyRequest {
            policy: Some(pb::SlaPolicy {
                id: "twin".into(),
                ..vip.clone()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(twin.code(), Code::FailedPrecondition);
    assert!(
        twin.message().contains("vip-complaints"),
        "{}",
        twin.message()
    );
    let bad = sla
        .create_sla_policy(pb::CreateSlaPolicyRequest {
            policy: Some(pb::SlaPolicy {
                id: "bad".into(),
                priority: 0,
                acknowledge_within: None,
                first_response_within: Some(prost_types::Duration {
                    seconds: 30,
                    nanos: 0,
                }),
                basis: 0,
                escalation_levels: vec![
                    pb::EscalationLevel {
                        target: 0,
                        trigger: pb::SlaTrigger::Breached.into(),
                        actions: vec![pb::EscalationAction::ReassignToTeam.into()],
                        team: String::new(),
                    },
                    pb::EscalationLevel {
                        target: T::Resolution.into(),
                        trigger: pb::SlaTrigger::Breached.into(),
                        actions: vec![],
                        team: "desk".into(),
                    },
                ],
                ..vip.clone()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&bad),
        vec![
            "policy.acknowledge_within",
            "policy.first_response_within",
            "policy.escalation_levels[0].team",
            "policy.escalation_levels[0].target",
            "policy.escalation_levels[1].actions",
            "policy.escalation_levels[1].team",
            "policy.priority",
            "policy.basis",
        ]
    );
    let no_team = sla
        .create_sla_policy(pb::CreateSlaPolicyRequest {
            policy: Some(pb::SlaPolicy {
                id: "no-team".into(),
                kind: pb::TicketKind::Problem.into(),
                escalation_levels: vec![pb::EscalationLevel {
                    team: "nowhere".into(),
                    ..vip.escalation_levels[0].clone()
                }],
                ..vip.clone()
            }),
        })
        .await
        .unwrap_err();
    // A team that does not exist is NOT_FOUND, as every missing reference is.
    assert_eq!(missing(&no_team), ("team".into(), "nowhere".into()));

    // A team a policy escalates to stays while the policy names it.
    routing
        .create_team(pb::CreateTeamRequest {
            team: Some(pb::Team {
                id: "night".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    sla.create_sla_policy(pb::CreateSlaPolicyRequest {
        policy: Some(pb::SlaPolicy {
            id: "night-shift".into(),
            kind: pb::TicketKind::Inquiry.into(),
            escalation_levels: vec![pb::EscalationLevel {
                team: "night".into(),
                ..vip.escalation_levels[0].clone()
            }],
            ..vip.clone()
        }),
    })
    .await
    .unwrap();
    let named = routing
        .delete_team(pb::DeleteTeamRequest {
            id: "night".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(named.code(), Code::FailedPrecondition);
    assert!(
        named.message().contains("night-shift"),
        "{}",
        named.message()
    );

    // Fallbacks stay; narrow ones go, with their etag.
    let fallback = sla
        .delete_sla_policy(pb::DeleteSlaPolicyRequest {
            id: "high".into(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(fallback.code(), Code::FailedPrecondition);
    let narrowing = sla
        .update_sla_policy(pb::UpdateSlaPolicyRequest {
            policy: Some(pb::SlaPolicy {
                id: "high".into(),
                kind: pb::TicketKind::Complaint.into(),
                etag: String::new(),
                ..Default::default()
            }),
            update_mask: mask(&["kind"]),
        })
        .await
        .unwrap_err();
    assert_eq!(narrowing.code(), Code::FailedPrecondition);
    let etag = policy(&mut sla, "high").await.etag;
    let faster = sla
        .update_sla_policy(pb::UpdateSlaPolicyRequest {
            policy: Some(pb::SlaPolicy {
                id: "high".into(),
                acknowledge_within: minutes(30),
                etag,
                ..Default::default()
            }),
            update_mask: mask(&["acknowledge_within"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(faster.acknowledge_within, minutes(30));
    assert_eq!(faster.first_response_within, hours(4));
    sla.delete_sla_policy(pb::DeleteSlaPolicyRequest {
        id: "vip-complaints".into(),
        etag: made.etag,
    })
    .await
    .unwrap();
    let gone = sla
        .get_sla_policy(pb::GetSlaPolicyRequest {
            id: "vip-complaints".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    s.stop().await;
}

/// A server whose clock stands at `start` (no scheduler), with the HIGH policy around the
/// clock and a team "desk" where ann is online.
async fn desk_at(backend: Backend, start: DateTime<Utc>) -> (ManualClock, TestServer, Sla, Client) {
    let clock = ManualClock::new(start);
    let s = start_on(Arc::new(TestDb::new(backend).await), &clock, false).await;
    let mut sla = sla(&s).await;
    let mut routing = s.routing().await;
    let c = s.client().await;
    around_the_clock(&mut sla, "high").await;
    product_team(&mut routing, "desk", "", &[("ann", true)], "").await;
    (clock, s, sla, c)
}

/// Intake keeps the policies it last read while nothing changes them: a change must still
/// time the very next ticket, and a ticket taken in before it keeps its deadline.
async fn a_changed_policy_times_the_next_ticket(backend: Backend) {
    let start = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
    let (clock, s, mut sla, mut c) = desk_at(backend, start).await;
    let min = chrono::Duration::minutes;
    let (complaint, high) = (pb::TicketKind::Complaint, pb::Priority::High);

    let first = ticket(&mut c, "desk", complaint, high)
        .await
        .ticket
        .unwrap();
    assert_eq!(
        time(&sla_clock(&first, T::Acknowledge).due_time),
        start + min(60)
    );
    let etag = policy(&mut sla, "high").await.etag;
    sla.update_sla_policy(pb::UpdateSlaPolicyRequest {
        policy: Some(pb::SlaPolicy {
            id: "high".into(),
            acknowledge_within: minutes(20),
            etag,
            ..Default::default()
        }),
        update_mask: mask(&["acknowledge_within"]),
    })
    .await
    .unwrap();
    clock.advance(min(5));
    let second = ticket(&mut c, "desk", complaint, high)
        .await
        .ticket
        .unwrap();
    assert_eq!(
        time(&sla_clock(&second, T::Acknowledge).due_time),
        start + min(5) + min(20)
    );
    let first = c
        .get_ticket(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::TicketId(first.id)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        time(&sla_clock(&first, T::Acknowledge).due_time),
        start + min(60)
    );
    s.stop().await;
}

fn shanghai(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 11, d, h, m, 0)
        .unwrap()
        .with_timezone(&Utc)
}

async fn deadlines_count_working_time(backend: Backend) {
    // Friday 27 November 2026, 17:30 in Shanghai.
    let clock = ManualClock::new(shanghai(27, 17, 30));
    let s = start_on(Arc::new(TestDb::new(backend).await), &clock, false).await;
    let mut sla = sla(&s).await;
    let mut routing = s.routing().await;
    let mut c = s.client().await;
    sla.create_calendar(pb::CreateCalendarRequest {
        calendar: Some(pb::Calendar {
            id: "shanghai".into(),
            time_zone: "Asia/Shanghai".into(),
            weekly_hours: weekdays(&[period("09:00", "12:00"), period("13:00", "18:00")]),
            holidays: vec!["2026-11-30".into()],
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    sla.create_calendar(pb::CreateCalendarRequest {
        calendar: Some(pb::Calendar {
            id: "new-york".into(),
            time_zone: "America/New_York".into(),
            weekly_hours: weekdays(&[period("09:00", "17:00")]),
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    // Someone is on duty at the desk, so its customers are promised a time.
    product_team(&mut routing, "desk", "shanghai", &[("dan", true)], "").await;
    product_team(&mut routing, "ny", "new-york", &[], "").await;

    // HIGH: acknowledge within 1 h and answer within 4 h of business time. Half an hour is
    // left on Friday; Saturday, Sunday and the holiday on Monday are off; Tuesday counts
    // 09:00-12:00, then after lunch from 13:00.
    let created = ticket(
        &mut c,
        "desk",
        pb::TicketKind::Complaint,
        pb::Priority::High,
    )
    .await;
    let t = created.ticket.clone().unwrap();
    assert_eq!(t.sla.as_ref().unwrap().policy, "high");
    assert_eq!(t.sla.as_ref().unwrap().calendar, "shanghai");
    assert_eq!(
        time(&sla_clock(&t, T::Acknowledge).due_time),
        Utc.with_ymd_and_hms(2026, 12, 1, 1, 30, 0).unwrap(),
        "Tuesday 1 December 09:30 in Shanghai"
    );
    assert_eq!(
        time(&sla_clock(&t, T::FirstResponse).due_time),
        Utc.with_ymd_and_hms(2026, 12, 1, 5, 30, 0).unwrap(),
        "Tuesday 1 December 13:30 in Shanghai"
    );
    assert!(!created.off_hours);
    assert_eq!(
        time(&created.expected_response_by),
        Utc.with_ymd_and_hms(2026, 12, 1, 5, 30, 0).unwrap()
    );
    assert!(
        created
            .acknowledgement
            .ends_with("We will get back to you by Tuesday 1 December 13:30 (Asia/Shanghai)."),
        "{}",
        created.acknowledgement
    );
    assert_eq!(created.expected_response_within, hours(4));

    // On Saturday the team is off: the customer is told, and when to expect the answer.
    clock.advance(chrono::Duration::hours(17));
    let weekend = ticket(
        &mut c,
        "desk",
        pb::TicketKind::Complaint,
        pb::Priority::High,
    )
    .await;
    assert!(weekend.off_hours);
    assert_eq!(
        time(
            &weekend
                .ticket
                .as_ref()
                .unwrap()
                .sla
                .as_ref()
                .unwrap()
                .off_hours_until
        ),
        Utc.with_ymd_and_hms(2026, 12, 1, 1, 0, 0).unwrap(),
        "Tuesday 09:00 in Shanghai, after the holiday"
    );
    assert!(
        weekend.acknowledgement.ends_with(
            "reached us outside our working hours; we are back Tuesday 1 December 09:00 \
             (Asia/Shanghai), and will get back to you by Tuesday 1 December 14:00 \
             (Asia/Shanghai)."
        ),
        "{}",
        weekend.acknowledgement
    );

    // New York falls back to standard time on Sunday 1 November: Friday 30 October 16:00
    // EDT plus 4 working hours of 09:00-17:00 is Monday 12:00 EST, 17:00 UTC (not 16:00).
    let ny = chrono_tz::America::New_York
        .with_ymd_and_hms(2026, 10, 30, 16, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    clock.set(ny);
    let fall = ticket(&mut c, "ny", pb::TicketKind::Complaint, pb::Priority::High).await;
    assert_eq!(
        time(&sla_clock(fall.ticket.as_ref().unwrap(), T::FirstResponse).due_time),
        Utc.with_ymd_and_hms(2026, 11, 2, 17, 0, 0).unwrap()
    );

    // URGENT counts calendar time, nights and weekends included.
    let urgent = ticket(
        &mut c,
        "desk",
        pb::TicketKind::Complaint,
        pb::Priority::Urgent,
    )
    .await;
    let u = urgent.ticket.unwrap();
    assert_eq!(u.sla.as_ref().unwrap().calendar, "");
    assert_eq!(
        time(&sla_clock(&u, T::Resolution).due_time),
        ny + chrono::Duration::hours(24)
    );
    assert!(
        urgent.acknowledgement.ends_with(
            "reached us outside our working hours; we will still get back to you within 1 \
             hour."
        ),
        "{}",
        urgent.acknowledgement
    );
    s.stop().await;
}

async fn clocks_pause_resume_restart_and_recount(backend: Backend) {
    let start = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
    let (clock, s, mut sla, mut c) = desk_at(backend, start).await;
    let min = chrono::Duration::minutes;

    // URGENT: acknowledge 15 min, respond 1 h, resolve 24 h, around the clock.
    let t = ticket(
        &mut c,
        "desk",
        pb::TicketKind::Problem,
        pb::Priority::Urgent,
    )
    .await
    .ticket
    .unwrap();
    assert_eq!(t.assignee, "ann");
    assert_eq!(
        time(&sla_clock(&t, T::FirstResponse).due_time),
        start + min(60)
    );
    clock.advance(min(10));
    c.acknowledge_ticket(pb::AcknowledgeTicketRequest {
        ticket_id: t.id,
        agent: "ann".into(),
        ..Default::default()
    })
    .await
    .unwrap();

    // 20 minutes in, the ticket waits on the customer for two hours: nothing counts.
    clock.advance(min(10));
    c.set_pending(pb::SetPendingRequest {
        ticket_id: t.id,
        reason: "order number?".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let waiting = c
        .list_tickets(pb::ListTicketsRequest {
            sla_due_before: Some(prost_types::Timestamp {
                seconds: (start + chrono::Duration::days(30)).timestamp(),
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert!(waiting.is_empty(), "paused clocks are due at no time");
    clock.advance(min(120));
    let resumed = c
        .resume_ticket(pb::ResumeTicketRequest {
            ticket_id: t.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    // 40 of the 60 minutes are left, from now.
    assert_eq!(
        time(&sla_clock(&resumed, T::FirstResponse).due_time),
        start + min(140 + 40)
    );
    assert_eq!(
        sla_clock(&resumed, T::FirstResponse).paused,
        minutes(120),
        "the pause is kept"
    );
    let due_soon = c
        .list_tickets(pb::ListTicketsRequest {
            sla_due_before: Some(prost_types::Timestamp {
                seconds: (start + min(181)).timestamp(),
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert_eq!(
        due_soon.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![t.id]
    );

    // Ten minutes later it drops to HIGH: 4 h to respond, 30 min used, so 3 h 30 min left.
    clock.advance(min(10));
    let lowered = c
        .update_ticket(pb::UpdateTicketRequest {
            ticket: Some(pb::Ticket {
                id: t.id,
                priority: pb::Priority::High.into(),
                ..Default::default()
            }),
            update_mask: mask(&["priority"]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(lowered.sla.as_ref().unwrap().policy, "high");
    assert_eq!(
        time(&sla_clock(&lowered, T::FirstResponse).due_time),
        start + min(150 + 210)
    );
    assert_eq!(
        time(&sla_clock(&lowered, T::Resolution).due_time),
        start + min(150) + chrono::Duration::days(3) - min(30),
        "resolution: 3 d of budget, 30 min used"
    );

    // The first reply meets the response target; the resolve meets resolution.
    clock.advance(min(5));
    c.add_comment(pb::AddCommentRequest {
        ticket_id: t.id,
        body: "We are on it".into(),
        visibility: pb::CommentVisibility::Public.into(),
        author: "ann".into(),
        author_role: pb::AuthorRole::Agent.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    clock.advance(min(60));
    let resolved = c
        .resolve_ticket(pb::ResolveTicketRequest {
            ticket_id: t.id,
            resolution_summary: "Found the parcel".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    for target in [T::Acknowledge, T::FirstResponse, T::Resolution] {
        assert_eq!(
            state(&resolved, target),
            pb::SlaClockState::Met,
            "{target:?}"
        );
    }

    // A reopen gives resolution its whole budget again, from now.
    clock.advance(min(30));
    let reopened = c
        .reopen_ticket(pb::ReopenTicketRequest {
            ticket_id: t.id,
            reason: "Still not here".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    let restarted = sla_clock(&reopened, T::Resolution);
    assert_eq!(
        (state(&reopened, T::Resolution), time(&restarted.due_time)),
        (
            pb::SlaClockState::Running,
            start + min(245) + chrono::Duration::days(3)
        )
    );
    assert_eq!(state(&reopened, T::FirstResponse), pb::SlaClockState::Met);

    assert_eq!(
        sla_events(&mut c, t.id).await,
        vec![
            (
                E::SlaStarted,
                vec![T::Acknowledge, T::FirstResponse, T::Resolution]
            ),
            (E::SlaMet, vec![T::Acknowledge]),
            (E::SlaPaused, vec![T::FirstResponse, T::Resolution]),
            (E::SlaResumed, vec![T::FirstResponse, T::Resolution]),
            (E::SlaRecomputed, vec![T::FirstResponse, T::Resolution]),
            (E::SlaMet, vec![T::FirstResponse]),
            (E::SlaMet, vec![T::Resolution]),
            (E::SlaRestarted, vec![T::Resolution]),
        ]
    );

    // ExplainSla tells the same story as of now, and why the due time is what it is.
    clock.advance(min(60));
    let explained = sla
        .explain_sla(pb::ExplainSlaRequest { ticket_id: t.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(explained.policy, "high");
    assert_eq!(explained.policy_scope, "HIGH tickets");
    assert_eq!(explained.timeline.len(), 8);
    assert!(
        explained.timeline[4]
            .reason
            .starts_with("priority URGENT → HIGH: policy high"),
        "{}",
        explained.timeline[4].reason
    );
    let resolution = explained
        .clocks
        .iter()
        .find(|c| c.clock.as_ref().unwrap().target == T::Resolution as i32)
        .unwrap();
    assert_eq!(resolution.clock.as_ref().unwrap().elapsed, hours(1));
    assert_eq!(resolution.remaining, hours(71));
    assert!(
        resolution
            .why
            .starts_with("3 d of calendar time (24×7), started"),
        "{}",
        resolution.why
    );
    assert!(
        resolution.why.contains("1 h used") && resolution.why.contains("2 d 23 h left, due"),
        "used and left add up to the budget: {}",
        resolution.why
    );
    let missing = sla
        .explain_sla(pb::ExplainSlaRequest { ticket_id: 999_999 })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let unnamed = sla
        .explain_sla(pb::ExplainSlaRequest { ticket_id: 0 })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&unnamed), vec!["ticket_id"]);
    s.stop().await;
}

async fn at_risk_and_breach_fire_once_across_two_schedulers(backend: Backend) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap());
    let db = Arc::new(TestDb::new(backend).await);
    let one = start_on(db.clone(), &clock, true).await;
    let two = start_on(db, &clock, true).await;
    let mut c = one.client().await;
    product_team(&mut one.routing().await, "desk", "", &[], "").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let t = ticket(
            &mut c,
            "desk",
            pb::TicketKind::Problem,
            pb::Priority::Urgent,
        )
        .await;
        ids.push(t.ticket.unwrap().id);
    }
    // Twelve minutes is 80 % of the 15 to acknowledge; fifteen is all of it.
    clock.advance(chrono::Duration::minutes(12));
    for &id in &ids {
        wait_for(&mut c, id, "at risk", |h| {
            count(h, E::SlaAtRisk, T::Acknowledge) > 0
        })
        .await;
    }
    clock.advance(chrono::Duration::minutes(3));
    for &id in &ids {
        wait_for(&mut c, id, "breached", |h| {
            count(h, E::SlaBreached, T::Acknowledge) > 0
        })
        .await;
    }
    // Give both loops more passes: each round needs one of them to see a new ticket at risk.
    let mut sentinels = Vec::new();
    for round in 0..2 {
        let sentinel = ticket(
            &mut c,
            "desk",
            pb::TicketKind::Problem,
            pb::Priority::Urgent,
        )
        .await
        .ticket
        .unwrap()
        .id;
        clock.advance(chrono::Duration::minutes(13));
        wait_for(
            &mut c,
            sentinel,
            &format!("sentinel {round} at risk"),
            |h| count(h, E::SlaAtRisk, T::Acknowledge) > 0,
        )
        .await;
        sentinels.push(sentinel);
    }
    // The first sentinel breached in the second round; the second is at risk, not yet due.
    wait_for(&mut c, sentinels[0], "sentinel breached", |h| {
        count(h, E::SlaBreached, T::Acknowledge) > 0
    })
    .await;
    let mut two_client = two.client().await;
    for &id in &ids {
        let history = events(&mut two_client, id).await;
        assert_eq!(
            count(&history, E::SlaAtRisk, T::Acknowledge),
            1,
            "ticket {id}"
        );
        assert_eq!(
            count(&history, E::SlaBreached, T::Acknowledge),
            1,
            "ticket {id}"
        );
        let escalated: Vec<_> = history
            .iter()
            .filter(|e| e.r#type == E::SlaEscalated as i32)
            .collect();
        assert_eq!(escalated.len(), 1, "level 1 once: {escalated:?}");
        assert_eq!(escalated[0].sla.as_ref().unwrap().escalation_level, 1);
    }
    let breached = c
        .list_tickets(pb::ListTicketsRequest {
            sla_breached: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tickets;
    let mut expected = ids.clone();
    expected.push(sentinels[0]);
    assert_eq!(breached.iter().map(|t| t.id).collect::<Vec<_>>(), expected);
    let at_risk = c
        .list_tickets(pb::ListTicketsRequest {
            sla_at_risk: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert_eq!(
        at_risk.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![sentinels[1]],
        "a breached clock is no longer at risk"
    );
    two.stop().await;
    one.stop().await;
}

async fn each_escalation_action_happens_on_the_stream(backend: Backend) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap());
    let s = start_on(Arc::new(TestDb::new(backend).await), &clock, true).await;
    let mut sla = sla(&s).await;
    let mut routing = s.routing().await;
    let mut c = s.client().await;
    // ann works the desk, sue supervises it (OFFLINE, so the router never picks her);
    // eve works the escalations team.
    product_team(
        &mut routing,
        "desk",
        "",
        &[("ann", true), ("sue", false)],
        "sue",
    )
    .await;
    product_team(&mut routing, "escalations", "", &[("eve", true)], "").await;
    // One HIGH policy per kind, each with one level on a missed acknowledgement.
    use pb::EscalationAction::*;
    for (kind, actions, team) in [
        (
            pb::TicketKind::Complaint,
            vec![NotifySupervisor, ReassignToSupervisor],
            "",
        ),
        (pb::TicketKind::Problem, vec![ReassignToTeam], "escalations"),
        (pb::TicketKind::Inquiry, vec![RaisePriority], ""),
    ] {
        sla.create_sla_policy(pb::CreateSlaPolicyRequest {
            policy: Some(pb::SlaPolicy {
                id: format!("high-{}", kind.as_str_name().to_lowercase()),
                priority: pb::Priority::High.into(),
                kind: kind.into(),
                acknowledge_within: hours(1),
                first_response_within: hours(4),
                resolve_within: hours(24),
                basis: pb::SlaBasis::CalendarTime.into(),
                escalation_levels: vec![pb::EscalationLevel {
                    target: T::Acknowledge.into(),
                    trigger: pb::SlaTrigger::Breached.into(),
                    actions: actions.into_iter().map(Into::into).collect(),
                    team: team.into(),
                }],
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    }
    let mut stream = c
        .watch_tickets(pb::WatchTicketsRequest {
            after_cursor: Some(0),
            event_types: vec![E::SlaEscalated.into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut ids = Vec::new();
    for kind in [
        pb::TicketKind::Complaint,
        pb::TicketKind::Problem,
        pb::TicketKind::Inquiry,
    ] {
        let t = ticket(&mut c, "desk", kind, pb::Priority::High)
            .await
            .ticket
            .unwrap();
        assert_eq!(t.assignee, "ann");
        assert!(t.sla.as_ref().unwrap().policy.starts_with("high-"));
        ids.push(t.id);
    }
    // Nobody acknowledges within the hour.
    clock.advance(chrono::Duration::minutes(61));
    let mut escalated = Vec::new();
    while escalated.len() < 3 {
        let message = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("escalations arrive")
            .unwrap()
            .expect("the stream stays open");
        escalated.extend(message.events);
    }
    escalated.sort_by_key(|e| e.ticket_id);
    let detail = |e: &pb::TicketEvent| e.sla.clone().unwrap();
    let after = |e: &pb::TicketEvent| e.ticket.clone().unwrap();

    // The complaint: sue is told and takes it; ann stays its owner.
    let complaint = &escalated[0];
    assert_eq!(complaint.ticket_id, ids[0]);
    assert_eq!(detail(complaint).escalation_level, 1);
    assert_eq!(detail(complaint).notify, "sue");
    assert_eq!(
        (
            after(complaint).assignee.as_str(),
            after(complaint).owner.as_str()
        ),
        ("sue", "ann")
    );
    assert!(
        complaint
            .reason
            .contains("supervisor sue told; reassigned to supervisor sue"),
        "{}",
        complaint.reason
    );
    assert!(
        complaint
            .changes
            .iter()
            .any(|ch| ch.field == "assignee" && ch.after == "sue")
    );

    // sue is alerted, once: the alert says the ticket is hers now.
    let sent = c
        .list_ticket_events(pb::ListTicketEventsRequest {
            ticket_id: ids[0],
            event_types: vec![E::Notification.into()],
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let to_sue: Vec<(i32, String)> = sent
        .iter()
        .map(|e| e.notification.clone().unwrap())
        .filter(|n| {
            n.recipient.as_ref().unwrap().who
                == Some(pb::notification_recipient::Who::AgentId("sue".into()))
        })
        .map(|n| (n.kind, n.text))
        .collect();
    assert_eq!(
        to_sue.iter().map(|(kind, _)| *kind).collect::<Vec<_>>(),
        [pb::NotificationKind::Escalation as i32],
        "{to_sue:?}"
    );
    assert!(
        to_sue[0]
            .1
            .contains("escalated: level 1: ACKNOWLEDGE breached"),
        "{to_sue:?}"
    );

    // The problem: moved to the escalations team's queue, where eve picks it up.
    let problem = &escalated[1];
    assert_eq!(after(problem).team, "escalations");
    assert_eq!(after(problem).assignee, "");
    let history = wait_for(&mut c, ids[1], "eve's assignment", |h| {
        h.iter().any(|e| {
            e.r#type == E::TicketAssigned as i32 && e.ticket.as_ref().unwrap().assignee == "eve"
        })
    })
    .await;
    assert_eq!(
        history.last().unwrap().ticket.as_ref().unwrap().owner,
        "ann"
    );

    // The inquiry: one step more urgent, its clocks recounted by the urgent policy.
    let inquiry = &escalated[2];
    assert_eq!(after(inquiry).priority, pb::Priority::Urgent as i32);
    assert!(
        after(inquiry)
            .priority_reasons
            .iter()
            .any(|r| r.starts_with("URGENT: SLA escalation (level 1: ACKNOWLEDGE breached)")),
        "{:?}",
        after(inquiry).priority_reasons
    );
    let recounted = wait_for(&mut c, ids[2], "recount", |h| {
        h.iter().any(|e| e.r#type == E::SlaRecomputed as i32)
    })
    .await;
    let last = recounted.last().unwrap().ticket.clone().unwrap();
    assert_eq!(last.sla.as_ref().unwrap().policy, "urgent");
    assert!(last.sla.unwrap().escalation_level >= 1);

    // sue acknowledges late: the clock stays BREACHED, stops, and is not recorded again.
    let acknowledged = c
        .acknowledge_ticket(pb::AcknowledgeTicketRequest {
            ticket_id: ids[0],
            agent: "sue".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    let late = sla_clock(&acknowledged, T::Acknowledge);
    assert_eq!(late.state, pb::SlaClockState::Breached as i32);
    assert!(late.stop_time.is_some());
    let history = events(&mut c, ids[0]).await;
    assert_eq!(count(&history, E::SlaBreached, T::Acknowledge), 1);
    let explained = sla
        .explain_sla(pb::ExplainSlaRequest { ticket_id: ids[0] })
        .await
        .unwrap()
        .into_inner();
    let why = &explained.clocks[0].why;
    assert!(why.contains("reached at") && why.contains("over)"), "{why}");
    assert_eq!(explained.escalation_level, 1);

    let level = c
        .get_ticket(pb::GetTicketRequest {
            key: Some(pb::get_ticket_request::Key::TicketId(ids[0])),
        })
        .await
        .unwrap()
        .into_inner()
        .sla
        .unwrap()
        .escalation_level;
    assert_eq!(level, 1, "the level is kept on the ticket");
    s.stop().await;
}
