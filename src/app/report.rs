//! The monthly report: the month's figures gathered from the metrics and its top issues, for
//! the renderer.

use chrono_tz::Tz;

use super::App;
use super::insights::MetricsQuery;
use crate::domain::insights::{Dimension, Span};
use crate::domain::period::{Bucket, Period};
use crate::domain::report::{Day, MonthReport, Totals, Week};
use crate::domain::top_issues::DEFAULT_LIMIT;
use crate::error::Result;

impl App {
    /// The figures of `month` (named `label`, "2026-11") in `zone`.
    pub async fn month_report(
        &self,
        month: Period,
        label: String,
        zone: Tz,
    ) -> Result<MonthReport> {
        let query = |bucket, group_by| MetricsQuery {
            period: month,
            bucket,
            zone,
            group_by,
            filter: None,
        };
        let whole = self.query_metrics(query(None, vec![])).await?;
        let totals = whole
            .rows
            .first()
            .map(|r| r.figures.clone())
            .unwrap_or_default();
        let daily = self.query_metrics(query(Some(Bucket::Day), vec![])).await?;
        let by_channel = self
            .query_metrics(query(Some(Bucket::Day), vec![Dimension::Channel]))
            .await?;
        let weekly = self
            .query_metrics(query(Some(Bucket::Week), vec![]))
            .await?;
        let local = |p: &Period| p.start.with_timezone(&zone).date_naive();
        let days = daily
            .rows
            .iter()
            .map(|row| Day {
                date: local(&daily.buckets[row.bucket]),
                intake: by_channel
                    .rows
                    .iter()
                    .filter(|r| r.bucket == row.bucket && r.figures.intake > 0)
                    .map(|r| (r.group[0].clone(), r.figures.intake))
                    .collect(),
                first_response_p50: row.figures.durations[Span::FirstResponse as usize].p50,
                resolution_p50: row.figures.durations[Span::FullResolution as usize].p50,
            })
            .collect();
        let weeks = weekly
            .rows
            .iter()
            .map(|row| Week {
                start: local(&weekly.buckets[row.bucket]),
                sla: row.figures.sla,
                csat: row.figures.csat,
            })
            .collect();
        let top = self.top_issues(month, None, DEFAULT_LIMIT).await?;
        Ok(MonthReport {
            month: label,
            zone,
            period: month,
            totals: Totals::of(&totals),
            days,
            sla: totals.sla,
            weeks,
            issues: top.issues.iter().map(|i| i.for_report()).collect(),
            improvement_rate: top.improvement_rate,
        })
    }
}
