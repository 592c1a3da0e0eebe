//! SlaService.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use tonic::Request;

use super::convert;
use super::paging;
use super::validate::{Check, key, only_key, patch};
use super::{Context, Reply, etag, reply};
use crate::domain::calendar::{BusinessCalendar, Calendar, CalendarError, Period};
use crate::domain::sla::{self, Basis, EscalationAction, EscalationLevel, Policy, Targets};
use crate::domain::ticket::limits;
use crate::error::Error;
use crate::proto::feedback::v1::{self as pb, sla_service_server::SlaService};

const MAX_LEVELS: usize = 10;
const MAX_DATES: usize = 400;
/// The longest SLA target.
const MAX_TARGET: Duration = Duration::days(365);

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
        match value.map(convert::from_duration) {
            None => check.add(field, "is required"),
            Some(Some(d)) if d >= Duration::minutes(1) && d <= MAX_TARGET => return d,
            Some(_) => check.add(field, "must be from 1 minute to 365 days"),
        }
        Duration::zero()
    };
    let targets = Targets {
        acknowledge: target("acknowledge_within", p.acknowledge_within.as_ref()),
        first_response: target("first_response_within", p.first_response_within.as_ref()),
        resolution: target("resolve_within", p.resolve_within.as_ref()),
    };
    if p.escalation_levels.len() > MAX_LEVELS {
        check.add(
            "policy.escalation_levels",
            format!("at most {MAX_LEVELS} levels"),
        );
    }
    let escalations = p
        .escalation_levels
        .iter()
        .enumerate()
        .map(|(i, l)| level(check, &format!("policy.escalation_levels[{i}]"), l))
        .collect();
    Policy {
        id,
        display_name,
        priority: check
            .required_enum("policy.priority", p.priority)
            .unwrap_or(crate::domain::ticket::Priority::Low),
        kind: check.optional_enum("policy.kind", p.kind),
        tier: check.optional_enum("policy.tier", p.tier),
        targets,
        basis: check
            .required_enum("policy.basis", p.basis)
            .unwrap_or(Basis::CalendarTime),
        escalations,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn level(check: &mut Check, field: &str, l: &pb::EscalationLevel) -> EscalationLevel {
    let actions: Vec<EscalationAction> = check.enums(&format!("{field}.actions"), &l.actions);
    let distinct: BTreeSet<_> = actions.iter().collect();
    if actions.is_empty() || actions.len() > 4 || distinct.len() != actions.len() {
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
        target: check
            .required_enum(&format!("{field}.target"), l.target)
            .unwrap_or(sla::Target::Acknowledge),
        trigger: check
            .required_enum(&format!("{field}.trigger"), l.trigger)
            .unwrap_or(sla::Trigger::Breached),
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
    for (i, day) in c.weekly_hours.iter().enumerate() {
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
    if c.holidays.len() > MAX_DATES {
        check.add("calendar.holidays", format!("at most {MAX_DATES} dates"));
    }
    let holidays: BTreeSet<NaiveDate> = c
        .holidays
        .iter()
        .enumerate()
        .filter_map(|(i, d)| date(check, &format!("calendar.holidays[{i}]"), d))
        .collect();
    if c.extra_working_days.len() > MAX_DATES {
        check.add(
            "calendar.extra_working_days",
            format!("at most {MAX_DATES} dates"),
        );
    }
    let mut extra_days = BTreeMap::new();
    for (i, day) in c.extra_working_days.iter().enumerate() {
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
    let calendar = Calendar::new(zone, week, holidays, extra_days).unwrap_or_else(|error| {
        // Overlaps name a weekday or a date; a calendar without working time, the week.
        let field = match &error {
            CalendarError::Overlap(day) if day.parse::<NaiveDate>().is_ok() => {
                "calendar.extra_working_days"
            }
            _ => "calendar.weekly_hours",
        };
        check.add(field, error.to_string());
        Calendar::always()
    });
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
    given
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let period = Period::parse(p.start.trim(), p.end.trim());
            if period.is_none() {
                check.add(
                    format!("{field}.periods[{i}]"),
                    format!(
                        "{:?}-{:?} is not a period: HH:MM to a later HH:MM (24:00 at most)",
                        p.start, p.end
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
        check.add(field, format!("{value:?} is not a date: YYYY-MM-DD"));
    }
    parsed
}

#[tonic::async_trait]
impl SlaService for SlaApi {
    async fn create_sla_policy(
        &self,
        request: Request<pb::CreateSlaPolicyRequest>,
    ) -> Reply<pb::SlaPolicy> {
        let r = request.into_inner();
        reply(
            async {
                let Some(given) = r.policy else {
                    return Err(Error::invalid("policy", "is required"));
                };
                let mut check = Check::new();
                let new = policy(&mut check, &given, self.cx.now());
                check.finish()?;
                Ok(convert::policy(self.cx.store.create_policy(new).await?))
            }
            .await,
        )
    }

    async fn get_sla_policy(
        &self,
        request: Request<pb::GetSlaPolicyRequest>,
    ) -> Reply<pb::SlaPolicy> {
        let r = request.into_inner();
        reply(
            async {
                let id = only_key("id", &r.id)?;
                Ok(convert::policy(self.cx.store.get_policy(&id).await?))
            }
            .await,
        )
    }

    async fn list_sla_policies(
        &self,
        request: Request<pb::ListSlaPoliciesRequest>,
    ) -> Reply<pb::ListSlaPoliciesResponse> {
        let r = request.into_inner();
        let store = &self.cx.store;
        reply(
            async {
                let (policies, next_page_token) = paging::by_id(
                    &pb::ListSlaPoliciesRequest::default(),
                    r.page_size,
                    &r.page_token,
                    |after, limit| async move { store.list_policies(after.as_deref(), limit).await },
                    convert::policy,
                    |x| x.id.clone(),
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
        let r = request.into_inner();
        reply(
            async {
                let Some(given) = r.policy else {
                    return Err(Error::invalid(
                        "policy",
                        "is required: set policy.id and the new values",
                    ));
                };
                let mut check = Check::new();
                let (paths, new) = patch(
                    &mut check,
                    "policy",
                    r.update_mask.as_ref(),
                    &[
                        "display_name",
                        "kind",
                        "tier",
                        "acknowledge_within",
                        "first_response_within",
                        "resolve_within",
                        "basis",
                        "escalation_levels",
                    ],
                    |check| policy(check, &given, self.cx.now()),
                );
                check.finish()?;
                let updated = self
                    .cx
                    .store
                    .update_policy(&new.id, etag(&r.etag), self.cx.now(), |p| {
                        for path in &paths {
                            match path.as_str() {
                                "display_name" => p.display_name = new.display_name.clone(),
                                "kind" => p.kind = new.kind,
                                "tier" => p.tier = new.tier,
                                "acknowledge_within" => {
                                    p.targets.acknowledge = new.targets.acknowledge
                                }
                                "first_response_within" => {
                                    p.targets.first_response = new.targets.first_response
                                }
                                "resolve_within" => p.targets.resolution = new.targets.resolution,
                                "basis" => p.basis = new.basis,
                                "escalation_levels" => p.escalations = new.escalations.clone(),
                                other => unreachable!("mask path {other} passed the check"),
                            }
                        }
                        Ok(())
                    })
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
        let r = request.into_inner();
        reply(
            async {
                let id = only_key("id", &r.id)?;
                self.cx.store.delete_policy(&id, etag(&r.etag)).await?;
                Ok(pb::DeleteSlaPolicyResponse {})
            }
            .await,
        )
    }

    async fn create_calendar(
        &self,
        request: Request<pb::CreateCalendarRequest>,
    ) -> Reply<pb::Calendar> {
        let r = request.into_inner();
        reply(
            async {
                let Some(given) = r.calendar else {
                    return Err(Error::invalid("calendar", "is required"));
                };
                let mut check = Check::new();
                let new = calendar(&mut check, &given, self.cx.now());
                check.finish()?;
                Ok(convert::calendar(self.cx.store.create_calendar(new).await?))
            }
            .await,
        )
    }

    async fn get_calendar(&self, request: Request<pb::GetCalendarRequest>) -> Reply<pb::Calendar> {
        let r = request.into_inner();
        reply(
            async {
                let id = only_key("id", &r.id)?;
                Ok(convert::calendar(self.cx.store.get_calendar(&id).await?))
            }
            .await,
        )
    }

    async fn list_calendars(
        &self,
        request: Request<pb::ListCalendarsRequest>,
    ) -> Reply<pb::ListCalendarsResponse> {
        let r = request.into_inner();
        let store = &self.cx.store;
        reply(
            async {
                let (calendars, next_page_token) =
                    paging::by_id(
                        &pb::ListCalendarsRequest::default(),
                        r.page_size,
                        &r.page_token,
                        |after, limit| async move {
                            store.list_calendars(after.as_deref(), limit).await
                        },
                        convert::calendar,
                        |x| x.id.clone(),
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
        let r = request.into_inner();
        reply(
            async {
                let Some(given) = r.calendar else {
                    return Err(Error::invalid(
                        "calendar",
                        "is required: set calendar.id and the new values",
                    ));
                };
                let mut check = Check::new();
                let (paths, _) = patch(
                    &mut check,
                    "calendar",
                    r.update_mask.as_ref(),
                    &[
                        "display_name",
                        "time_zone",
                        "weekly_hours",
                        "holidays",
                        "extra_working_days",
                    ],
                    |check| calendar(check, &given, self.cx.now()),
                );
                check.finish()?;
                let id = given.id.trim().to_owned();
                let updated = self
                    .cx
                    .store
                    .update_calendar(&id, etag(&r.etag), self.cx.now(), |c| {
                        // The masked fields from the request, the others as stored; the whole
                        // is checked again, since periods and days only make sense together.
                        let mut merged = convert::calendar(c.clone());
                        for path in &paths {
                            match path.as_str() {
                                "display_name" => merged.display_name = given.display_name.clone(),
                                "time_zone" => merged.time_zone = given.time_zone.clone(),
                                "weekly_hours" => merged.weekly_hours = given.weekly_hours.clone(),
                                "holidays" => merged.holidays = given.holidays.clone(),
                                "extra_working_days" => {
                                    merged.extra_working_days = given.extra_working_days.clone()
                                }
                                other => unreachable!("mask path {other} passed the check"),
                            }
                        }
                        let mut check = Check::new();
                        let new = calendar(&mut check, &merged, c.updated_at);
                        check.finish()?;
                        c.display_name = new.display_name;
                        c.calendar = new.calendar;
                        Ok(())
                    })
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
        let r = request.into_inner();
        reply(
            async {
                let id = only_key("id", &r.id)?;
                self.cx.store.delete_calendar(&id, etag(&r.etag)).await?;
                Ok(pb::DeleteCalendarResponse {})
            }
            .await,
        )
    }

    async fn explain_sla(
        &self,
        request: Request<pb::ExplainSlaRequest>,
    ) -> Reply<pb::ExplainSlaResponse> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = check.id("ticket_id", r.ticket_id);
                check.finish()?;
                let now = self.cx.now();
                let ticket = self.cx.store.get_ticket(id).await?;
                let catalog = self.cx.store.catalog().await?;
                let s = &ticket.sla;
                let calendar = catalog.calendar(s.calendar.as_deref());
                let policy = s
                    .policy
                    .as_deref()
                    .and_then(|id| catalog.policies.iter().find(|p| p.id == id));
                let clocks = s
                    .clocks
                    .iter()
                    .map(|c| pb::ClockExplanation {
                        clock: Some(convert::sla_clock(c, c.elapsed(now, &calendar), now)),
                        remaining: Some(convert::duration(if !c.is_reached() {
                            c.remaining(now, &calendar)
                        } else {
                            Duration::zero()
                        })),
                        why: sla::explain(c, s, &calendar, now),
                    })
                    .collect();
                let events = self.cx.store.sla_events(id).await?;
                let timeline = events
                    .into_iter()
                    .map(|e| {
                        let note = e.sla.unwrap_or_default();
                        pb::SlaTimelineEntry {
                            time: Some(convert::timestamp(e.occurred_at)),
                            r#type: pb::EventType::from(e.event_type).into(),
                            targets: note
                                .targets
                                .into_iter()
                                .map(|t| pb::SlaTarget::from(t).into())
                                .collect(),
                            reason: e.reason.unwrap_or_default(),
                            escalation_level: note.escalation.map_or(0, |x| x.level as i32),
                            cursor: e.cursor,
                        }
                    })
                    .collect();
                Ok(pb::ExplainSlaResponse {
                    ticket_number: ticket.number.clone(),
                    policy: s.policy.clone().unwrap_or_default(),
                    policy_scope: policy.map(Policy::scope).unwrap_or_default(),
                    basis: policy.map_or(0, |p| pb::SlaBasis::from(p.basis).into()),
                    calendar: s
                        .calendar
                        .as_ref()
                        .map(|id| format!("{id}: {}", calendar.describe()))
                        .unwrap_or_default(),
                    clocks,
                    timeline,
                    escalation_level: s.escalation_level as i32,
                    as_of: Some(convert::timestamp(now)),
                })
            }
            .await,
        )
    }
}
