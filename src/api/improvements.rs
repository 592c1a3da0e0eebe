//! InsightsService's top issues and improvements (整改).

use chrono::{DateTime, Utc};
use serde::Serialize;
use tonic::Request;

use super::check::{Check, key, optional_key, request_id};
use super::convert::{duration, timestamp};
use super::insights::InsightsApi;
use super::mask::patch;
use super::paging::Page;
use super::{Reply, caller, etag, reply};
use crate::domain::error::quote;
use crate::domain::idempotency::Requested;
use crate::domain::improvement::{self, Effect, Improvement, ImprovementFilter, Status, limits};
use crate::domain::insights::Ratio;
use crate::domain::patch::{Field, Patch};
use crate::domain::period::{LONGEST, Period};
use crate::domain::ticket::limits as ticket_limits;
use crate::domain::top_issues::{DEFAULT_LIMIT, IssueKey, MAX_LIMIT, TopIssue, TopIssuesReport};
use crate::proto::feedback::v1 as pb;

/// The fields UpdateImprovement may change.
const IMPROVEMENT_FIELDS: &[Field<Improvement, Improvement>] = &[
    ("title", |t, v| t.title = v.title.clone()),
    ("description", |t, v| t.description = v.description.clone()),
    ("issue_key", |t, v| t.issue_key = v.issue_key.clone()),
    ("owner_team", |t, v| t.owner_team = v.owner_team.clone()),
    ("due_time", |t, v| t.due_at = v.due_at),
    ("status", |t, v| t.status = v.status),
];

/// Statuses a list may filter by.
const MAX_STATUSES: usize = 4;

/// An improvement from a request, each field named under `improvement.`; its id is read apart.
fn improvement(check: &mut Check, i: &pb::Improvement, now: DateTime<Utc>) -> Improvement {
    let field = |name: &str| format!("improvement.{name}");
    let due_at = match &i.due_time {
        None => {
            check.add(field("due_time"), "is required");
            None
        }
        Some(due) => check.timestamp(&field("due_time"), Some(due)),
    };
    Improvement {
        id: 0,
        title: check.text(&field("title"), &i.title, true, limits::TITLE),
        description: check.text(
            &field("description"),
            &i.description,
            false,
            limits::DESCRIPTION,
        ),
        issue_key: issue_key(check, &field("issue_key"), &i.issue_key, true).unwrap_or_default(),
        owner_team: key(check, &field("owner_team"), &i.owner_team),
        due_at: due_at.unwrap_or(now),
        status: check
            .optional_enum(&field("status"), i.status)
            .unwrap_or(Status::Planned),
        done_at: None,
        created_by: String::new(),
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

/// The improvement a request must carry: without one, nothing else is worth naming.
fn required(given: Option<pb::Improvement>) -> crate::error::Result<pb::Improvement> {
    given.ok_or_else(|| crate::error::Error::invalid("improvement", "is required"))
}

/// A top issue's key (`category/product/phrase`); `None` when blank and not `required`.
fn issue_key(check: &mut Check, field: &str, value: &str, required: bool) -> Option<String> {
    let value = check.text(field, value, required, limits::ISSUE_KEY);
    if value.is_empty() {
        return None;
    }
    if IssueKey::parse(&value).is_none() {
        check.add(
            field,
            format!(
                "{} is not a top issue's key: category/product/phrase (the phrase may be empty)",
                quote(&value)
            ),
        );
    }
    Some(value)
}

/// An improvement's number from its id (`IMP-7`).
fn improvement_id(check: &mut Check, field: &str, value: &str) -> i64 {
    if value.trim().is_empty() {
        check.add(field, "is required");
        return 0;
    }
    improvement::number(value).unwrap_or_else(|| {
        check.add(
            field,
            format!("{} is not an improvement id such as IMP-7", quote(value)),
        );
        0
    })
}

/// The period a top issues request asks for: both ends, in order and at most 366 days apart,
/// or neither (the last calendar month in `zone`).
fn period(
    check: &mut Check,
    r: &pb::GetTopIssuesRequest,
    zone: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Option<Period> {
    let start = check.timestamp("start_time", r.start_time.as_ref());
    let end = check.timestamp("end_time", r.end_time.as_ref());
    match (&r.start_time, &r.end_time) {
        (None, None) => return Some(Period::last_month(now, zone)),
        (Some(_), None) => check.add("end_time", "is required with start_time"),
        (None, Some(_)) => check.add("start_time", "is required with end_time"),
        _ => {}
    }
    let (start, end) = (start?, end?);
    if end <= start {
        check.add("end_time", "must be after start_time");
        return None;
    }
    if end - start > LONGEST {
        check.add("end_time", "must be at most 366 days after start_time");
        return None;
    }
    Some(Period { start, end })
}

fn ratio(r: Ratio) -> pb::Ratio {
    pb::Ratio {
        part: r.part,
        whole: r.whole,
        value: r.value(),
    }
}

/// An improvement as callers see it, with its effect once DONE.
pub(crate) fn improvement_message(i: Improvement, effect: Option<Effect>) -> pb::Improvement {
    pb::Improvement {
        etag: crate::domain::error::Versioned::etag(&i),
        id: i.name(),
        title: i.title,
        description: i.description,
        issue_key: i.issue_key,
        owner_team: i.owner_team,
        due_time: Some(timestamp(i.due_at)),
        status: pb::ImprovementStatus::from(i.status).into(),
        done_time: i.done_at.map(timestamp),
        effect: effect.map(|e| pb::ImprovementEffect {
            window: Some(duration(e.window)),
            tickets_before: e.tickets_before,
            tickets_after: e.tickets_after,
            repeat_before: Some(ratio(e.repeat_before)),
            repeat_after: Some(ratio(e.repeat_after)),
        }),
        create_time: Some(timestamp(i.created_at)),
        update_time: Some(timestamp(i.updated_at)),
        created_by: i.created_by,
    }
}

fn top_issue(i: TopIssue) -> pb::TopIssue {
    pb::TopIssue {
        key: i.key.key(),
        category: i.key.category,
        product: i.key.product,
        phrase: i.key.phrase,
        count: i.count,
        share: i.share,
        previous_count: i.previous_count,
        change: i.change,
        repeat: Some(ratio(i.repeat)),
        average_resolution_time: i
            .average_resolution_millis
            .map(|ms| duration(chrono::Duration::milliseconds(ms))),
        csat: Some(ratio(i.csat)),
        example_numbers: i.example_numbers,
        improvement: i.improvement.map(|m| improvement_message(m, i.effect)),
    }
}

/// The top issues as callers see them.
pub(crate) fn top_issues_message(r: TopIssuesReport) -> pb::TopIssues {
    pb::TopIssues {
        start_time: Some(timestamp(r.start)),
        end_time: Some(timestamp(r.end)),
        tickets: r.tickets,
        issues: r.issues.into_iter().map(top_issue).collect(),
        improvement_rate: Some(ratio(r.improvement_rate)),
    }
}

/// What a create's request_id fingerprints: the caller's request, not the times of its call.
#[derive(Serialize)]
struct Asked<'a> {
    by: String,
    title: &'a str,
    description: &'a str,
    issue_key: &'a str,
    owner_team: &'a str,
    due_at: DateTime<Utc>,
    status: Status,
}

impl InsightsApi {
    pub(super) async fn top_issues(
        &self,
        request: Request<pb::GetTopIssuesRequest>,
    ) -> Reply<pb::TopIssues> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let zone = super::insights::zone(&mut check, "time_zone", &r.time_zone);
                let period = period(&mut check, &r, zone, self.cx.app.now());
                let limit = match r.limit {
                    0 => DEFAULT_LIMIT,
                    n if n < 0 => {
                        check.add("limit", "must not be negative");
                        DEFAULT_LIMIT
                    }
                    n => (n as usize).min(MAX_LIMIT),
                };
                let filter = super::insights::scope(&mut check, "filter", r.filter.as_ref());
                check.done()?;
                super::insights::own_teams(&by, &filter)?;
                let Some(period) = period else {
                    return Err(crate::error::Error::invalid("start_time", "is not valid"));
                };
                let report = self.cx.app.top_issues(period, filter, limit).await?;
                Ok(top_issues_message(report))
            }
            .await,
        )
    }

    pub(super) async fn create_improvement_(
        &self,
        request: Request<pb::CreateImprovementRequest>,
    ) -> Reply<pb::Improvement> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let given = required(r.improvement)?;
                let mut check = Check::new();
                let new = improvement(&mut check, &given, self.cx.app.now());
                let request_id = request_id(&mut check, &r.request_id);
                let new = check.finish(new)?;
                let asked = Asked {
                    by: by.actor(),
                    title: &new.title,
                    description: &new.description,
                    issue_key: &new.issue_key,
                    owner_team: &new.owner_team,
                    due_at: new.due_at,
                    status: new.status,
                };
                let requested = Requested::of(request_id, &asked);
                let (created, effect) = self.cx.app.create_improvement(&by, new, requested).await?;
                Ok(improvement_message(created, effect))
            }
            .await,
        )
    }

    pub(super) async fn get_improvement_(
        &self,
        request: Request<pb::GetImprovementRequest>,
    ) -> Reply<pb::Improvement> {
        let _by = caller(&request)?;
        reply(
            async {
                let mut check = Check::new();
                let id = improvement_id(&mut check, "id", &request.get_ref().id);
                check.done()?;
                let (found, effect) = self.cx.app.improvement(id).await?;
                Ok(improvement_message(found, effect))
            }
            .await,
        )
    }

    pub(super) async fn update_improvement_(
        &self,
        request: Request<pb::UpdateImprovementRequest>,
    ) -> Reply<pb::Improvement> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let given = required(r.improvement)?;
                let mut check = Check::new();
                let now = self.cx.app.now();
                let id = improvement_id(&mut check, "improvement.id", &given.id);
                let patch: Patch<Improvement> = patch(
                    &mut check,
                    "improvement",
                    r.update_mask.as_ref(),
                    IMPROVEMENT_FIELDS,
                    |check| improvement(check, &given, now),
                );
                if patch.names("status") && given.status == 0 {
                    check.add("improvement.status", "is required to change it");
                }
                let tag = etag(&given.etag)
                    .map(|e| check.text("improvement.etag", e, false, ticket_limits::KEY));
                check.done()?;
                let (updated, effect) = self
                    .cx
                    .app
                    .update_improvement(&by, id, tag.as_deref(), &patch)
                    .await?;
                Ok(improvement_message(updated, effect))
            }
            .await,
        )
    }

    pub(super) async fn list_improvements_(
        &self,
        request: Request<pb::ListImprovementsRequest>,
    ) -> Reply<pb::ListImprovementsResponse> {
        let _by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let filter = ImprovementFilter {
                    statuses: check.enums("statuses", &r.statuses, MAX_STATUSES),
                    owner_team: optional_key(&mut check, "owner_team", &r.owner_team),
                    issue_key: issue_key(&mut check, "issue_key", &r.issue_key, false),
                };
                let page: Page<i64> = Page::read(&mut check, &r);
                check.done()?;
                let found = self
                    .cx
                    .app
                    .list_improvements(filter, page.after, page.fetch())
                    .await?;
                let (improvements, next_page_token) =
                    page.finish(found, |i| improvement_message(i, None), |i| i.id);
                Ok(pb::ListImprovementsResponse {
                    improvements,
                    next_page_token,
                })
            }
            .await,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(check: Check) -> Vec<String> {
        match check.done() {
            Err(crate::error::Error::Refused(crate::domain::error::Refusal::Invalid {
                violations,
                ..
            })) => violations.into_iter().map(|v| v.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_request_improvement_names_its_bad_fields() {
        let mut check = Check::new();
        let given = pb::Improvement {
            title: " ".into(),
            description: "x".repeat(limits::DESCRIPTION + 1),
            issue_key: "no slashes".into(),
            owner_team: "not a key!".into(),
            status: 99,
            ..Default::default()
        };
        improvement(&mut check, &given, Utc::now());
        assert_eq!(
            fields(check),
            [
                "improvement.due_time",
                "improvement.title",
                "improvement.description",
                "improvement.issue_key",
                "improvement.owner_team",
                "improvement.status",
            ]
        );
    }

    #[test]
    fn ids_and_periods_are_checked() {
        let mut check = Check::new();
        assert_eq!(improvement_id(&mut check, "id", "IMP-3"), 3);
        improvement_id(&mut check, "id", "3");
        improvement_id(&mut check, "other", "");
        assert_eq!(fields(check), ["id", "other"]);

        let now: DateTime<Utc> = "2026-12-15T00:00:00Z".parse().unwrap();
        let mut check = Check::new();
        let default = period(
            &mut check,
            &pb::GetTopIssuesRequest::default(),
            chrono_tz::UTC,
            now,
        );
        assert_eq!(
            default.map(|p| p.start),
            Some("2026-11-01T00:00:00Z".parse().unwrap())
        );
        let ts = |s: &str| Some(timestamp(s.parse().unwrap()));
        let backwards = pb::GetTopIssuesRequest {
            start_time: ts("2026-11-02T00:00:00Z"),
            end_time: ts("2026-11-01T00:00:00Z"),
            ..Default::default()
        };
        assert_eq!(period(&mut check, &backwards, chrono_tz::UTC, now), None);
        let half = pb::GetTopIssuesRequest {
            start_time: ts("2026-11-02T00:00:00Z"),
            ..Default::default()
        };
        assert_eq!(period(&mut check, &half, chrono_tz::UTC, now), None);
        assert_eq!(fields(check), ["end_time", "end_time"]);
    }
}
