//! Reading the figures: metrics by bucket and group, the dashboard, and the export. The
//! roll-ups answer one dimension (or none) by summing hourly rows; two dimensions at once are
//! summed from the facts of the tickets active in the period, streamed one at a time and at
//! most `--insights-max-tickets` of them. Both wait (a second at most) for the roll-ups to
//! include what was committed before the query.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::App;
use crate::domain::error::Refusal;
use crate::domain::insights::{
    BACKLOG, Backlog, Dimension, FactSums, Facts, Figures, Ratio, Row, cover, hour_of, sum_rollups,
};
use crate::domain::period::{Bucket, Period, midnight};
use crate::domain::sla::Target;
use crate::domain::ticket::Status;
use crate::error::{Error, Result};
use crate::store::{FactsQuery, Scope};

/// How long the dashboard keeps a month's 整改率.
const RATE_KEPT: std::time::Duration = std::time::Duration::from_secs(300);

/// Which 整改率: of the month starting then, in a scope.
type RateKey = (DateTime<Utc>, Scope);

/// The 整改率 of recent dashboards, with when each was worked out.
#[derive(Default)]
pub struct Rates(std::sync::Mutex<HashMap<RateKey, (std::time::Instant, Ratio)>>);

impl Rates {
    fn get(&self, key: &RateKey) -> Option<Ratio> {
        let rates = self.0.lock().unwrap_or_else(|e| e.into_inner());
        rates
            .get(key)
            .filter(|(at, _)| at.elapsed() < RATE_KEPT)
            .map(|(_, rate)| *rate)
    }

    fn keep(&self, key: RateKey, rate: Ratio) {
        let mut rates = self.0.lock().unwrap_or_else(|e| e.into_inner());
        rates.retain(|_, (at, _)| at.elapsed() < RATE_KEPT);
        rates.insert(key, (std::time::Instant::now(), rate));
    }

    /// Forgets every rate: an improvement changed.
    pub fn forget(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Most rows a query answers.
pub const MAX_ROWS: usize = 10_000;

/// Reads that sum tickets one by one, at once per instance: each holds a database
/// connection and a core for seconds, and the pool serves intake too. Others wait their turn.
pub const FACT_READS: usize = 2;

/// What QueryMetrics asks.
#[derive(Debug, Clone)]
pub struct MetricsQuery {
    pub period: Period,
    pub bucket: Option<Bucket>,
    pub zone: Tz,
    pub group_by: Vec<Dimension>,
    pub filter: Scope,
}

/// What QueryMetrics answers.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub buckets: Vec<Period>,
    pub group_by: Vec<Dimension>,
    pub rows: Vec<Row>,
    /// The last event the figures include.
    pub cursor: i64,
}

/// What a support floor watches.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    pub as_of: DateTime<Utc>,
    pub scope: Scope,
    pub open: i64,
    pub by_status: Vec<OpenGroup>,
    pub by_priority: Vec<OpenGroup>,
    pub by_team: Vec<OpenGroup>,
    pub intake_today: i64,
    pub intake_last_hour: i64,
    pub window_start: DateTime<Utc>,
    pub window: Figures,
    /// Per SLA target: open tickets at risk, and breached, now.
    pub sla_now: Vec<(Target, i64, i64)>,
    pub improvement_rate: Ratio,
    pub cursor: i64,
}

/// Open tickets of one group, with when the oldest was created.
pub type OpenGroup = crate::store::OpenGroup;

/// What GetDashboard asks.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardQuery {
    pub scope: Scope,
    pub window: Duration,
    pub zone: Tz,
}

impl App {
    /// Every metric over the period, per bucket and group.
    pub async fn query_metrics(&self, q: MetricsQuery) -> Result<Metrics> {
        let buckets = q
            .period
            .buckets(q.bucket, q.zone, ("bucket", "time_zone"))?;
        let mut dimensions = q.group_by.clone();
        if let Some((d, _)) = &q.filter
            && !dimensions.contains(d)
        {
            dimensions.push(*d);
        }
        if dimensions.len() > 2 {
            return Err(Refusal::invalid(
                "group_by",
                "at most two dimensions, with the filter's, at once",
            )
            .into());
        }
        self.rolled_past(self.store.last_cursor().await?).await;
        let cursor = self.rolled_up_to();
        let rows = if dimensions.len() <= 1 && q.group_by.len() <= 1 {
            let grouping = dimensions.first().copied();
            let value = q.filter.as_ref().map(|(_, v)| v.as_str());
            let backlog = self.backlog_now(grouping, value).await?;
            self.summed_rollups(&buckets, grouping, value, !q.group_by.is_empty(), backlog)
                .await?
        } else {
            let active = FactsQuery {
                period: q.period,
                active: true,
                counted_only: true,
                scope: q.filter.clone(),
            };
            let mut sums = FactSums::new(&buckets, &q.group_by);
            self.each_facts(&active, |f| {
                sums.add(&f);
                // Refused as soon as it is sure, not after summing every ticket.
                too_many_rows(sums.pairs())
            })
            .await?;
            sums.rows()
        };
        too_many_rows(rows.len())?;
        Ok(Metrics {
            buckets,
            group_by: q.group_by,
            rows,
            cursor,
        })
    }

    /// The roll-ups of `grouping` (one value, or all) summed into `buckets`, with the open
    /// `backlog` now per value.
    async fn summed_rollups(
        &self,
        buckets: &[Period],
        grouping: Option<Dimension>,
        value: Option<&str>,
        grouped: bool,
        backlog: HashMap<String, Backlog>,
    ) -> Result<Vec<Row>> {
        let Some(last) = buckets.last() else {
            return Ok(Vec::new());
        };
        let now = self.now();
        // The backlog at a bucket's end is counted back from now: the hours up to now count.
        let until = hour_of(last.end).max(hour_of(now) + 1);
        // Each bucket, and the hours after the last, read as the fewest whole spans.
        let mut edges: Vec<i64> = buckets.iter().map(|b| hour_of(b.start)).collect();
        edges.push(hour_of(last.end));
        edges.push(until);
        let mut spans: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for w in edges.windows(2) {
            for (hours, start) in cover(w[0], w[1]) {
                spans.entry(hours).or_default().push(start);
            }
        }
        let mut rows = Vec::new();
        for (hours, starts) in spans {
            rows.extend(self.store.rollups(grouping, value, hours, &starts).await?);
        }
        Ok(sum_rollups(buckets, rows, backlog, grouped))
    }

    /// Open tickets now per value of `grouping` (one value, or all) and backlog status.
    async fn backlog_now(
        &self,
        grouping: Option<Dimension>,
        value: Option<&str>,
    ) -> Result<HashMap<String, Backlog>> {
        let counts = self.store.open_counts(grouping, value).await?;
        Ok(backlog_of(
            counts.into_iter().map(|o| (o.value, o.status, o.count)),
        ))
    }

    /// The dashboard as of now.
    pub async fn dashboard(&self, q: &DashboardQuery) -> Result<Dashboard> {
        self.rolled_past(self.store.last_cursor().await?).await;
        let cursor = self.rolled_up_to();
        let now = self.now();
        let scope = &q.scope;
        let by_status = self.store.open_groups(None, scope).await?;
        let by_priority = self
            .store
            .open_groups(Some(Dimension::Priority), scope)
            .await?;
        let by_team = self.store.open_groups(Some(Dimension::Team), scope).await?;
        let today = midnight(now.with_timezone(&q.zone).date_naive(), q.zone);
        let intake_today = self.store.intake_since(today, scope).await?;
        let intake_last_hour = self
            .store
            .intake_since(now - Duration::hours(1), scope)
            .await?;
        let window_start = crate::domain::insights::hour_start(hour_of(now - q.window));
        let window = Period {
            start: window_start,
            end: crate::domain::insights::hour_start(hour_of(now) + 1),
        };
        let (grouping, value) = match scope {
            Some((d, v)) => (Some(*d), Some(v.as_str())),
            None => (None, None),
        };
        // The window's backlog is the open backlog now, counted above.
        let backlog = backlog_of(
            by_status
                .iter()
                .map(|g| (String::new(), g.key.clone(), g.count)),
        );
        let figures = self
            .summed_rollups(&[window], grouping, value, false, backlog)
            .await?
            .into_iter()
            .next()
            .map(|r| r.figures)
            .unwrap_or_default();
        let mut sla_now: Vec<(Target, i64, i64)> = crate::domain::insights::TARGETS
            .iter()
            .map(|t| (*t, 0, 0))
            .collect();
        for clocks in self.store.clocks_now(scope).await? {
            for (target, at_risk, breached) in &mut sla_now {
                let named = |list: &str| list.split(',').any(|t| t == target.as_str());
                if named(&clocks.breached) {
                    *breached += clocks.count;
                } else if named(&clocks.at_risk) {
                    *at_risk += clocks.count;
                }
            }
        }
        let improvement_rate = self.improvement_rate(now, q.zone, scope).await?;
        Ok(Dashboard {
            as_of: now,
            scope: q.scope.clone(),
            open: by_status.iter().map(|g| g.count).sum(),
            by_status,
            by_priority,
            by_team,
            intake_today,
            intake_last_hour,
            window_start,
            window: figures,
            sla_now,
            improvement_rate,
            cursor,
        })
    }

    /// Of the top issues of the last calendar month, those with a done improvement: kept for
    /// [`RATE_KEPT`], since last month's tickets change little and clustering them reads as
    /// many facts as the month had; a change of any improvement forgets it (a reaction).
    /// Empty, and kept so, when the month has more tickets than one read may cluster: the
    /// floor's other figures still stand.
    async fn improvement_rate(&self, now: DateTime<Utc>, zone: Tz, scope: &Scope) -> Result<Ratio> {
        let month = Period::last_month(now, zone);
        let key = (month.start, scope.clone());
        if let Some(rate) = self.improvement_rates.get(&key) {
            return Ok(rate);
        }
        let rate = self.improvement_rate_of(month, scope.clone()).await;
        let rate = unless_over_bound(rate, "the dashboard's 整改率")?.unwrap_or_default();
        self.improvement_rates.keep(key, rate);
        Ok(rate)
    }

    /// Up to `limit` tickets after ticket `after`, created in `period`, in `scope`, counted or
    /// not, with their facts.
    pub async fn export_page(
        &self,
        after: i64,
        period: Period,
        scope: Scope,
        limit: u64,
    ) -> Result<Vec<Facts>> {
        let created = FactsQuery {
            period,
            active: false,
            counted_only: false,
            scope,
        };
        self.store
            .facts_page(&created, after, limit)
            .await?
            .ok_or_else(|| {
                Refusal::invalid("after_cursor", "is not a cursor from ExportTicketsResponse")
                    .into()
            })
    }

    /// Gives `each` the facts `q` selects, one ticket at a time (memory follows the sums, not
    /// the period), until it refuses, in its turn among [`FACT_READS`]. More than
    /// `--insights-max-tickets` tickets are refused before the first: the time of summing them
    /// follows that number.
    pub(super) async fn each_facts(
        &self,
        q: &FactsQuery,
        each: impl FnMut(Facts) -> Result<()>,
    ) -> Result<()> {
        let _turn = self
            .fact_reads
            .acquire()
            .await
            .map_err(|_| Error::ShuttingDown("insights reads have stopped".into()))?;
        let most = self.settings.insights_max_tickets;
        if self.store.count_facts(q, most.saturating_add(1)).await? > most {
            return Err(Refusal::Quota {
                subject: "tickets".into(),
                description: format!(
                    "the figures asked for are summed ticket by ticket, and the period has more \
                     than {most} tickets (--insights-max-tickets): ask for a shorter period or a \
                     filter; by one dimension, the roll-ups answer any period"
                ),
            }
            .into());
        }
        self.store.each_facts(q, each).await
    }

    /// Every ticket `q` selects, with its facts (see [`App::each_facts`]).
    pub(super) async fn facts(&self, q: FactsQuery) -> Result<Vec<Facts>> {
        let mut all = Vec::new();
        self.each_facts(&q, |f| {
            all.push(f);
            Ok(())
        })
        .await?;
        Ok(all)
    }
}

/// What a read over `--insights-max-tickets` (see [`App::each_facts`]) would have added to a
/// larger answer, which stands without it: `None`, and a warning naming what is `left_out`.
pub(super) fn unless_over_bound<T>(read: Result<T>, left_out: &str) -> Result<Option<T>> {
    match read {
        Err(Error::Refused(Refusal::Quota { description, .. })) => {
            tracing::warn!("{left_out} is left out: {description}");
            Ok(None)
        }
        read => read.map(Some),
    }
}

/// Refuses a query that would answer more than [`MAX_ROWS`] rows.
fn too_many_rows(rows: usize) -> Result<()> {
    if rows <= MAX_ROWS {
        return Ok(());
    }
    Err(Refusal::Quota {
        subject: "rows".into(),
        description: format!(
            "the query would answer more than {MAX_ROWS} rows: ask for a shorter period, \
             longer buckets or fewer groups"
        ),
    }
    .into())
}

/// Open counts (value, status, how many) as a backlog per value; statuses outside the
/// backlog's are left out.
fn backlog_of(counts: impl IntoIterator<Item = (String, String, i64)>) -> HashMap<String, Backlog> {
    let mut backlog: HashMap<String, Backlog> = HashMap::new();
    for (value, status, count) in counts {
        let status = status.parse::<Status>().ok();
        if let Some(i) = status.and_then(|s| BACKLOG.iter().position(|b| *b == s)) {
            backlog.entry(value).or_default()[i] += count;
        }
    }
    backlog
}
