//! Picking the agent within a team: among available agents with room left, by round robin,
//! by least load, or by best skill match then least load. Nobody fits: the ticket waits in
//! the team's queue.

use super::ticket::named_enum;

named_enum!(
    /// How an agent is picked within the chosen team.
    Strategy {
        RoundRobin = "ROUND_ROBIN",
        LeastLoaded = "LEAST_LOADED",
        Skills = "SKILLS",
    }
);

named_enum!(
    /// Whether an agent takes work now.
    Availability {
        Online = "ONLINE",
        Away = "AWAY",
        Offline = "OFFLINE",
    }
);

/// An agent as assignment sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate<'a> {
    pub id: &'a str,
    pub availability: Availability,
    /// Most open tickets they may hold.
    pub capacity: u32,
    pub open_tickets: u32,
    /// Skills such as `product:mall`, `lang:zh`, `category:refund`.
    pub skills: &'a [String],
}

impl Candidate<'_> {
    fn has_room(&self) -> bool {
        self.availability == Availability::Online && self.open_tickets < self.capacity
    }

    /// Open tickets per place, so agents of different capacity compare fairly.
    fn load(&self) -> f64 {
        f64::from(self.open_tickets) / f64::from(self.capacity.max(1))
    }
}

/// The agent who gets the next ticket, or `None` when nobody can take it now.
///
/// `after` is the agent who got the team's previous ticket: round robin continues with the
/// next one in `candidates`' order. `wanted` are the skills the ticket calls for.
pub fn pick<'a>(
    strategy: Strategy,
    candidates: &[Candidate<'a>],
    after: Option<&str>,
    wanted: &[String],
) -> Option<&'a str> {
    let open = candidates.iter().filter(|c| c.has_room());
    let by_load = |a: &&Candidate, b: &&Candidate| {
        a.load()
            .total_cmp(&b.load())
            .then_with(|| a.open_tickets.cmp(&b.open_tickets))
    };
    match strategy {
        Strategy::RoundRobin => {
            let start = after
                .and_then(|id| candidates.iter().position(|c| c.id == id))
                .map_or(0, |i| i + 1);
            (0..candidates.len())
                .map(|k| &candidates[(start + k) % candidates.len()])
                .find(|c| c.has_room())
                .map(|c| c.id)
        }
        Strategy::LeastLoaded => open.min_by(by_load).map(|c| c.id),
        Strategy::Skills => {
            let matched = |c: &Candidate| wanted.iter().filter(|w| c.skills.contains(w)).count();
            open.min_by(|a, b| matched(b).cmp(&matched(a)).then_with(|| by_load(a, b)))
                .map(|c| c.id)
        }
    }
}

/// A team's agents during one dispatch pass: each pick counts against the agent picked and
/// moves round robin on.
#[derive(Debug, Clone)]
pub struct Pool {
    pub agents: Vec<PoolAgent>,
    /// Who got the team's last ticket.
    pub last: Option<String>,
}

/// An agent as a pool holds them.
#[derive(Debug, Clone)]
pub struct PoolAgent {
    pub id: String,
    pub availability: Availability,
    pub capacity: u32,
    pub open_tickets: u32,
    pub skills: Vec<String>,
}

/// Who gets a ticket, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub agent: String,
    pub reason: String,
}

impl Pool {
    /// The pool of `agents`, round robin continuing after `last`.
    pub fn of(agents: Vec<super::staff::Agent>, last: Option<String>) -> Pool {
        Pool {
            agents: agents
                .into_iter()
                .map(|a| PoolAgent {
                    id: a.id,
                    availability: a.availability,
                    capacity: a.capacity,
                    open_tickets: a.open_tickets,
                    skills: a.skills,
                })
                .collect(),
            last,
        }
    }

    /// Places the agents can still take.
    pub fn room(&self) -> u32 {
        self.agents
            .iter()
            .filter(|a| a.availability == Availability::Online)
            .map(|a| a.capacity.saturating_sub(a.open_tickets))
            .sum()
    }

    /// Picks the agent for the next ticket and counts it against them; `None` when nobody
    /// has room.
    pub fn take(&mut self, strategy: Strategy, wanted: &[String]) -> Option<Pick> {
        let candidates: Vec<Candidate> = self
            .agents
            .iter()
            .map(|a| Candidate {
                id: &a.id,
                availability: a.availability,
                capacity: a.capacity,
                open_tickets: a.open_tickets,
                skills: &a.skills,
            })
            .collect();
        let chosen = pick(strategy, &candidates, self.last.as_deref(), wanted)?.to_owned();
        let agent = self.agents.iter_mut().find(|a| a.id == chosen)?;
        let reason = format!(
            "{strategy}: {chosen} had room ({} of {} open)",
            agent.open_tickets, agent.capacity
        );
        agent.open_tickets += 1;
        self.last = Some(chosen.clone());
        Some(Pick {
            agent: chosen,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent<'a>(
        id: &'a str,
        open_tickets: u32,
        capacity: u32,
        skills: &'a [String],
    ) -> Candidate<'a> {
        Candidate {
            id,
            availability: Availability::Online,
            capacity,
            open_tickets,
            skills,
        }
    }

    #[test]
    fn round_robin_goes_around_and_skips_the_full_and_the_absent() {
        let mut team = vec![
            agent("ann", 0, 5, &[]),
            agent("bob", 5, 5, &[]),
            agent("cid", 1, 5, &[]),
        ];
        assert_eq!(pick(Strategy::RoundRobin, &team, None, &[]), Some("ann"));
        assert_eq!(
            pick(Strategy::RoundRobin, &team, Some("ann"), &[]),
            Some("cid"),
            "bob is full"
        );
        assert_eq!(
            pick(Strategy::RoundRobin, &team, Some("cid"), &[]),
            Some("ann")
        );
        team[0].availability = Availability::Away;
        assert_eq!(
            pick(Strategy::RoundRobin, &team, Some("cid"), &[]),
            Some("cid")
        );
        assert_eq!(
            pick(Strategy::RoundRobin, &team, Some("gone"), &[]),
            Some("cid"),
            "an unknown last agent starts over"
        );
    }

    #[test]
    fn least_loaded_compares_load_against_capacity() {
        let team = [
            agent("ann", 3, 10, &[]),
            agent("bob", 2, 4, &[]),
            agent("cid", 9, 9, &[]),
        ];
        assert_eq!(
            pick(Strategy::LeastLoaded, &team, None, &[]),
            Some("ann"),
            "30 % beats 50 %; cid is full"
        );
    }

    #[test]
    fn skills_first_then_load() {
        let mall_zh = ["product:mall".to_owned(), "lang:zh".to_owned()];
        let mall = ["product:mall".to_owned()];
        let team = [
            agent("ann", 0, 5, &[]),
            agent("bob", 3, 5, &mall),
            agent("cid", 4, 5, &mall_zh),
            agent("dan", 1, 5, &mall_zh),
        ];
        assert_eq!(pick(Strategy::Skills, &team, None, &mall_zh), Some("dan"));
        assert_eq!(
            pick(Strategy::Skills, &team, None, &[]),
            Some("ann"),
            "no skills asked: least loaded"
        );
    }

    #[test]
    fn nobody_with_room_means_the_queue() {
        let mut team = [agent("ann", 5, 5, &[]), agent("bob", 0, 5, &[])];
        team[1].availability = Availability::Offline;
        for strategy in [
            Strategy::RoundRobin,
            Strategy::LeastLoaded,
            Strategy::Skills,
        ] {
            assert_eq!(pick(strategy, &team, None, &[]), None);
        }
        assert_eq!(pick(Strategy::RoundRobin, &[], None, &[]), None);
    }

    #[test]
    fn a_pool_counts_each_pick_and_stops_when_full() {
        let agent = |id: &str, capacity| PoolAgent {
            id: id.into(),
            availability: Availability::Online,
            capacity,
            open_tickets: 0,
            skills: Vec::new(),
        };
        let mut pool = Pool {
            agents: vec![agent("ann", 1), agent("bob", 2)],
            last: None,
        };
        assert_eq!(pool.room(), 3);
        let picks: Vec<_> = std::iter::from_fn(|| pool.take(Strategy::RoundRobin, &[]))
            .map(|p| p.agent)
            .collect();
        assert_eq!(picks, ["ann", "bob", "bob"]);
        assert_eq!(pool.room(), 0);
        assert_eq!(pool.last.as_deref(), Some("bob"));
    }
}
