//! SlaService.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use tonic::Request;

use super::check::{Check, given, key, only_key};
use super::mask::patch;
use super::paging::by_id;
use super::{Context, Reply, caller, convert, etag, reply};
use crate::app::sla::ClockExplanation;
use crate::domain::calendar::{BusinessCalendar, Calendar, Period};
use crate::domain::error::quote;
use crate::domain::patch::{Field, Patch};
use crate::domain::sla::{self, Basis, EscalationAction, EscalationLevel, Policy, Targets};
use crate::domain::ticket::{Priority, limits};
use crate::proto::feedback::v1::{self as pb, sla_service_server::SlaService};

const MAX_LEVELS: usize = 10;
const MAX_DATES: usize = 400;
/// Most working periods in a day.
const MAX_PERIODS: usize = 24;
/// The shortest and the longest SLA target.
const MIN_TARGET: Duration = Duration::minutes(1);
const MAX_TARGET: Duration = Duration::days(365);

/// The fields UpdateSlaPolicy may change.
const POLICY_FIELDS: &[Field<Policy, Policy>] = &[
    ("display_name", |p, v| {
        p.display_name = v.display_name.clone()
    }),
    ("kind", |p, v| p.kind = v.kind),
    ("tier", |p, v| p.tier = v.tier),
    ("acknowledge_within", |p, v| {
        p.targets.acknowledge = v.targets.acknowledge
    }),
    ("first_response_within", |p, v| {
        p.targets.first_response = v.targets.first_response
    }),
    ("resolve_within", |p, v| {
        p.targets.resolution = v.targets.resolution
    }),
    ("basis", |p, v| p.basis = v.basis),
    ("escalation_levels", |p, v| {
        p.escalations = v.escalations.clone()
    }),
];

/// The fields UpdateCalendar may change; the calendar is checked again as a whole.
const CALENDAR_FIELDS: &[Field<BusinessCalendar, BusinessCalendar>] = &[
    ("display_name", |c, v| {
        c.display_name = v.display_name.clone()
    }),
    ("time_zone", |c, v| c.calendar.set_zone(v.calendar.zone())),
    ("weekly_hours", |c, v| {
        c.calendar.set_week(v.calendar.week().clone())
    }),
    ("holidays", |c, v| {
        c.calendar.set_holidays(v.calendar.holidays().clone())
    }),
    ("extra_working_days", |c, v| {
        c.calendar.set_extra_days(v.calendar.extra_days().clone())
    }),
];

/// The SlaService handlers.
pub struct SlaApi {
    cx: Context,
}

impl SlaApi {
    pub fn new(cx: Context) -> Self {
        Self { cx }
    }
}

/// A policy from a request.
fn policy(check: &mut Check, p: &pb::SlaPolicy, now: DateTime<Utc>) -> Policy {
    let id = key(check, "policy.id", &p.id);
    let display_name = check
        .optional_text("policy.display_name", &p.display_name, limits::NAME)
        .unwrap_or_else(|| id.clone());
    let mut target = |field: &str, value: Option<&prost_types::Duration>| {
        let field = format!("policy.{field}");
        match value {
            None => check.add(field, "is required"),
            Some(d) => return check.duration(&field, d, MIN_TARGET, MAX_TARGET),
        }
        None
    };
    let mut target = |field: &str, value| target(field, value).unwrap_or(MIN_TARGET);
    let targets = Targets {
        acknowledge: target("acknowledge_within", p.acknowledge_within.as_ref()),
        first_response: target("first_response_within", p.first_response_within.as_ref()),
        resolution: target("resolve_within", p.resolve_within.as_ref()),
    };
    let escalations = if check.at_most(
        "policy.escalation_levels",
        p.escalation_levels.len(),
        MAX_LEVELS,
    ) {
        p.escalation_levels
            .iter()
            .enumerate()
            .map(|(i, l)| level(check, &format!("policy.escalation_levels[{i}]"), l))
            .collect()
    } else {
        Vec::new()
    };
    Policy {
        id,
        display_name,
        priority: check.required::<Priority>("policy.priority", p.priority),
        kind: check.optional_enum("policy.kind", p.kind),
        tier: check.optional_enum("policy.tier", p.tier),
        targets,
        basis: check.required::<Basis>("policy.basis", p.basis),
        escalations,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn level(check: &mut Check, field: &str, l: &pb::EscalationLevel) -> EscalationLevel {
    let actions: Vec<EscalationAction> = check.enums(&format!("{field}.actions"), &l.actions, 4);
    if actions.is_empty() || actions.len() != l.actions.len() {
        check.add(format!("{field}.actions"), "needs 1 to 4 distinct actions");
    }
    let moves = actions.contains(&EscalationAction::ReassignToTeam);
    let team = match (moves, l.team.trim()) {
        (true, "") => {
            check.add(format!("{field}.team"), "is required with REASSIGN_TO_TEAM");
            None
        }
        (true, team) => Some(key(check, &format!("{field}.team"), team)),
        (false, "") => None,
        (false, _) => {
            check.add(format!("{field}.team"), "is only for REASSIGN_TO_TEAM");
            None
        }
    };
    EscalationLevel {
        target: check.required::<sla::Target>(&format!("{field}.target"), l.target),
        trigger: check.required::<sla::Trigger>(&format!("{field}.trigger"), l.trigger),
        actions,
        team,
    }
}

/// A calendar from a request.
fn calendar(check: &mut Check, c: &pb::Calendar, now: DateTime<Utc>) -> BusinessCalendar {
    let id = key(check, "calendar.id", &c.id);
    let display_name = check
        .optional_text("calendar.display_name", &c.display_name, limits::NAME)
        .unwrap_or_else(|| id.clone());
    let zone = match c.time_zone.trim() {
        "" => {
            check.add("calendar.time_zone", "is required, e.g. Asia/Shanghai");
            chrono_tz::UTC
        }
        given => check
            .time_zone("calendar.time_zone", given)
            .parse()
            .unwrap_or(chrono_tz::UTC),
    };
    let mut week: [Vec<Period>; 7] = Default::default();
    let mut seen = BTreeSet::new();
    let days = if check.at_most("calendar.weekly_hours", c.weekly_hours.len(), 7) {
        c.weekly_hours.as_slice()
    } else {
        &[]
    };
    for (i, day) in days.iter().enumerate() {
        let field = format!("calendar.weekly_hours[{i}]");
        if !(1..=7).contains(&day.weekday) {
            check.add(
                format!("{field}.weekday"),
                "must be 1 (Monday) to 7 (Sunday)",
            );
            continue;
        }
        if !seen.insert(day.weekday) {
            check.add(format!("{field}.weekday"), "is listed twice");
        }
        week[(day.weekday - 1) as usize] = periods(check, &field, &day.periods);
    }
    let holidays: BTreeSet<NaiveDate> =
        if check.at_most("calendar.holidays", c.holidays.len(), MAX_DATES) {
            c.holidays
                .iter()
                .enumerate()
                .filter_map(|(i, d)| date(check, &format!("calendar.holidays[{i}]"), d))
                .collect()
        } else {
            BTreeSet::new()
        };
    let extra = if check.at_most(
        "calendar.extra_working_days",
        c.extra_working_days.len(),
        MAX_DATES,
    ) {
        c.extra_working_days.as_slice()
    } else {
        &[]
    };
    let mut extra_days = BTreeMap::new();
    for (i, day) in extra.iter().enumerate() {
        let field = format!("calendar.extra_working_days[{i}]");
        let periods = periods(check, &field, &day.periods);
        if periods.is_empty() {
            check.add(format!("{field}.periods"), "needs at least one period");
        }
        if let Some(date) = date(check, &format!("{field}.date"), &day.date)
            && extra_days.insert(date, periods).is_some()
        {
            check.add(format!("{field}.date"), "is listed twice");
        }
    }
    // Kept part by part even when the whole is no calendar: an update takes the parts it
    // names, and the whole is checked again once merged.
    let mut calendar = Calendar::always();
    calendar.set_zone(zone);
    calendar.set_week(week);
    calendar.set_holidays(holidays);
    calendar.set_extra_days(extra_days);
    if let Err(error) = calendar.check() {
        check.add(format!("calendar.{}", error.field()), error.to_string());
    }
    BusinessCalendar {
        id,
        display_name,
        calendar,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn periods(check: &mut Check, field: &str, given: &[pb::WorkingPeriod]) -> Vec<Period> {
    if !check.at_most(&format!("{field}.periods"), given.len(), MAX_PERIODS) {
        return Vec::new();
    }
    given
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let period = Period::parse(p.start.trim(), p.end.trim());
            if period.is_none() {
                check.add(
                    format!("{field}.periods[{i}]"),
                    format!(
                        "{}-{} is not a period: HH:MM to a later HH:MM (24:00 at most)",
                        quote(&p.start),
                        quote(&p.end)
                    ),
                );
            }
            period
        })
        .collect()
}

fn date(check: &mut Check, field: &str, value: &str) -> Option<NaiveDate> {
    let parsed = NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").ok();
    if parsed.is_none() {
        check.add(field, format!("{} is not a date: YYYY-MM-DD", quote(value)));
    }
    parsed
}

#[tonic::async_trait]
impl SlaService for SlaApi {
    async fn create_sla_policy(
        &self,
        request: Request<pb::CreateSlaPolicyRequest>,
    ) -> Reply<pb::SlaPolicy> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let given = given(&mut check, "policy", r.policy);
                let new = policy(&mut check, &given, self.cx.app.now());
                let new = check.finish(new)?;
                Ok(convert::policy(self.cx.app.create_policy(&by, new).await?))
            }
            .await,
        )
    }

    async fn get_sla_policy(
        &self,
        request: Request<pb::GetSlaPolicyRequest>,
    ) -> Reply<pb::SlaPolicy> {
        reply(
            async {
                let id = only_key("id", &request.get_ref().id)?;
                Ok(convert::policy(self.cx.app.policy(&id).await?))
            }
            .await,
        )
    }

    async fn list_sla_policies(
        &self,
        request: Request<pb::ListSlaPoliciesRequest>,
    ) -> Reply<pb::ListSlaPoliciesResponse> {
        let r = request.into_inner();
        reply(
            async {
                let app = &self.cx.app;
                let (policies, next_page_token) = by_id(
                    &r,
                    |after, rows| app.list_policies(after, rows),
                    convert::policy,
                    |p| p.id.clone(),
                )
                .await?;
                Ok(pb::ListSlaPoliciesResponse {
                    policies,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_sla_policy(
        &self,
        request: Request<pb::UpdateSlaPolicyRequest>,
    ) -> Reply<pb::SlaPolicy> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let given = given(&mut check, "policy", r.policy);
                let now = self.cx.app.now();
                let patch: Patch<Policy> = patch(
                    &mut check,
                    "policy",
                    r.update_mask.as_ref(),
                    POLICY_FIELDS,
                    |check| policy(check, &given, now),
                );
                check.done()?;
                let id = patch.value.id.clone();
                let updated = self
                    .cx
                    .app
                    .update_policy(&by, &id, etag(&given.etag), &patch)
                    .await?;
                Ok(convert::policy(updated))
            }
            .await,
        )
    }

    async fn delete_sla_policy(
        &self,
        request: Request<pb::DeleteSlaPolicyRequest>,
    ) -> Reply<pb::DeleteSlaPolicyResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let id = only_key("id", &r.id)?;
                self.cx.app.delete_policy(&by, &id, etag(&r.etag)).await?;
                Ok(pb::DeleteSlaPolicyResponse {})
            }
            .await,
        )
    }

    async fn create_calendar(
        &self,
        request: Request<pb::CreateCalendarRequest>,
    ) -> Reply<pb::Calendar> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let given = given(&mut check, "calendar", r.calendar);
                let new = calendar(&mut check, &given, self.cx.app.now());
                let new = check.finish(new)?;
                Ok(convert::calendar(
                    self.cx.app.create_calendar(&by, new).await?,
                ))
            }
            .await,
        )
    }

    async fn get_calendar(&self, request: Request<pb::GetCalendarRequest>) -> Reply<pb::Calendar> {
        reply(
            async {
                let id = only_key("id", &request.get_ref().id)?;
                Ok(convert::calendar(self.cx.app.calendar(&id).await?))
            }
            .await,
        )
    }

    async fn list_calendars(
        &self,
        request: Request<pb::ListCalendarsRequest>,
    ) -> Reply<pb::ListCalendarsResponse> {
        let r = request.into_inner();
        reply(
            async {
                let app = &self.cx.app;
                let (calendars, next_page_token) = by_id(
                    &r,
                    |after, rows| app.list_calendars(after, rows),
                    convert::calendar,
                    |c| c.id.clone(),
                )
                .await?;
                Ok(pb::ListCalendarsResponse {
                    calendars,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_calendar(
        &self,
        request: Request<pb::UpdateCalendarRequest>,
    ) -> Reply<pb::Calendar> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let given = given(&mut check, "calendar", r.calendar);
                let now = self.cx.app.now();
                let patch: Patch<BusinessCalendar> = patch(
                    &mut check,
                    "calendar",
                    r.update_mask.as_ref(),
                    CALENDAR_FIELDS,
                    |check| calendar(check, &given, now),
                );
                check.done()?;
                let id = patch.value.id.clone();
                let updated = self
                    .cx
                    .app
                    .update_calendar(&by, &id, etag(&given.etag), &patch)
                    .await?;
                Ok(convert::calendar(updated))
            }
            .await,
        )
    }

    async fn delete_calendar(
        &self,
        request: Request<pb::DeleteCalendarRequest>,
    ) -> Reply<pb::DeleteCalendarResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let id = only_key("id", &r.id)?;
                self.cx.app.delete_calendar(&by, &id, etag(&r.etag)).await?;
                Ok(pb::DeleteCalendarResponse {})
            }
            .await,
        )
    }

    async fn explain_sla(
        &self,
        request: Request<pb::ExplainSlaRequest>,
    ) -> Reply<pb::ExplainSlaResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = check.id("ticket_id", r.ticket_id);
                check.done()?;
                let e = self.cx.app.explain_sla(id, &by).await?;
                Ok(pb::ExplainSlaResponse {
                    ticket_number: e.ticket.number.clone(),
                    policy: e.ticket.sla.policy.clone().unwrap_or_default(),
                    policy_scope: e.policy.as_ref().map(Policy::scope).unwrap_or_default(),
                    basis: e
                        .policy
                        .as_ref()
                        .map_or(0, |p| pb::SlaBasis::from(p.basis).into()),
                    calendar: e
                        .calendar
                        .map(|(id, description)| format!("{id}: {description}"))
                        .unwrap_or_default(),
                    clocks: e
                        .clocks
                        .into_iter()
                        .map(|c| clock_explanation(c, e.as_of))
                        .collect(),
                    timeline: e
                        .timeline
                        .into_iter()
                        .map(convert::timeline_entry)
                        .collect(),
                    escalation_level: e.ticket.sla.escalation_level as i32,
                    tasks: e
                        .tasks
                        .into_iter()
                        .map(|t| pb::TaskClocksExplanation {
                            task_id: t.task.id,
                            team: t.task.team.clone(),
                            status: pb::TaskStatus::from(t.task.status).into(),
                            accept: Some(clock_explanation(t.accept, e.as_of)),
                            answer: Some(clock_explanation(t.answer, e.as_of)),
                        })
                        .collect(),
                    as_of: Some(convert::timestamp(e.as_of)),
                })
            }
            .await,
        )
    }
}

fn clock_explanation(c: ClockExplanation, as_of: DateTime<Utc>) -> pb::ClockExplanation {
    pb::ClockExplanation {
        clock: Some(convert::sla_clock(&c.clock, c.elapsed, as_of)),
        remaining: Some(convert::duration(c.remaining)),
        why: c.why,
    }
}
