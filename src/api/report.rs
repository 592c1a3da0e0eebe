//! InsightsService's monthly report.

use tonic::Request;

use super::check::Check;
use super::insights::{InsightsApi, zone};
use super::{Reply, caller, convert::timestamp, reply};
use crate::domain::language::Language;
use crate::domain::period::Period;
use crate::domain::report;
use crate::proto::feedback::v1 as pb;

impl InsightsApi {
    pub(super) async fn report(
        &self,
        request: Request<pb::RenderReportRequest>,
    ) -> Reply<pb::Report> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let zone = zone(&mut check, "time_zone", &r.time_zone);
                let language = match pb::ReportLanguage::try_from(r.language) {
                    Ok(pb::ReportLanguage::En) => Language::En,
                    Ok(_) => Language::Zh,
                    Err(_) => {
                        check.add("language", "is not a ReportLanguage");
                        Language::Zh
                    }
                };
                let month = match r.month.trim() {
                    "" => Some(Period::last_month(self.cx.app.now(), zone)),
                    given => Period::month(given, zone).or_else(|| {
                        check.add("month", "must be a month such as \"2026-11\"");
                        None
                    }),
                };
                check.done()?;
                // The report is the whole organisation's: not a supervisor's to read.
                super::insights::own_teams(&by, &None)?;
                let month = month.unwrap_or_else(|| Period::last_month(self.cx.app.now(), zone));
                let label = month.start.with_timezone(&zone).format("%Y-%m").to_string();
                let data = self.cx.app.month_report(month, label, zone).await?;
                let (title, html) = report::render(&data, language);
                Ok(pb::Report {
                    title,
                    content_type: "text/html; charset=utf-8".into(),
                    html,
                    start_time: Some(timestamp(month.start)),
                    end_time: Some(timestamp(month.end)),
                })
            }
            .await,
        )
    }
}
