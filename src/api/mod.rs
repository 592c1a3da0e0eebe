//! The gRPC edge: validate each request, convert it, call the domain and the store, map
//! errors to status codes. One module per service.

mod convert;
mod paging;
mod routing;
mod tickets;
mod validate;
mod verbs;

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;

use crate::domain::clock::Clock;
use crate::events::EventHub;
use crate::routing::Router;
use crate::store::Store;

pub use routing::RoutingApi;
pub use tickets::TicketApi;

/// What every service handler needs.
#[derive(Clone)]
pub struct Context {
    pub store: Store,
    pub hub: Arc<EventHub>,
    pub router: Arc<Router>,
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
