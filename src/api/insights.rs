//! InsightsService: the dashboard, metrics and exports here; top issues and improvements in
//! `improvements`, the monthly report in `report`.

use std::pin::Pin;
use std::time::Duration;

use chrono::TimeZone;
use chrono_tz::Tz;
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::check::Check;
use super::convert::{duration, timestamp};
use super::{Context, Reply, caller, reply};
use crate::app::insights::{Dashboard, DashboardQuery, Metrics, MetricsQuery};
use crate::domain::access::Caller;
use crate::domain::insights::{
    self as insights, BACKLOG, Dimension, DurationFigures, Facts, Figures, Ratio, TARGETS,
};
use crate::domain::period::{Bucket, Period};
use crate::domain::ticket;
use crate::error::{Error, Result};
use crate::proto::feedback::v1::{self as pb, insights_service_server::InsightsService};
use crate::runtime::AppRuntime;
use crate::store::Scope;

/// The longest dimension value a request may name.
const VALUE: usize = 128;
/// Tickets per ExportTickets message.
const EXPORT_PAGE: u64 = 500;
/// A dashboard stream sends at most once per this.
const DASHBOARD_EVERY: Duration = Duration::from_secs(1);
/// A dashboard stream looks again this often when nothing was committed (ages grow, the
/// day turns).
const DASHBOARD_IDLE: Duration = Duration::from_secs(30);

/// The InsightsService handlers.
pub struct InsightsApi {
    pub(super) cx: Context,
}

impl InsightsApi {
    pub fn new(cx: Context) -> Self {
        Self { cx }
    }
}

type Streamed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// An optional dimension value from a request; `None` when unset.
pub(super) fn scope(check: &mut Check, field: &str, given: Option<&pb::DimensionValue>) -> Scope {
    let given = given?;
    let dimension: Dimension = check.required(&format!("{field}.dimension"), given.dimension);
    let value = check.text(&format!("{field}.value"), &given.value, false, VALUE);
    Some((dimension, value))
}

/// Refuses a supervisor figures beyond their teams: `scope` must name one of them.
pub(super) fn own_teams(by: &Caller, scope: &Scope) -> Result<()> {
    let team = match scope {
        Some((Dimension::Team, team)) => Some(team.as_str()),
        _ => None,
    };
    Ok(by.principal.check_report_team(team)?)
}

/// A time zone from a request; empty is UTC.
pub(super) fn zone(check: &mut Check, field: &str, given: &str) -> Tz {
    check
        .time_zone(field, given)
        .parse()
        .unwrap_or(chrono_tz::UTC)
}

/// A period from a request's two timestamps, both required.
fn period(
    check: &mut Check,
    start: Option<&prost_types::Timestamp>,
    end: Option<&prost_types::Timestamp>,
) -> Option<Period> {
    let start_at = check.timestamp("start_time", start);
    let end_at = check.timestamp("end_time", end);
    if start.is_none() {
        check.add("start_time", "is required");
    }
    if end.is_none() {
        check.add("end_time", "is required");
    }
    match Period::checked(start_at?, end_at?, ("start_time", "end_time")) {
        Ok(p) => Some(p),
        Err(crate::domain::error::Refusal::Invalid { violations, .. }) => {
            for v in violations {
                check.add(v.field, v.description);
            }
            None
        }
        Err(_) => None,
    }
}

fn dimension_value(dimension: Dimension, value: String) -> pb::DimensionValue {
    pb::DimensionValue {
        dimension: pb::Dimension::from(dimension) as i32,
        value,
    }
}

fn ratio(r: Ratio) -> pb::Ratio {
    pb::Ratio {
        part: r.part,
        whole: r.whole,
        value: r.value(),
    }
}

fn durations(d: DurationFigures) -> pb::DurationFigures {
    let secs = |s: Option<i64>| s.map(|s| duration(insights::seconds(s)));
    let millis = |m: Option<i64>| m.map(|m| duration(chrono::Duration::milliseconds(m)));
    pb::DurationFigures {
        count: d.count,
        average: millis(d.average_millis),
        p50: secs(d.p50),
        p90: secs(d.p90),
        business_average: millis(d.business_average_millis),
        business_p50: secs(d.business_p50),
        business_p90: secs(d.business_p90),
    }
}

pub(super) fn figures(f: Figures) -> pb::Figures {
    let [
        dispatch,
        acknowledgement,
        first_response,
        first_resolution,
        full_resolution,
    ] = f.durations.map(durations);
    pb::Figures {
        intake: f.intake,
        dispatch_time: Some(dispatch),
        acknowledgement_time: Some(acknowledgement),
        first_response_time: Some(first_response),
        first_resolution_time: Some(first_resolution),
        full_resolution_time: Some(full_resolution),
        completion: Some(ratio(f.completion)),
        one_touch_resolution: Some(ratio(f.one_touch)),
        reopen: Some(ratio(f.reopen)),
        repeat: Some(ratio(f.repeat)),
        escalation: Some(ratio(f.escalation)),
        sla: TARGETS
            .iter()
            .zip(f.sla)
            .map(|(target, a)| pb::SlaAttainment {
                target: pb::SlaTarget::from(*target) as i32,
                met: a.met,
                breached: a.breached,
                attainment: Ratio {
                    part: a.met,
                    whole: a.met + a.breached,
                }
                .value(),
            })
            .collect(),
        survey_response: Some(ratio(f.survey_response)),
        csat: Some(ratio(f.csat)),
        nps: f.nps,
        nps_answers: f.nps_answers,
        backlog: BACKLOG
            .iter()
            .zip(f.backlog)
            .filter(|(_, n)| *n != 0)
            .map(|(status, count)| pb::StatusCount {
                status: pb::TicketStatus::from(*status) as i32,
                count,
            })
            .collect(),
    }
}

fn metrics(m: Metrics) -> pb::QueryMetricsResponse {
    let Metrics {
        buckets,
        group_by,
        rows,
        cursor,
    } = m;
    pb::QueryMetricsResponse {
        rows: rows
            .into_iter()
            .map(|row| {
                let bucket = buckets[row.bucket];
                pb::MetricRow {
                    bucket_start: Some(timestamp(bucket.start)),
                    bucket_end: Some(timestamp(bucket.end)),
                    group: group_by
                        .iter()
                        .zip(row.group)
                        .map(|(d, v)| dimension_value(*d, v))
                        .collect(),
                    figures: Some(figures(row.figures)),
                }
            })
            .collect(),
        cursor,
    }
}

fn dashboard(d: Dashboard) -> pb::Dashboard {
    let groups = |groups: Vec<crate::store::OpenGroup>| {
        groups
            .into_iter()
            .map(|g| pb::BacklogGroup {
                key: g.key,
                count: g.count,
                oldest_create_time: Some(timestamp(g.oldest)),
                oldest_age: Some(duration((d.as_of - g.oldest).max(chrono::Duration::zero()))),
            })
            .collect()
    };
    pb::Dashboard {
        as_of: Some(timestamp(d.as_of)),
        scope: d.scope.clone().map(|(dim, v)| dimension_value(dim, v)),
        open: d.open,
        backlog_by_status: groups(d.by_status.clone()),
        backlog_by_priority: groups(d.by_priority.clone()),
        backlog_by_team: groups(d.by_team.clone()),
        intake_today: d.intake_today,
        intake_last_hour: d.intake_last_hour,
        window_start: Some(timestamp(d.window_start)),
        window: Some(figures(d.window)),
        sla_now: d
            .sla_now
            .iter()
            .map(|(target, at_risk, breached)| pb::SlaNow {
                target: pb::SlaTarget::from(*target) as i32,
                at_risk: *at_risk,
                breached: *breached,
            })
            .collect(),
        improvement_rate: Some(ratio(d.improvement_rate)),
        cursor: d.cursor,
    }
}

/// A stored enum name as its wire number; unspecified if this build does not know it.
fn wire<D: std::str::FromStr, P: From<D>>(text: &str) -> i32
where
    i32: From<P>,
{
    text.parse::<D>().map_or(0, |d| i32::from(P::from(d)))
}

fn exported(f: Facts) -> pb::ExportedTicket {
    let when = |m: Option<insights::Mark>| m.map(|m| timestamp(m.at));
    let business =
        |m: Option<insights::Mark>| m.map(|m| duration(insights::seconds(m.business_secs)));
    let d = &f.dims;
    pb::ExportedTicket {
        ticket_id: f.ticket_id,
        number: f.number.clone(),
        kind: wire::<ticket::Kind, pb::TicketKind>(&d[0]),
        channel: wire::<ticket::Channel, pb::Channel>(&d[1]),
        status: pb::TicketStatus::from(f.status) as i32,
        priority: wire::<ticket::Priority, pb::Priority>(&d[7]),
        team: d[2].clone(),
        agent: d[3].clone(),
        product: d[4].clone(),
        category: d[5].clone(),
        customer_tier: wire::<ticket::Tier, pb::CustomerTier>(&d[6]),
        create_time: Some(timestamp(f.created_at)),
        first_assign_time: when(f.first_assigned),
        acknowledge_time: when(f.acknowledged),
        first_response_time: when(f.first_response),
        first_resolve_time: when(f.first_resolved),
        last_resolve_time: when(f.last_resolved),
        business_first_response: business(f.first_response),
        business_resolution: business(f.last_resolved),
        reopen_count: f.reopens.len() as i32,
        public_replies: f.public_replies as i32,
        repeat: f.repeat,
        escalation_level: f.escalation_level as i32,
        counted: f.counted,
        lowest_rating: f
            .surveys
            .iter()
            .filter_map(|s| s.lowest_rating)
            .min()
            .unwrap_or(0),
    }
}

/// What a wallboard compares to decide whether the figures changed: all but the time they
/// were taken and the ages that grow with it.
fn unchanged(a: &pb::Dashboard, b: &pb::Dashboard) -> bool {
    let still = |d: &pb::Dashboard| {
        let mut d = d.clone();
        d.as_of = None;
        for g in d
            .backlog_by_status
            .iter_mut()
            .chain(&mut d.backlog_by_priority)
            .chain(&mut d.backlog_by_team)
        {
            g.oldest_age = None;
        }
        d
    };
    still(a) == still(b)
}

impl InsightsApi {
    fn dashboard_query(&self, r: &pb::GetDashboardRequest) -> Result<DashboardQuery> {
        let mut check = Check::new();
        let scope = scope(&mut check, "scope", r.scope.as_ref());
        let window = match &r.window {
            Some(w) => check.duration(
                "window",
                w,
                chrono::Duration::hours(1),
                chrono::Duration::days(90),
            ),
            None => Some(chrono::Duration::days(7)),
        };
        let zone = zone(&mut check, "time_zone", &r.time_zone);
        check.finish(DashboardQuery {
            scope,
            window: window.unwrap_or_default(),
            zone,
        })
    }
}

#[tonic::async_trait]
impl InsightsService for InsightsApi {
    async fn get_dashboard(
        &self,
        request: Request<pb::GetDashboardRequest>,
    ) -> Reply<pb::Dashboard> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let query = self.dashboard_query(&r)?;
                own_teams(&by, &query.scope)?;
                Ok(dashboard(self.cx.app.dashboard(&query).await?))
            }
            .await,
        )
    }

    type WatchDashboardStream = Streamed<pb::Dashboard>;

    async fn watch_dashboard(
        &self,
        request: Request<pb::WatchDashboardRequest>,
    ) -> Reply<Self::WatchDashboardStream> {
        let by = caller(&request)?;
        let r = request.into_inner();
        let asked = pb::GetDashboardRequest {
            scope: r.scope,
            window: r.window,
            time_zone: r.time_zone,
        };
        let query = self.dashboard_query(&asked).map_err(Status::from)?;
        own_teams(&by, &query.scope).map_err(Status::from)?;
        let app = self.cx.app.clone();
        let stop = self.cx.hub.stopping();
        let first = dashboard(app.dashboard(&query).await.map_err(Status::from)?);
        let changes = app.rolled_changes();
        let state = Some((app, query, stop, changes, first.clone()));
        let later = futures::stream::unfold(state, |state| async move {
            let (app, query, stop, mut changes, last) = state?;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => {
                        let status = Status::from(Error::ShuttingDown(
                            "reconnect to watch the dashboard again".into(),
                        ));
                        return Some((Err(status), None));
                    }
                    changed = changes.changed() => {
                        if changed.is_err() {
                            // Nobody rolls up any more: look again now and then.
                            tokio::time::sleep(DASHBOARD_IDLE).await;
                        }
                    }
                    _ = tokio::time::sleep(DASHBOARD_IDLE) => {}
                }
                // At most one message a second: changes within it come together.
                if stop
                    .run_until_cancelled(tokio::time::sleep(DASHBOARD_EVERY))
                    .await
                    .is_none()
                {
                    continue;
                }
                match app.dashboard(&query).await {
                    Ok(now) => {
                        let now = dashboard(now);
                        if !unchanged(&now, &last) {
                            let next = Some((app, query, stop, changes, now.clone()));
                            return Some((Ok(now), next));
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "a dashboard could not be read; trying again");
                    }
                }
            }
        });
        let stream = futures::stream::once(async { Ok(first) }).chain(later);
        Ok(Response::new(Box::pin(
            AppRuntime::current().stream(stream),
        )))
    }

    async fn query_metrics(
        &self,
        request: Request<pb::QueryMetricsRequest>,
    ) -> Reply<pb::QueryMetricsResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let period = period(&mut check, r.start_time.as_ref(), r.end_time.as_ref());
                let bucket: Option<Bucket> = check.optional_enum("bucket", r.bucket);
                let zone = zone(&mut check, "time_zone", &r.time_zone);
                let group_by: Vec<Dimension> = check.enums("group_by", &r.group_by, 2);
                let mut seen = Vec::new();
                for d in &group_by {
                    if seen.contains(d) {
                        check.add("group_by", format!("names {d} twice"));
                    }
                    seen.push(*d);
                }
                let filter = scope(&mut check, "filter", r.filter.as_ref());
                check.done()?;
                own_teams(&by, &filter)?;
                let Some(period) = period else {
                    return Err(Error::invalid("start_time", "is required"));
                };
                let query = MetricsQuery {
                    period,
                    bucket,
                    zone,
                    group_by,
                    filter,
                };
                Ok(metrics(self.cx.app.query_metrics(query).await?))
            }
            .await,
        )
    }

    async fn get_top_issues(
        &self,
        request: Request<pb::GetTopIssuesRequest>,
    ) -> Reply<pb::TopIssues> {
        self.top_issues(request).await
    }

    async fn create_improvement(
        &self,
        request: Request<pb::CreateImprovementRequest>,
    ) -> Reply<pb::Improvement> {
        self.create_improvement_(request).await
    }

    async fn get_improvement(
        &self,
        request: Request<pb::GetImprovementRequest>,
    ) -> Reply<pb::Improvement> {
        self.get_improvement_(request).await
    }

    async fn update_improvement(
        &self,
        request: Request<pb::UpdateImprovementRequest>,
    ) -> Reply<pb::Improvement> {
        self.update_improvement_(request).await
    }

    async fn list_improvements(
        &self,
        request: Request<pb::ListImprovementsRequest>,
    ) -> Reply<pb::ListImprovementsResponse> {
        self.list_improvements_(request).await
    }

    async fn render_report(&self, request: Request<pb::RenderReportRequest>) -> Reply<pb::Report> {
        self.report(request).await
    }

    type ExportTicketsStream = Streamed<pb::ExportTicketsResponse>;

    async fn export_tickets(
        &self,
        request: Request<pb::ExportTicketsRequest>,
    ) -> Reply<Self::ExportTicketsStream> {
        let by = caller(&request)?;
        let r = request.into_inner();
        let mut check = Check::new();
        let start = match &r.created_after {
            Some(t) => check.timestamp("created_after", Some(t)),
            None => Some(chrono::Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap()),
        };
        let end = match &r.created_before {
            Some(t) => check.timestamp("created_before", Some(t)),
            None => Some(chrono::Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0).unwrap()),
        };
        if let (Some(s), Some(e)) = (start, end)
            && e <= s
        {
            check.add("created_before", "must be after created_after");
        }
        let scope = scope(&mut check, "filter", r.filter.as_ref());
        let after = match r.after_cursor.trim() {
            "" => 0,
            given => given
                .parse::<i64>()
                .ok()
                .filter(|c| *c >= 0)
                .unwrap_or_else(|| {
                    check.add("after_cursor", "is not a cursor from ExportTicketsResponse");
                    0
                }),
        };
        check.done().map_err(Status::from)?;
        own_teams(&by, &scope).map_err(Status::from)?;
        let period = Period {
            start: start.unwrap_or_default(),
            end: end.unwrap_or_default(),
        };
        let app = self.cx.app.clone();
        let pages = futures::stream::unfold(Some(after), move |after| {
            let (app, scope) = (app.clone(), scope.clone());
            async move {
                let after = after?;
                match app.export_page(after, period, scope, EXPORT_PAGE).await {
                    Ok(facts) if facts.is_empty() => None,
                    Ok(facts) => {
                        let last = facts.last().map_or(after, |f| f.ticket_id);
                        let next = (facts.len() as u64 == EXPORT_PAGE).then_some(last);
                        let message = pb::ExportTicketsResponse {
                            tickets: facts.into_iter().map(exported).collect(),
                            cursor: last.to_string(),
                        };
                        Some((Ok(message), next))
                    }
                    Err(error) => Some((Err(Status::from(error)), None)),
                }
            }
        });
        Ok(Response::new(Box::pin(AppRuntime::current().stream(pages))))
    }
}
