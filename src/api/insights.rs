//! InsightsService: the dashboard, metrics, top issues, improvements, reports and exports.
//! The handlers of each part live beside this one (`improvements`, `report`); this module
//! holds the service and the figures.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status};

use super::{Context, Reply, caller};
use crate::proto::feedback::v1::{self as pb, insights_service_server::InsightsService};

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

#[tonic::async_trait]
impl InsightsService for InsightsApi {
    async fn get_dashboard(
        &self,
        request: Request<pb::GetDashboardRequest>,
    ) -> Reply<pb::Dashboard> {
        let _by = caller(&request)?;
        Err(Status::unimplemented("soon"))
    }

    type WatchDashboardStream = Streamed<pb::Dashboard>;

    async fn watch_dashboard(
        &self,
        request: Request<pb::GetDashboardRequest>,
    ) -> Reply<Self::WatchDashboardStream> {
        let _by = caller(&request)?;
        Err(Status::unimplemented("soon"))
    }

    async fn query_metrics(
        &self,
        request: Request<pb::QueryMetricsRequest>,
    ) -> Reply<pb::QueryMetricsResponse> {
        let _by = caller(&request)?;
        Err(Status::unimplemented("soon"))
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
        let _by = caller(&request)?;
        Err(Status::unimplemented("soon"))
    }
}

#[allow(dead_code)]
fn _unused(_: Response<()>) {}
