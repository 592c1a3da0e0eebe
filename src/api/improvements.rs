//! InsightsService's top issues and improvements (整改).

use tonic::{Request, Status};

use super::Reply;
use super::insights::InsightsApi;
use crate::proto::feedback::v1 as pb;

impl InsightsApi {
    pub(super) async fn top_issues(
        &self,
        _r: Request<pb::GetTopIssuesRequest>,
    ) -> Reply<pb::TopIssues> {
        Err(Status::unimplemented("soon"))
    }

    pub(super) async fn create_improvement_(
        &self,
        _r: Request<pb::CreateImprovementRequest>,
    ) -> Reply<pb::Improvement> {
        Err(Status::unimplemented("soon"))
    }

    pub(super) async fn get_improvement_(
        &self,
        _r: Request<pb::GetImprovementRequest>,
    ) -> Reply<pb::Improvement> {
        Err(Status::unimplemented("soon"))
    }

    pub(super) async fn update_improvement_(
        &self,
        _r: Request<pb::UpdateImprovementRequest>,
    ) -> Reply<pb::Improvement> {
        Err(Status::unimplemented("soon"))
    }

    pub(super) async fn list_improvements_(
        &self,
        _r: Request<pb::ListImprovementsRequest>,
    ) -> Reply<pb::ListImprovementsResponse> {
        Err(Status::unimplemented("soon"))
    }
}
