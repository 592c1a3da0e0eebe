//! InsightsService's monthly report.

use tonic::{Request, Status};

use super::Reply;
use super::insights::InsightsApi;
use crate::proto::feedback::v1 as pb;

impl InsightsApi {
    pub(super) async fn report(&self, _r: Request<pb::RenderReportRequest>) -> Reply<pb::Report> {
        Err(Status::unimplemented("soon"))
    }
}
