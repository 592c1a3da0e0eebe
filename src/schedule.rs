//! Passes every instance runs on an interval until shutdown (the survey and SLA schedulers).

use std::future::Future;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::error::Result;

/// Runs `pass` every `interval` until `stop`; a failed pass is logged and the next one
/// retries. A pass that overruns delays the next instead of bunching them up.
pub async fn every<F, Fut>(interval: Duration, stop: CancellationToken, what: &str, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {
                if let Err(error) = pass().await {
                    tracing::warn!(%error, "{what} pass failed; the next one retries");
                }
            }
        }
    }
}
