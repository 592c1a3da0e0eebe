//! What the figures are made of. Each ticket's [`Facts`] are folded from its events; the
//! facts say what the ticket adds to each hour ([`Facts::tallies`]); hours add up
//! ([`Tally::add`]) into any bucket and group, and a [`Tally`] reads as [`Figures`]. The
//! roll-ups keep the sums per hour and dimension value, kept current by the change of each
//! ticket's tallies ([`changes`]): so a sum is always what the tickets' facts say, whatever
//! order their events came in.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::Calendar;
use super::event::{EventType, TicketEvent};
use super::period::Period;
use super::sla::{ClockState, Target};
use super::survey::Scale;
use super::ticket::{AuthorRole, Kind, Resolution, Status, Ticket, Visibility, named_enum};

named_enum!(
    /// What figures are grouped or filtered by: a ticket's current value of each.
    Dimension {
        Kind = "KIND",
        Channel = "CHANNEL",
        Team = "TEAM",
        Agent = "AGENT",
        Product = "PRODUCT",
        Category = "CATEGORY",
        CustomerTier = "CUSTOMER_TIER",
        Priority = "PRIORITY",
    }
);

impl Dimension {
    /// Its place in [`Dims`].
    pub fn index(self) -> usize {
        Dimension::ALL.iter().position(|d| *d == self).unwrap_or(0)
    }

    /// How roll-up rows name it; the total is the empty grouping.
    pub fn grouping(dimension: Option<Dimension>) -> &'static str {
        dimension.map_or("", Dimension::as_str)
    }
}

/// A ticket's value of each dimension, in [`Dimension::ALL`] order; empty when it has none.
pub type Dims = [String; 8];

/// The dimension values of `ticket` as it stands.
pub fn dims_of(ticket: &Ticket) -> Dims {
    [
        ticket.kind.as_str().to_owned(),
        ticket.channel.as_str().to_owned(),
        ticket.team.clone().unwrap_or_default(),
        ticket.assignee.clone().unwrap_or_default(),
        ticket.product.clone(),
        ticket.category.clone().unwrap_or_default(),
        ticket.customer.tier.as_str().to_owned(),
        ticket.priority.as_str().to_owned(),
    ]
}

/// When something happened, and how long after intake in calendar and in business time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub at: DateTime<Utc>,
    /// Seconds since intake.
    pub secs: i64,
    /// Working seconds since intake, by the ticket's calendar when the mark was made.
    pub business_secs: i64,
}

/// How a finished SLA clock did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockOutcome {
    pub target: Target,
    /// Which run of the clock (a reopen starts it again).
    pub started_at: DateTime<Utc>,
    /// When it stopped, or came due unmet.
    pub finished_at: DateTime<Utc>,
    pub met: bool,
}

/// One survey sent about the ticket, and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SurveyFacts {
    pub survey_id: i64,
    pub sent_at: Option<DateTime<Utc>>,
    pub answered: bool,
    /// 1-5 rating answers, and those of 4 or 5.
    pub ratings: i64,
    pub good_ratings: i64,
    /// 0-10 answers, promoters (9-10) and detractors (0-6).
    pub nps_answers: i64,
    pub promoters: i64,
    pub detractors: i64,
    /// The lowest rating, for exports.
    pub lowest_rating: Option<i32>,
}

/// Everything the figures need of one ticket, folded from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub ticket_id: i64,
    pub number: String,
    pub created_at: DateTime<Utc>,
    pub dims: Dims,
    pub status: Status,
    /// Not held for review, not spam, not found malicious: it counts in the figures.
    pub counted: bool,
    /// Found malicious on review: never counted again.
    pub abusive: bool,
    pub complaint: bool,
    /// It repeats an earlier complaint.
    pub repeat: bool,
    /// The highest SLA escalation level it reached.
    pub escalation_level: u32,
    pub first_assigned: Option<Mark>,
    pub acknowledged: Option<Mark>,
    pub first_response: Option<Mark>,
    pub first_resolved: Option<Mark>,
    pub last_resolved: Option<Mark>,
    pub resolves: Vec<DateTime<Utc>>,
    pub reopens: Vec<DateTime<Utc>>,
    /// Public replies written by staff.
    pub public_replies: u32,
    pub clocks: Vec<ClockOutcome>,
    /// Clocks running now past their at-risk share, and those past due.
    pub at_risk_now: Vec<Target>,
    pub breached_now: Vec<Target>,
    pub surveys: Vec<SurveyFacts>,
    /// Each status it entered, and when.
    pub statuses: Vec<(DateTime<Utc>, Status)>,
    /// When its last event happened.
    pub last_event_at: DateTime<Utc>,
    /// Its title and description's key phrases, for top issues.
    pub phrases: Vec<String>,
}

impl Facts {
    /// The facts of a ticket before any event: what its first event makes of them.
    pub fn new(ticket: &Ticket) -> Facts {
        Facts {
            ticket_id: ticket.id,
            number: ticket.number.clone(),
            created_at: ticket.created_at,
            dims: dims_of(ticket),
            status: ticket.status,
            counted: true,
            abusive: false,
            complaint: ticket.kind == Kind::Complaint,
            repeat: false,
            escalation_level: 0,
            first_assigned: None,
            acknowledged: None,
            first_response: None,
            first_resolved: None,
            last_resolved: None,
            resolves: Vec::new(),
            reopens: Vec::new(),
            public_replies: 0,
            clocks: Vec::new(),
            at_risk_now: Vec::new(),
            breached_now: Vec::new(),
            surveys: Vec::new(),
            statuses: Vec::new(),
            last_event_at: ticket.created_at,
            phrases: Vec::new(),
        }
    }

    /// Whether the ticket is still to be done.
    pub fn open(&self) -> bool {
        self.status.is_open()
    }

    /// Folds in one event; `calendar` counts business time for the marks it makes.
    pub fn apply(&mut self, event: &TicketEvent, calendar: &Calendar) {
        let t = &event.ticket;
        let at = event.occurred_at;
        let mark = |when: DateTime<Utc>| Mark {
            at: when,
            secs: (when - t.created_at).num_seconds().max(0),
            business_secs: calendar.between(t.created_at, when).num_seconds(),
        };
        if self.phrases.is_empty() || event.before("title").is_some() {
            self.phrases = super::topics::key_phrases(&format!("{} {}", t.title, t.description));
        }
        self.number = t.number.clone();
        self.dims = dims_of(t);
        self.complaint = t.kind == Kind::Complaint;
        self.repeat = t.repeat_of.is_some();
        self.escalation_level = self.escalation_level.max(t.sla.escalation_level);
        if self.statuses.last().map(|(_, s)| *s) != Some(t.status) {
            self.statuses.push((at, t.status));
        }
        self.status = t.status;
        self.abusive |= event.event_type == EventType::AbuseConfirmed;
        self.counted = !self.abusive
            && t.status != Status::Quarantined
            && t.resolution != Some(Resolution::Spam);
        if self.first_assigned.is_none() && t.assignee.is_some() {
            self.first_assigned = Some(mark(t.assigned_at.unwrap_or(at)));
        }
        if self.acknowledged.is_none()
            && let Some(when) = t.acknowledged_at
        {
            self.acknowledged = Some(mark(when));
        }
        if self.first_response.is_none()
            && let Some(when) = t.first_responded_at
        {
            self.first_response = Some(mark(when));
        }
        match event.event_type {
            EventType::TicketResolved => {
                self.resolves.push(at);
                self.first_resolved.get_or_insert(mark(at));
                self.last_resolved = Some(mark(at));
            }
            EventType::TicketReopened => self.reopens.push(at),
            EventType::CommentAdded => {
                if let Some(c) = &event.comment
                    && c.visibility == Visibility::Public
                    && c.author_role == AuthorRole::Agent
                {
                    self.public_replies += 1;
                }
            }
            EventType::SurveyInvited => {
                if let Some(s) = &event.survey {
                    self.survey(s.survey_id).sent_at = Some(at);
                }
            }
            EventType::SurveyAnswered => {
                if let Some(s) = &event.survey {
                    let survey = self.survey(s.survey_id);
                    survey.answered = true;
                    survey.lowest_rating = s.score;
                    for scored in &s.scores {
                        match scored.scale {
                            Scale::Rating => {
                                survey.ratings += 1;
                                survey.good_ratings += i64::from(scored.score >= 4);
                            }
                            Scale::Nps => {
                                survey.nps_answers += 1;
                                survey.promoters += i64::from(scored.score >= 9);
                                survey.detractors += i64::from(scored.score <= 6);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        self.at_risk_now.clear();
        self.breached_now.clear();
        for clock in &t.sla.clocks {
            let finished = matches!(clock.state, ClockState::Met | ClockState::Breached);
            let known = self
                .clocks
                .iter()
                .any(|c| c.target == clock.target && c.started_at == clock.started_at);
            if finished && !known {
                self.clocks.push(ClockOutcome {
                    target: clock.target,
                    started_at: clock.started_at,
                    finished_at: clock.stopped_at.unwrap_or(at),
                    met: clock.state == ClockState::Met,
                });
            }
            if clock.stopped_at.is_none() && t.status.is_open() {
                match clock.state {
                    ClockState::Breached => self.breached_now.push(clock.target),
                    ClockState::Running if clock.warned => self.at_risk_now.push(clock.target),
                    _ => {}
                }
            }
        }
        self.last_event_at = self.last_event_at.max(at);
    }

    fn survey(&mut self, survey_id: i64) -> &mut SurveyFacts {
        let i = match self.surveys.iter().position(|s| s.survey_id == survey_id) {
            Some(i) => i,
            None => {
                self.surveys.push(SurveyFacts {
                    survey_id,
                    ..SurveyFacts::default()
                });
                self.surveys.len() - 1
            }
        };
        &mut self.surveys[i]
    }

    /// The status it was in just before `at`, if it existed then.
    pub fn status_before(&self, at: DateTime<Utc>) -> Option<Status> {
        self.statuses
            .iter()
            .take_while(|(when, _)| *when < at)
            .last()
            .map(|(_, s)| *s)
    }

    /// What the ticket adds to each hour (by [`hour_of`]); nothing unless counted.
    pub fn tallies(&self) -> BTreeMap<i64, Tally> {
        let mut hours: BTreeMap<i64, Tally> = BTreeMap::new();
        if !self.counted {
            return hours;
        }
        let created = self.created_at;
        let tally = slot(&mut hours, created);
        tally.counts[Count::Intake as usize] += 1;
        tally.counts[Count::Completed as usize] += i64::from(!self.status.is_open());
        tally.counts[Count::Repeats as usize] += i64::from(self.repeat);
        if self.complaint {
            tally.counts[Count::Complaints as usize] += 1;
            tally.counts[Count::Escalated as usize] += i64::from(self.escalation_level > 0);
        }
        for (span, mark) in [
            (Span::Dispatch, self.first_assigned),
            (Span::Acknowledgement, self.acknowledged),
            (Span::FirstResponse, self.first_response),
            (Span::FirstResolution, self.first_resolved),
            (Span::FullResolution, self.last_resolved),
        ] {
            if let Some(mark) = mark {
                let tally = slot(&mut hours, mark.at);
                tally.spans[span as usize][0].record(mark.secs, 1);
                tally.spans[span as usize][1].record(mark.business_secs, 1);
            }
        }
        if let Some(first) = self.first_resolved {
            let tally = slot(&mut hours, first.at);
            tally.counts[Count::FirstResolved as usize] += 1;
            let one_touch = self.reopens.is_empty() && self.public_replies <= 1;
            tally.counts[Count::OneTouch as usize] += i64::from(one_touch);
        }
        for when in &self.resolves {
            slot(&mut hours, *when).counts[Count::Resolves as usize] += 1;
        }
        for when in &self.reopens {
            slot(&mut hours, *when).counts[Count::Reopens as usize] += 1;
        }
        for clock in &self.clocks {
            slot(&mut hours, clock.finished_at).counts
                [Count::sla(clock.target, clock.met) as usize] += 1;
        }
        for survey in &self.surveys {
            let Some(sent) = survey.sent_at else { continue };
            let c = &mut slot(&mut hours, sent).counts;
            c[Count::SurveysSent as usize] += 1;
            c[Count::SurveysAnswered as usize] += i64::from(survey.answered);
            c[Count::Ratings as usize] += survey.ratings;
            c[Count::GoodRatings as usize] += survey.good_ratings;
            c[Count::NpsAnswers as usize] += survey.nps_answers;
            c[Count::Promoters as usize] += survey.promoters;
            c[Count::Detractors as usize] += survey.detractors;
        }
        for (i, (entered, status)) in self.statuses.iter().enumerate() {
            let Some(count) = Count::backlog(*status) else {
                continue;
            };
            slot(&mut hours, *entered).counts[count as usize] += 1;
            if let Some((left, _)) = self.statuses.get(i + 1) {
                slot(&mut hours, *left).counts[count as usize] -= 1;
            }
        }
        hours.retain(|_, t| !t.is_zero());
        hours
    }
}

/// The tally of the hour `when` falls in.
fn slot(hours: &mut BTreeMap<i64, Tally>, when: DateTime<Utc>) -> &mut Tally {
    hours.entry(hour_of(when)).or_default()
}

/// The hour `at` falls in, counted from the Unix epoch.
pub fn hour_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(3600)
}

/// The first instant of hour `hour`.
pub fn hour_start(hour: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(hour.saturating_mul(3600), 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A roll-up row's key: a grouping (a dimension, or none for the total), the ticket's value
/// of it, the span's length in hours (one of [`SPAN_HOURS`]) and its first hour.
pub type RollupKey = (Option<Dimension>, String, i64, i64);

/// The lengths of the spans the roll-ups sum, in hours: each hour is in one span of each, so a
/// day in any whole-hour time zone is read as a few rows instead of 24.
pub const SPAN_HOURS: [i64; 3] = [1, 4, 24];

/// The spans (length, first hour) that cover the hours `from..to` exactly, longest first
/// where they fit.
pub fn cover(from: i64, to: i64) -> Vec<(i64, i64)> {
    let mut spans = Vec::new();
    let mut at = from;
    while at < to {
        let hours = SPAN_HOURS
            .iter()
            .rev()
            .copied()
            .find(|h| at.rem_euclid(*h) == 0 && at + h <= to)
            .unwrap_or(1);
        spans.push((hours, at));
        at += hours;
    }
    spans
}

/// What changes in the roll-ups when a ticket's facts go from `before` to `after`: per key,
/// the difference, without the keys that do not change.
pub fn changes(before: Option<&Facts>, after: &Facts, into: &mut HashMap<RollupKey, Tally>) {
    let mut add = |facts: &Facts, sign: i64| {
        for (hour, tally) in facts.tallies() {
            let groupings = std::iter::once(None).chain(Dimension::ALL.iter().copied().map(Some));
            for grouping in groupings {
                let value = grouping.map_or(String::new(), |d| facts.dims[d.index()].clone());
                for hours in SPAN_HOURS {
                    let start = hour.div_euclid(hours) * hours;
                    into.entry((grouping, value.clone(), hours, start))
                        .or_default()
                        .add(&tally, sign);
                }
            }
        }
    };
    if let Some(before) = before {
        add(before, -1);
    }
    add(after, 1);
}

/// The counts a tally keeps, by what they count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Intake,
    /// Of the tickets created, those resolved or closed now.
    Completed,
    Repeats,
    Complaints,
    /// Of the complaints created, those that reached an escalation level.
    Escalated,
    FirstResolved,
    OneTouch,
    Resolves,
    Reopens,
    AcknowledgeMet,
    AcknowledgeBreached,
    FirstResponseMet,
    FirstResponseBreached,
    ResolutionMet,
    ResolutionBreached,
    SurveysSent,
    SurveysAnswered,
    Ratings,
    GoodRatings,
    NpsAnswers,
    Promoters,
    Detractors,
    /// Tickets entering (+1) and leaving (-1) each open status.
    BacklogNew,
    BacklogAssigned,
    BacklogAcknowledged,
    BacklogInProgress,
    BacklogPendingCustomer,
    BacklogReopened,
}

/// How many counts a tally keeps.
pub const COUNTS: usize = Count::BacklogReopened as usize + 1;

/// The open statuses whose backlog is kept, in the order of their counts.
pub const BACKLOG: [Status; 6] = [
    Status::New,
    Status::Assigned,
    Status::Acknowledged,
    Status::InProgress,
    Status::PendingCustomer,
    Status::Reopened,
];

impl Count {
    fn sla(target: Target, met: bool) -> Count {
        match (target, met) {
            (Target::Acknowledge, true) => Count::AcknowledgeMet,
            (Target::Acknowledge, false) => Count::AcknowledgeBreached,
            (Target::FirstResponse, true) => Count::FirstResponseMet,
            (Target::FirstResponse, false) => Count::FirstResponseBreached,
            (Target::Resolution, true) => Count::ResolutionMet,
            (Target::Resolution, false) => Count::ResolutionBreached,
        }
    }

    /// The backlog count of `status`, if it is an open one that counts.
    pub fn backlog(status: Status) -> Option<Count> {
        let i = BACKLOG.iter().position(|s| *s == status)?;
        Some(BACKLOG_COUNTS[i])
    }
}

const BACKLOG_COUNTS: [Count; 6] = [
    Count::BacklogNew,
    Count::BacklogAssigned,
    Count::BacklogAcknowledged,
    Count::BacklogInProgress,
    Count::BacklogPendingCustomer,
    Count::BacklogReopened,
];

/// The durations a tally keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Dispatch,
    Acknowledgement,
    FirstResponse,
    FirstResolution,
    FullResolution,
}

/// How many durations a tally keeps.
pub const SPANS: usize = Span::FullResolution as usize + 1;

/// Durations in whole seconds: how many, their sum, and how many fall in each bucket of
/// [`bin`]; enough for the mean and the percentiles to within 1 %.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Histogram {
    pub count: i64,
    pub sum: i64,
    /// (bucket, how many), in bucket order, none of them zero: a sorted run merges with
    /// another in one pass, and a stored one decodes without sorting.
    pub bins: Vec<(i32, i64)>,
}

/// Below this many seconds, each second is its own bucket.
const EXACT_BELOW: i64 = 128;
/// Above it, each bucket is this much wider than the one before (1 %).
const GROWTH: f64 = 1.01;

/// The bucket of a duration of `secs` seconds.
pub fn bin(secs: i64) -> i32 {
    if secs < EXACT_BELOW {
        return secs.max(0) as i32;
    }
    let steps = ((secs as f64) / EXACT_BELOW as f64).ln() / GROWTH.ln();
    EXACT_BELOW as i32 + steps.ceil() as i32
}

/// The largest duration bucket `bin` holds: what a percentile falling in it reports.
pub fn bin_value(bin: i32) -> i64 {
    if i64::from(bin) < EXACT_BELOW {
        return i64::from(bin);
    }
    let steps = bin - EXACT_BELOW as i32;
    ((EXACT_BELOW as f64) * GROWTH.powi(steps)).floor() as i64
}

impl Histogram {
    pub fn record(&mut self, secs: i64, times: i64) {
        self.count += times;
        self.sum += secs * times;
        self.add_to_bin(bin(secs), times);
    }

    /// Adds `times` to one bucket, keeping the buckets in order and none of them zero.
    fn add_to_bin(&mut self, bin: i32, times: i64) {
        match self.bins.binary_search_by_key(&bin, |(b, _)| *b) {
            Ok(i) => {
                self.bins[i].1 += times;
                if self.bins[i].1 == 0 {
                    self.bins.remove(i);
                }
            }
            Err(i) if times != 0 => self.bins.insert(i, (bin, times)),
            Err(_) => {}
        }
    }

    fn add(&mut self, other: &Histogram, sign: i64) {
        self.count += sign * other.count;
        self.sum += sign * other.sum;
        if other.bins.is_empty() {
            return;
        }
        if self.bins.is_empty() && sign == 1 {
            self.bins.clone_from(&other.bins);
            return;
        }
        // A ticket's own histograms hold a bucket or two: insert them in place.
        if other.bins.len() <= 2 {
            for (bin, n) in &other.bins {
                self.add_to_bin(*bin, sign * n);
            }
            return;
        }
        // Both runs are in bucket order: merge them in one pass.
        let (mine, theirs) = (&self.bins, &other.bins);
        let mut merged = Vec::with_capacity(mine.len() + theirs.len());
        let (mut i, mut j) = (0, 0);
        loop {
            let (bin, n) = match (mine.get(i), theirs.get(j)) {
                (Some(&(m, a)), Some(&(t, b))) if m == t => {
                    (i, j) = (i + 1, j + 1);
                    (m, a + sign * b)
                }
                (Some(&(m, a)), Some(&(t, _))) if m < t => {
                    i += 1;
                    (m, a)
                }
                (Some(&(m, a)), None) => {
                    i += 1;
                    (m, a)
                }
                (_, Some(&(t, b))) => {
                    j += 1;
                    (t, sign * b)
                }
                (None, None) => break,
            };
            if n != 0 {
                merged.push((bin, n));
            }
        }
        self.bins = merged;
    }

    /// The sum of `parts`. Adding k histograms two at a time walks the first one k times;
    /// counting them into `scratch` (room kept between calls), one slot per bucket between
    /// the lowest and the highest, walks each once but every slot too. Whichever is less.
    fn sum(parts: &[&Histogram], scratch: &mut Vec<i64>) -> Histogram {
        let first = parts
            .iter()
            .filter_map(|h| h.bins.first())
            .map(|b| b.0)
            .min();
        let last = parts
            .iter()
            .filter_map(|h| h.bins.last())
            .map(|b| b.0)
            .max();
        let mut total = Histogram {
            count: parts.iter().map(|h| h.count).sum(),
            sum: parts.iter().map(|h| h.sum).sum(),
            bins: Vec::new(),
        };
        let (Some(first), Some(last)) = (first, last) else {
            return total;
        };
        let most = parts.iter().map(|h| h.bins.len()).sum::<usize>();
        if parts.len() * most / 2 < (last - first) as usize {
            let mut total = Histogram::default();
            for part in parts {
                total.add(part, 1);
            }
            return total;
        }
        scratch.clear();
        scratch.resize((last - first) as usize + 1, 0);
        for (bin, n) in parts.iter().flat_map(|h| &h.bins) {
            scratch[(bin - first) as usize] += n;
        }
        total.bins.reserve_exact(most.min(scratch.len()));
        for (bin, n) in (first..=last).zip(scratch.iter()) {
            if *n != 0 {
                total.bins.push((bin, *n));
            }
        }
        total
    }

    /// The nearest-rank `p`-th percentile (0 < p ≤ 1), as its bucket reports it.
    pub fn percentile(&self, p: f64) -> Option<i64> {
        if self.count <= 0 {
            return None;
        }
        let rank = ((p * self.count as f64).ceil() as i64).max(1);
        let mut seen = 0;
        for (bin, n) in &self.bins {
            seen += n;
            if seen >= rank {
                return Some(bin_value(*bin));
            }
        }
        self.bins.last().map(|(b, _)| bin_value(*b))
    }

    /// The mean, in milliseconds.
    pub fn average_millis(&self) -> Option<i64> {
        (self.count > 0).then(|| self.sum * 1000 / self.count)
    }
}

/// What some tickets add up to over some hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub counts: [i64; COUNTS],
    /// Per [`Span`], in calendar time and in business time.
    pub spans: [[Histogram; 2]; SPANS],
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            counts: [0; COUNTS],
            spans: Default::default(),
        }
    }
}

impl Tally {
    /// Adds `other` (`sign` 1) or takes it away (`sign` -1).
    pub fn add(&mut self, other: &Tally, sign: i64) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine += sign * theirs;
        }
        for (mine, theirs) in self.spans.iter_mut().zip(&other.spans) {
            for (m, t) in mine.iter_mut().zip(theirs) {
                m.add(t, sign);
            }
        }
    }

    /// The sum of `parts`.
    pub fn sum(mut parts: Vec<Tally>) -> Tally {
        if parts.len() <= 1 {
            return parts.pop().unwrap_or_default();
        }
        let mut scratch = Vec::new();
        let mut histograms = Vec::with_capacity(parts.len());
        Tally {
            counts: std::array::from_fn(|i| parts.iter().map(|t| t.counts[i]).sum()),
            spans: std::array::from_fn(|span| {
                std::array::from_fn(|time| {
                    histograms.clear();
                    histograms.extend(parts.iter().map(|t| &t.spans[span][time]));
                    Histogram::sum(&histograms, &mut scratch)
                })
            }),
        }
    }

    pub fn is_zero(&self) -> bool {
        self.counts.iter().all(|c| *c == 0)
            && self
                .spans
                .iter()
                .flatten()
                .all(|h| h.count == 0 && h.bins.is_empty())
    }

    pub fn count(&self, count: Count) -> i64 {
        self.counts[count as usize]
    }

    /// The backlog per open status this tally adds (entries minus exits).
    pub fn backlog(&self) -> [i64; 6] {
        BACKLOG_COUNTS.map(|c| self.count(c))
    }
}

/// A count out of a whole.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Ratio {
    pub part: i64,
    pub whole: i64,
}

impl Ratio {
    pub fn value(self) -> Option<f64> {
        (self.whole > 0).then(|| self.part as f64 / self.whole as f64)
    }
}

/// A set of durations as figures: count, mean and percentiles, in seconds (means in
/// milliseconds), in calendar then business time.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DurationFigures {
    pub count: i64,
    pub average_millis: Option<i64>,
    pub p50: Option<i64>,
    pub p90: Option<i64>,
    pub business_average_millis: Option<i64>,
    pub business_p50: Option<i64>,
    pub business_p90: Option<i64>,
}

/// How one SLA clock did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Attainment {
    pub met: i64,
    pub breached: i64,
}

/// Every metric over one bucket and group; the README and the .proto define each.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Figures {
    pub intake: i64,
    pub durations: [DurationFigures; SPANS],
    pub completion: Ratio,
    pub one_touch: Ratio,
    pub reopen: Ratio,
    pub repeat: Ratio,
    pub escalation: Ratio,
    /// Acknowledge, first response, resolution.
    pub sla: [Attainment; 3],
    pub survey_response: Ratio,
    pub csat: Ratio,
    pub nps: Option<f64>,
    pub nps_answers: i64,
    /// Tickets per open status ([`BACKLOG`] order) at the end of the bucket.
    pub backlog: [i64; 6],
}

impl Figures {
    /// Whether nothing happened: no count, no duration, no backlog.
    pub fn is_empty(&self) -> bool {
        *self == Figures::of(&Tally::default(), [0; 6])
    }

    /// The figures of `tally`, with `backlog` at the end of its bucket.
    pub fn of(tally: &Tally, backlog: [i64; 6]) -> Figures {
        let c = |count: Count| tally.count(count);
        let ratio = |part: Count, whole: Count| Ratio {
            part: c(part),
            whole: c(whole),
        };
        let durations = std::array::from_fn(|span| {
            let [calendar, business] = &tally.spans[span];
            DurationFigures {
                count: calendar.count,
                average_millis: calendar.average_millis(),
                p50: calendar.percentile(0.5),
                p90: calendar.percentile(0.9),
                business_average_millis: business.average_millis(),
                business_p50: business.percentile(0.5),
                business_p90: business.percentile(0.9),
            }
        });
        let attainment = |met, breached| Attainment {
            met: c(met),
            breached: c(breached),
        };
        let nps_answers = c(Count::NpsAnswers);
        Figures {
            intake: c(Count::Intake),
            durations,
            completion: ratio(Count::Completed, Count::Intake),
            one_touch: ratio(Count::OneTouch, Count::FirstResolved),
            reopen: ratio(Count::Reopens, Count::Resolves),
            repeat: ratio(Count::Repeats, Count::Intake),
            escalation: ratio(Count::Escalated, Count::Complaints),
            sla: [
                attainment(Count::AcknowledgeMet, Count::AcknowledgeBreached),
                attainment(Count::FirstResponseMet, Count::FirstResponseBreached),
                attainment(Count::ResolutionMet, Count::ResolutionBreached),
            ],
            survey_response: ratio(Count::SurveysAnswered, Count::SurveysSent),
            csat: ratio(Count::GoodRatings, Count::Ratings),
            nps: (nps_answers > 0).then(|| {
                (c(Count::Promoters) - c(Count::Detractors)) as f64 * 100.0 / nps_answers as f64
            }),
            nps_answers,
            backlog,
        }
    }
}

/// One bucket of one group's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Which bucket, by its place in the query's buckets.
    pub bucket: usize,
    /// The group's values, in the order grouped by; empty for the total.
    pub group: Vec<String>,
    pub figures: Figures,
}

/// Open tickets per backlog status ([`BACKLOG`] order).
pub type Backlog = [i64; 6];

/// Sums roll-up rows (`value`, first hour, tally), each within one bucket or after the last,
/// into `buckets` per value. The backlog at a bucket's end is the backlog `now` less what the
/// hours from that end on added. With `grouped` false every row is of one group (the total,
/// or the one value a filter read), with a row for every bucket; otherwise a value has a row
/// in a bucket when any of its figures there is not zero.
pub fn sum_rollups(
    buckets: &[Period],
    rows: Vec<(String, i64, Tally)>,
    now: HashMap<String, Backlog>,
    grouped: bool,
) -> Vec<Row> {
    let ends: Vec<i64> = buckets.iter().map(|b| hour_of(b.end)).collect();
    let (Some(first), Some(last)) = (buckets.first(), ends.last()) else {
        return Vec::new();
    };
    let first = hour_of(first.start);
    // Ungrouped, every row is of the one group: the total, or the filter's value.
    let group = |value: String| if grouped { value } else { String::new() };
    let mut now_by_group: HashMap<String, Backlog> = HashMap::new();
    for (value, backlog) in now {
        let sum = now_by_group.entry(group(value)).or_default();
        for (s, b) in sum.iter_mut().zip(backlog) {
            *s += b;
        }
    }
    let now = now_by_group;
    // Per bucket and value: its rows, summed once all are read.
    let mut sums: HashMap<(usize, String), Vec<Tally>> = HashMap::new();
    // Per value: the backlog change of the hours after k bucket ends, at k.
    let mut later: HashMap<String, Vec<Backlog>> = HashMap::new();
    for (value, hour, tally) in rows {
        let value = group(value);
        let ended = ends.partition_point(|end| *end <= hour);
        let change = tally.backlog();
        if change.iter().any(|c| *c != 0) {
            let slots = later
                .entry(value.clone())
                .or_insert_with(|| vec![[0; 6]; ends.len() + 1]);
            for (slot, c) in slots[ended].iter_mut().zip(change) {
                *slot += c;
            }
        }
        if (first..*last).contains(&hour) {
            sums.entry((ended, value)).or_default().push(tally);
        }
    }
    let mut values: BTreeSet<String> = now.keys().cloned().collect();
    values.extend(later.keys().cloned());
    values.extend(sums.keys().map(|(_, v)| v.clone()));
    if !grouped {
        values = BTreeSet::from([String::new()]);
    }
    let mut out = Vec::new();
    for bucket in 0..buckets.len() {
        for value in &values {
            let mut backlog = now.get(value).copied().unwrap_or_default();
            if let Some(slots) = later.get(value) {
                for slot in &slots[bucket + 1..] {
                    for (b, c) in backlog.iter_mut().zip(slot) {
                        *b -= c;
                    }
                }
            }
            let tally = sums.remove(&(bucket, value.clone())).map(Tally::sum);
            if grouped && tally.is_none() && backlog.iter().all(|b| *b == 0) {
                continue;
            }
            out.push(Row {
                bucket,
                group: if grouped {
                    vec![value.clone()]
                } else {
                    Vec::new()
                },
                figures: Figures::of(&tally.unwrap_or_default(), backlog),
            });
        }
    }
    out
}

/// Tickets' facts summed into buckets per their values of some dimensions: what the roll-ups
/// hold, computed from the facts themselves (for two dimensions at once, and to check the
/// roll-ups). Tickets are added one at a time, so they need not be held at once.
#[derive(Debug, Clone)]
pub struct FactSums {
    /// The hour each bucket ends.
    ends: Vec<i64>,
    /// The first bucket's first hour.
    first: i64,
    bucket_ends: Vec<DateTime<Utc>>,
    group_by: Vec<Dimension>,
    sums: BTreeMap<(usize, Vec<String>), (Tally, Backlog)>,
}

impl FactSums {
    pub fn new(buckets: &[Period], group_by: &[Dimension]) -> FactSums {
        FactSums {
            ends: buckets.iter().map(|b| hour_of(b.end)).collect(),
            first: buckets.first().map_or(0, |b| hour_of(b.start)),
            bucket_ends: buckets.iter().map(|b| b.end).collect(),
            group_by: group_by.to_vec(),
            sums: BTreeMap::new(),
        }
    }

    /// Adds a ticket, unless it does not count.
    pub fn add(&mut self, f: &Facts) {
        let Some(last) = self.ends.last().copied() else {
            return;
        };
        if !f.counted {
            return;
        }
        let group: Vec<String> = self
            .group_by
            .iter()
            .map(|d| f.dims[d.index()].clone())
            .collect();
        for (hour, tally) in f.tallies() {
            if (self.first..last).contains(&hour) {
                let bucket = self.ends.partition_point(|end| *end <= hour);
                self.sums
                    .entry((bucket, group.clone()))
                    .or_default()
                    .0
                    .add(&tally, 1);
            }
        }
        for (bucket, end) in self.bucket_ends.iter().enumerate() {
            let status = f.status_before(*end);
            if let Some(i) = status.and_then(|s| BACKLOG.iter().position(|b| *b == s)) {
                self.sums.entry((bucket, group.clone())).or_default().1[i] += 1;
            }
        }
    }

    /// How many bucket and group pairs have anything so far: the rows at most.
    pub fn pairs(&self) -> usize {
        self.sums.len()
    }

    /// A row per bucket and group with any figure; the total has a row in every bucket, as
    /// the roll-ups give it.
    pub fn rows(self) -> Vec<Row> {
        let mut out: Vec<Row> = self
            .sums
            .into_iter()
            .map(|((bucket, group), (tally, backlog))| Row {
                bucket,
                group,
                figures: Figures::of(&tally, backlog),
            })
            .filter(|row| !row.figures.is_empty())
            .collect();
        if self.group_by.is_empty() {
            for bucket in 0..self.ends.len() {
                if !out.iter().any(|r| r.bucket == bucket) {
                    out.push(Row {
                        bucket,
                        group: Vec::new(),
                        figures: Figures::of(&Tally::default(), [0; 6]),
                    });
                }
            }
            out.sort_by_key(|r| r.bucket);
        }
        out
    }
}

/// The SLA targets in the order [`Figures::sla`] keeps them.
pub const TARGETS: [Target; 3] = [
    Target::Acknowledge,
    Target::FirstResponse,
    Target::Resolution,
];

/// Seconds as a duration.
pub fn seconds(secs: i64) -> Duration {
    Duration::seconds(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_durations_within_one_percent_and_reports_its_top() {
        for secs in [
            0, 1, 127, 128, 129, 1000, 3600, 86_400, 2_592_000, 31_536_000,
        ] {
            let value = bin_value(bin(secs));
            assert!(value >= secs, "{secs} reported as {value}");
            assert!(
                (value - secs) as f64 <= secs as f64 * 0.01 + 1.0,
                "{secs} reported as {value}"
            );
        }
        for secs in 0..100_000 {
            assert!(
                bin(secs) <= bin(secs + 1),
                "buckets follow the order of durations"
            );
        }
    }

    #[test]
    fn spans_cover_a_range_exactly_with_few_rows() {
        // A day in Shanghai: 16:00 to 16:00 UTC.
        let day = 24 * 20_000 + 16;
        assert_eq!(
            cover(day, day + 24),
            [
                (4, day),
                (4, day + 4),
                (4, day + 8),
                (4, day + 12),
                (4, day + 16),
                (4, day + 20)
            ]
        );
        assert_eq!(cover(24 * 5, 24 * 7), [(24, 120), (24, 144)]);
        assert_eq!(cover(5, 9), [(1, 5), (1, 6), (1, 7), (1, 8)]);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut h = Histogram::default();
        for secs in [10, 20, 30, 40, 50, 60, 70, 80, 90, 100] {
            h.record(secs, 1);
        }
        assert_eq!(h.percentile(0.5), Some(50));
        assert_eq!(h.percentile(0.9), Some(90));
        assert_eq!(h.average_millis(), Some(55_000));
        let mut taken = h.clone();
        taken.add(&h, -1);
        assert_eq!(
            taken,
            Histogram::default(),
            "taking away what was added leaves nothing"
        );
    }

    #[test]
    fn histograms_sum_alike_whether_merged_or_counted() {
        let make = |seed: i64, n: i64| {
            let mut h = Histogram::default();
            for i in 0..n {
                h.record((seed * 7_919 + i * i * 311) % 400_000, 1 + i % 3);
            }
            h
        };
        let mut scratch = Vec::new();
        for (k, n) in [(2, 3), (6, 40), (30, 400)] {
            let parts: Vec<Histogram> = (0..k).map(|seed| make(seed, n)).collect();
            let mut added = Histogram::default();
            for part in &parts {
                added.add(part, 1);
            }
            let refs: Vec<&Histogram> = parts.iter().collect();
            assert_eq!(
                Histogram::sum(&refs, &mut scratch),
                added,
                "{k} parts of {n}"
            );
        }
        let mut gone = make(1, 5);
        gone.add(&make(1, 5), -3);
        let refs = [&make(1, 5), &make(1, 5), &gone];
        assert_eq!(
            Histogram::sum(&refs, &mut scratch),
            Histogram::default(),
            "counts that cancel leave no bucket"
        );
    }
}
