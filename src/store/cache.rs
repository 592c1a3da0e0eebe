//! Tickets as last committed, by id, so that reading one costs no round trip to the database.
//!
//! Every commit of this process puts in the tickets it wrote before the call that made it
//! returns, so a caller reads its own writes on the instance it wrote to. What other
//! instances commit arrives through the event log, whose tailer puts in each event's ticket
//! as it stood: there, a read may trail a commit by as long as the tailer takes to hear of it
//! (the notification's delay on PostgreSQL). A ticket's version only grows, so whichever copy
//! arrives last, the newest stays.
//!
//! The cache is trusted only while the tailer keeps reading the log: it reads at least once a
//! second, and when it has not read it for [`TRUSTED_FOR`] (the database is out of reach, say)
//! reads go to the database again, and fail as any read would.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quick_cache::sync::{Cache, EntryAction, EntryResult};

use crate::domain::ticket::Ticket;

/// How long after the tailer last read the log the cache still answers.
pub const TRUSTED_FOR: Duration = Duration::from_secs(3);

/// A bounded cache of tickets by id; holds nothing when its capacity is 0.
pub struct TicketCache {
    tickets: Option<Cache<i64, Arc<Ticket>>>,
    /// When the log was last read to its end, in milliseconds after `epoch`, plus one; 0: not
    /// since the start, or the last read failed.
    read_log: AtomicU64,
    epoch: Instant,
}

impl TicketCache {
    /// Holds up to about `capacity` tickets, the least used going first.
    pub fn new(capacity: usize) -> TicketCache {
        TicketCache {
            tickets: (capacity > 0).then(|| Cache::new(capacity)),
            read_log: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Ticket `id`, if held and the log has been read lately.
    pub fn get(&self, id: i64) -> Option<Ticket> {
        let read = self.read_log.load(Ordering::Acquire);
        if read == 0 || self.now().saturating_sub(read) > TRUSTED_FOR.as_millis() as u64 {
            return None;
        }
        let held = self.tickets.as_ref()?.get(&id)?;
        Some(Ticket::clone(&held))
    }

    /// The log was read to its end just now: what the cache holds is current.
    pub fn read_the_log(&self) {
        self.read_log.store(self.now(), Ordering::Release);
    }

    /// Reading the log failed: the cache no longer answers until it is read again.
    pub fn lost_the_log(&self) {
        self.read_log.store(0, Ordering::Release);
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Keeps `ticket` unless a newer version of it is held already (a later write of the same
    /// version, within one transaction, replaces the earlier).
    pub fn remember(&self, ticket: Ticket) {
        let Some(cache) = &self.tickets else {
            return;
        };
        let (id, version) = (ticket.id, ticket.version);
        let mut ticket = Some(Arc::new(ticket));
        let entry = cache.entry(&id, None, |_, held| {
            if held.version <= version
                && let Some(newer) = ticket.take()
            {
                *held = newer;
            }
            EntryAction::Retain(())
        });
        if let (EntryResult::Vacant(slot), Some(ticket)) = (entry, ticket) {
            let _ = slot.insert(ticket);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(id: i64, version: i64) -> Ticket {
        use crate::domain::ticket::{Customer, Kind, sample};
        let mut ticket = sample(Kind::Problem, Customer::default(), chrono::Utc::now());
        ticket.id = id;
        ticket.version = version;
        ticket
    }

    #[test]
    fn the_newest_version_stays_whatever_arrives_last() {
        let cache = TicketCache::new(10);
        cache.read_the_log();
        cache.remember(version(1, 3));
        cache.remember(version(1, 2));
        assert_eq!(cache.get(1).map(|t| t.version), Some(3));
        cache.remember(version(1, 4));
        assert_eq!(cache.get(1).map(|t| t.version), Some(4));
        assert!(cache.get(2).is_none());
    }

    #[test]
    fn a_cache_of_no_capacity_holds_nothing() {
        let cache = TicketCache::new(0);
        cache.read_the_log();
        cache.remember(version(1, 1));
        assert!(cache.get(1).is_none());
    }

    #[test]
    fn it_answers_only_while_the_log_is_read() {
        let cache = TicketCache::new(10);
        cache.remember(version(1, 1));
        assert!(cache.get(1).is_none(), "not before the log is first read");
        cache.read_the_log();
        assert!(cache.get(1).is_some());
        cache.lost_the_log();
        assert!(cache.get(1).is_none(), "not once reading it failed");
    }
}
