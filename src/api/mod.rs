//! The gRPC edge: each handler checks its request into domain values, calls one use case, and
//! converts the answer; errors become status codes in one place ([`status`]). One module per
//! service.

mod abuse;
mod access;
mod attachments;
mod check;
pub(crate) mod convert;
mod improvements;
mod insights;
pub mod limits;
mod mask;
mod paging;
mod replies;
mod report;
mod routing;
mod sla;
mod status;
mod surveys;
mod tasks;
mod tickets;
mod webhooks;

use std::sync::Arc;

use tonic::{Response, Status};

use crate::app::App;
use crate::domain::access::Caller;
use crate::error::Result;
use crate::events::EventHub;

pub use abuse::AbuseApi;
pub use access::AccessApi;
pub use attachments::AttachmentApi;
pub use insights::InsightsApi;
pub use replies::ReplyApi;
pub use routing::RoutingApi;
pub use sla::SlaApi;
pub use surveys::SurveyApi;
pub use tasks::TaskApi;
pub use tickets::TicketApi;
pub use webhooks::WebhookApi;

/// What every service handler needs.
#[derive(Clone)]
pub struct Context {
    pub app: Arc<App>,
    pub hub: Arc<EventHub>,
    pub limits: Arc<limits::RateLimits>,
}

/// What every unary handler returns.
type Reply<T> = std::result::Result<Response<T>, Status>;

/// A handler's result as gRPC sees it: errors mapped to their status codes.
fn reply<T>(result: Result<T>) -> Reply<T> {
    result.map(Response::new).map_err(Status::from)
}

/// An etag from a request: empty means the caller does not check for concurrent changes.
fn etag(value: &str) -> Option<&str> {
    Some(value).filter(|e| !e.is_empty())
}

/// Who calls, as the authentication layer found it; a server always has that layer, so its
/// absence is a caller without credentials.
fn caller<T>(request: &tonic::Request<T>) -> std::result::Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no credentials"))
}
