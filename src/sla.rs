//! The SLA scheduler around the store: on every instance, it looks at the clocks coming due,
//! records SLA_AT_RISK and SLA_BREACHED once per clock, runs the escalation levels they
//! start, and has the router serve a queue an escalation moved a ticket to.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use tokio_util::sync::CancellationToken;

use crate::domain::clock::Clock;
use crate::error::Result;
use crate::routing::Router;
use crate::store::Store;

/// Tickets looked at per scheduler read: a pass repeats until fewer come due.
const BATCH: u64 = 500;

pub struct SlaScheduler {
    store: Store,
    router: Arc<Router>,
    clock: Arc<dyn Clock>,
    interval: Duration,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Tickets whose clocks were looked at.
    pub tickets: usize,
    /// Events recorded.
    pub events: usize,
}

impl SlaScheduler {
    pub fn new(
        store: Store,
        router: Arc<Router>,
        clock: Arc<dyn Clock>,
        interval: Duration,
    ) -> Arc<SlaScheduler> {
        Arc::new(SlaScheduler {
            store,
            router,
            clock,
            interval,
        })
    }

    /// One pass over the tickets whose clocks need a look by now. A ticket that fails (its
    /// transaction lost a race, say) is left for the next pass.
    pub async fn sweep(&self) -> Result<Pass> {
        let now = self.now();
        sweep(&self.store, Some(&self.router), now).await
    }

    /// Runs the scheduler every interval until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        crate::schedule::every(self.interval, stop, "SLA", || async {
            self.sweep().await.map(|_| ())
        })
        .await
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(6)
    }
}

/// One scheduler pass at `now` over `store`; the router, when given, serves the queues that
/// escalations moved tickets to. Public for the benchmark, which runs it without a server.
pub async fn sweep(store: &Store, router: Option<&Router>, now: DateTime<Utc>) -> Result<Pass> {
    let catalog = store.catalog().await?;
    let mut pass = Pass::default();
    loop {
        let due = store.sla_due(now, BATCH).await?;
        let mut progress = false;
        for &id in &due {
            match store.check_sla(id, &catalog, now).await {
                Ok(events) => {
                    progress |= !events.is_empty();
                    pass.events += events.len();
                    for event in events.iter().filter(|e| !e.changes.is_empty()) {
                        if let Some(router) = router {
                            router.after_change(event).await;
                        }
                    }
                }
                Err(error) => tracing::warn!(ticket = id, %error, "SLA check failed"),
            }
        }
        pass.tickets += due.len();
        // Tickets left as they were (moved meanwhile, or failing) wait for the next pass.
        if due.len() < BATCH as usize || !progress {
            return Ok(pass);
        }
    }
}
