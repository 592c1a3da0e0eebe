//! The top issues of a period, with the improvements that answer them: for GetTopIssues, the
//! dashboard's 整改率 and the monthly report.

use std::collections::HashMap;

use super::App;
use crate::domain::improvement::Effect;
use crate::domain::insights::{Dimension, Ratio};
use crate::domain::period::Period;
use crate::domain::top_issues::{DEFAULT_LIMIT, Issues, TopIssuesReport};
use crate::error::Result;
use crate::store::FactsQuery;

impl App {
    /// The `limit` most frequent issues among the counted tickets created in `period` (of
    /// `filter`'s dimension value, when given), each with the newest improvement naming it or
    /// its category and product, and that improvement's effect once DONE.
    pub async fn top_issues(
        &self,
        period: Period,
        filter: Option<(Dimension, String)>,
        limit: usize,
    ) -> Result<TopIssuesReport> {
        let current = self
            .facts(FactsQuery::created(period, filter.clone()))
            .await?;
        let mut issues = Issues::of(period, &current);
        let previous = FactsQuery::created(period.previous(), filter);
        self.each_facts(&previous, |f| {
            issues.count_before(&f);
            Ok(())
        })
        .await?;
        let mut report = issues.report(limit);
        let improvements = self
            .store
            .improvements_of_issues(&report.improvement_keys())
            .await?;
        report.link(&improvements);
        let mut effects: HashMap<i64, Option<Effect>> = HashMap::new();
        for issue in &mut report.issues {
            let Some(improvement) = &issue.improvement else {
                continue;
            };
            let effect = match effects.get(&improvement.id) {
                Some(effect) => *effect,
                None => {
                    let effect = self.improvement_effect(improvement).await?;
                    effects.insert(improvement.id, effect);
                    effect
                }
            };
            issue.effect = effect;
        }
        Ok(report)
    }

    /// Of the [`DEFAULT_LIMIT`] top issues of `period` (of `filter`'s dimension value), those
    /// whose improvement is DONE (整改率): what [`App::top_issues`] says, without the previous
    /// period and the effects, for the dashboard.
    pub async fn improvement_rate_of(
        &self,
        period: Period,
        filter: Option<(Dimension, String)>,
    ) -> Result<Ratio> {
        let current = self.facts(FactsQuery::created(period, filter)).await?;
        let mut report = Issues::of(period, &current).report(DEFAULT_LIMIT);
        let improvements = self
            .store
            .improvements_of_issues(&report.improvement_keys())
            .await?;
        report.link(&improvements);
        Ok(report.improvement_rate)
    }
}
