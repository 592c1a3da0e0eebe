//! The gRPC edge: validate each request, convert it, call the domain and the store, map
//! errors to status codes. One module per service.

mod convert;
mod paging;
mod routing;
mod sla;
mod surveys;
mod tickets;
mod validate;
mod verbs;

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use tonic::{Response, Status};

use crate::domain::clock::Clock;
use crate::error::Result;
use crate::events::EventHub;
use crate::routing::Router;
use crate::store::Store;
use crate::surveys::Surveys;

pub use routing::RoutingApi;
pub use sla::SlaApi;
pub use surveys::SurveyApi;
pub use tickets::TicketApi;

/// What every service handler needs.
#[derive(Clone)]
pub struct Context {
    pub store: Store,
    pub hub: Arc<EventHub>,
    pub router: Arc<Router>,
    pub surveys: Arc<Surveys>,
    pub clock: Arc<dyn Clock>,
    /// The service time zone: the date in ticket numbers.
    pub zone: Tz,
}

impl Context {
    /// The current time to microseconds, the precision both databases keep, so that what a
    /// call returns is exactly what a later read finds.
    fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(6)
    }
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
