//! Insights: each ticket's facts, the hourly roll-ups and how far they have read the log;
//! the reads the figures are made of.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::entity::ticket_fact::StoredFacts;
use super::entity::{insight_progress, insight_rollup, ticket_fact};
use super::{Store, Write};
use crate::domain::insights::{Dimension, Facts, Histogram, RollupKey, SPANS, Tally};
use crate::domain::period::Period;
use crate::error::{Error, Result};

/// Rows written per statement: well under either database's limit on parameters.
const CHUNK: usize = 500;
/// Roll-up rows looked up by key per statement: four parameters and an OR term each, well
/// under SQLite's limit on an expression's depth.
const KEYS: usize = 250;

/// A roll-up row's primary key: grouping, span length, value, first hour.
type RowKey = (String, i64, String, i64);

/// The roll-up rows with these keys.
fn rows_keyed<'a>(keys: impl Iterator<Item = &'a RowKey>) -> Condition {
    use insight_rollup::Column as C;
    keys.fold(Condition::any(), |any, (grouping, hours, value, hour)| {
        any.add(
            Condition::all()
                .add(C::Grouping.eq(grouping.as_str()))
                .add(C::Hours.eq(*hours))
                .add(C::Value.eq(value.as_str()))
                .add(C::Hour.eq(*hour)),
        )
    })
}

/// A dimension's column in `ticket_facts`.
fn column(dimension: Dimension) -> ticket_fact::Column {
    match dimension {
        Dimension::Kind => ticket_fact::Column::Kind,
        Dimension::Channel => ticket_fact::Column::Channel,
        Dimension::Team => ticket_fact::Column::Team,
        Dimension::Agent => ticket_fact::Column::Agent,
        Dimension::Product => ticket_fact::Column::Product,
        Dimension::Category => ticket_fact::Column::Category,
        Dimension::CustomerTier => ticket_fact::Column::Tier,
        Dimension::Priority => ticket_fact::Column::Priority,
    }
}

/// Only the tickets with this dimension value.
pub type Scope = Option<(Dimension, String)>;

/// Which tickets' facts a read takes.
#[derive(Debug, Clone, PartialEq)]
pub struct FactsQuery {
    pub period: Period,
    /// Those that add anything to the period (created before its end, still open at some
    /// time after its start), or else those created in it.
    pub active: bool,
    /// Only those counted in the figures, or else every ticket (exports).
    pub counted_only: bool,
    pub scope: Scope,
}

impl FactsQuery {
    /// The counted tickets created in `period`, in `scope`.
    pub fn created(period: Period, scope: Scope) -> FactsQuery {
        FactsQuery {
            period,
            active: false,
            counted_only: true,
            scope,
        }
    }

    fn select(&self, backend: DbBackend) -> sea_orm::Select<ticket_fact::Entity> {
        use ticket_fact::Column as C;
        let mut query = ticket_fact::Entity::find();
        query = if self.active {
            // SQLite knows nothing of a range's size: offered the creation time, it walks every
            // ticket created before the end instead of the few open or done after the start
            // (`+` keeps it off that index).
            let created_before = match backend {
                DbBackend::Sqlite => {
                    Expr::cust_with_values(r#"+"created_at" < ?"#, [self.period.end])
                }
                _ => C::CreatedAt.lt(self.period.end),
            };
            query.filter(created_before).filter(
                Condition::any()
                    .add(C::ActiveUntil.is_null())
                    .add(C::ActiveUntil.gte(self.period.start)),
            )
        } else {
            query
                .filter(C::CreatedAt.gte(self.period.start))
                .filter(C::CreatedAt.lt(self.period.end))
        };
        if self.counted_only {
            query = query.filter(C::Counted.eq(true));
        }
        if let Some((dimension, value)) = &self.scope {
            query = query.filter(column(*dimension).eq(value));
        }
        query
    }
}

/// Open tickets of one group: how many, and when the oldest was created.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct OpenGroup {
    pub key: String,
    pub count: i64,
    pub oldest: DateTime<Utc>,
}

/// Open tickets by their clocks at risk and breached now (comma-separated targets).
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct ClocksNow {
    pub at_risk: String,
    pub breached: String,
    pub count: i64,
}

/// Open tickets of one dimension value in one status.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct OpenCount {
    pub value: String,
    pub status: String,
    pub count: i64,
}

/// A tally as stored: counts, then each span's calendar and business histograms.
#[derive(Clone, PartialEq, prost::Message)]
struct StoredTally {
    #[prost(sint64, repeated, tag = "1")]
    counts: Vec<i64>,
    #[prost(message, repeated, tag = "2")]
    spans: Vec<StoredHistogram>,
}

/// The duration buckets and their counts are packed `sint32` and `sint64` lists on the wire;
/// they are read here as the bytes they are (slices of the row, not copies), so a query
/// decoding thousands of roll-ups fills each histogram at once instead of growing lists one
/// number at a time.
#[derive(Clone, PartialEq, prost::Message)]
struct StoredHistogram {
    #[prost(sint64, tag = "1")]
    count: i64,
    #[prost(sint64, tag = "2")]
    sum: i64,
    /// Packed `sint32`: the buckets, in order.
    #[prost(bytes = "bytes", tag = "3")]
    bins: bytes::Bytes,
    /// Packed `sint64`: how many in each.
    #[prost(bytes = "bytes", tag = "4")]
    in_bin: bytes::Bytes,
}

/// Zigzag varints one after another, as a packed `sint32` or `sint64` list holds them.
fn pack(numbers: impl Iterator<Item = i64>) -> Vec<u8> {
    let mut bytes = Vec::new();
    for n in numbers {
        prost::encoding::encode_varint(((n << 1) ^ (n >> 63)) as u64, &mut bytes);
    }
    bytes
}

/// Takes the next number off the front of a packed `sint32` or `sint64` list (a zigzag
/// varint), or None when it is cut short. Written out rather than through prost's `Buf`
/// reader, which cost four times as many instructions per number on the roll-ups a 90-day
/// query reads (callgrind).
#[inline]
fn unpack(bytes: &mut &[u8]) -> Option<i64> {
    let mut zigzag = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        zigzag |= u64::from(byte & 0x7f) << (7 * i);
        if *byte < 0x80 {
            *bytes = &bytes[i + 1..];
            return Some((zigzag >> 1) as i64 ^ -((zigzag & 1) as i64));
        }
    }
    None
}

/// A histogram's buckets and counts, read off their packed lists.
fn unpack_bins(
    mut bins: &[u8],
    mut in_bin: &[u8],
) -> std::result::Result<Vec<(i32, i64)>, &'static str> {
    let mut unpacked: Vec<(i32, i64)> = Vec::with_capacity(bins.len());
    while !bins.is_empty() {
        let (Some(bin), Some(n)) = (unpack(&mut bins), unpack(&mut in_bin)) else {
            return Err("a number cut short");
        };
        let bin = i32::try_from(bin).map_err(|_| "a bucket out of range")?;
        if unpacked.last().is_some_and(|(last, _)| *last >= bin) {
            return Err("buckets out of order");
        }
        unpacked.push((bin, n));
    }
    if !in_bin.is_empty() {
        return Err("more counts than buckets");
    }
    Ok(unpacked)
}

fn encode(tally: &Tally) -> Vec<u8> {
    use prost::Message;
    StoredTally {
        counts: tally.counts.to_vec(),
        spans: tally
            .spans
            .iter()
            .flatten()
            .map(|h| StoredHistogram {
                count: h.count,
                sum: h.sum,
                bins: pack(h.bins.iter().map(|(b, _)| i64::from(*b))).into(),
                in_bin: pack(h.bins.iter().map(|(_, n)| *n)).into(),
            })
            .collect(),
    }
    .encode_to_vec()
}

fn decode(bytes: Vec<u8>) -> Result<Tally> {
    use prost::Message;
    let broken =
        |what: &str| Error::Internal(format!("an insight roll-up does not decode: {what}"));
    let stored =
        StoredTally::decode(bytes::Bytes::from(bytes)).map_err(|e| broken(&e.to_string()))?;
    let mut tally = Tally::default();
    for (mine, stored) in tally.counts.iter_mut().zip(stored.counts) {
        *mine = stored;
    }
    for (i, h) in stored.spans.into_iter().enumerate().take(SPANS * 2) {
        let bins = unpack_bins(&h.bins, &h.in_bin).map_err(broken)?;
        tally.spans[i / 2][i % 2] = Histogram {
            count: h.count,
            sum: h.sum,
            bins,
        };
    }
    Ok(tally)
}

fn facts_row(facts: &Facts) -> ticket_fact::ActiveModel {
    let d = &facts.dims;
    let targets = |ts: &[crate::domain::sla::Target]| {
        ts.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(",")
    };
    ticket_fact::ActiveModel {
        ticket_id: Set(facts.ticket_id),
        number: Set(facts.number.clone()),
        created_at: Set(facts.created_at),
        kind: Set(d[0].clone()),
        channel: Set(d[1].clone()),
        team: Set(d[2].clone()),
        agent: Set(d[3].clone()),
        product: Set(d[4].clone()),
        category: Set(d[5].clone()),
        tier: Set(d[6].clone()),
        priority: Set(d[7].clone()),
        status: Set(facts.status.as_str().to_owned()),
        open: Set(facts.open()),
        counted: Set(facts.counted),
        repeat: Set(facts.repeat),
        active_until: Set((!facts.open()).then_some(facts.last_event_at)),
        phrases: Set(facts.phrases.join(" ")),
        at_risk: Set(targets(&facts.at_risk_now)),
        breached: Set(targets(&facts.breached_now)),
        facts: Set(StoredFacts(facts.clone())),
    }
}

impl Store {
    /// The last event the roll-ups include.
    pub async fn insight_cursor(&self) -> Result<i64> {
        Ok(insight_progress::Entity::find_by_id(1)
            .one(&self.db)
            .await?
            .map_or(0, |row| row.event_cursor))
    }

    /// Locks the roll-ups' position for `write` and reads it: one instance at a time rolls
    /// events up, and never one twice.
    pub async fn lock_insight_cursor(&self, write: &Write) -> Result<i64> {
        let mut query = insight_progress::Entity::find_by_id(1);
        if self.backend() == DbBackend::Postgres {
            query = query.lock_exclusive();
        }
        Ok(query.one(write.conn()).await?.map_or(0, |r| r.event_cursor))
    }

    pub async fn set_insight_cursor(&self, write: &Write, cursor: i64) -> Result<()> {
        insight_progress::Entity::update_many()
            .col_expr(insight_progress::Column::EventCursor, Expr::value(cursor))
            .filter(insight_progress::Column::Id.eq(1))
            .exec(write.conn())
            .await?;
        Ok(())
    }

    /// The stored facts of these tickets.
    pub async fn facts_in(&self, write: &Write, ids: &[i64]) -> Result<HashMap<i64, Facts>> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            let rows = ticket_fact::Entity::find()
                .filter(ticket_fact::Column::TicketId.is_in(chunk.iter().copied()))
                .all(write.conn())
                .await?;
            for row in rows {
                found.insert(row.ticket_id, row.facts.0);
            }
        }
        Ok(found)
    }

    /// Writes these tickets' facts, new or changed.
    pub async fn save_facts(&self, write: &Write, facts: &[Facts]) -> Result<()> {
        use ticket_fact::Column as C;
        for chunk in facts.chunks(CHUNK) {
            let rows = chunk.iter().map(facts_row);
            ticket_fact::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::column(C::TicketId)
                        .update_columns([
                            C::Number,
                            C::Kind,
                            C::Channel,
                            C::Team,
                            C::Agent,
                            C::Product,
                            C::Category,
                            C::Tier,
                            C::Priority,
                            C::Status,
                            C::Open,
                            C::Counted,
                            C::Repeat,
                            C::ActiveUntil,
                            C::Phrases,
                            C::AtRisk,
                            C::Breached,
                            C::Facts,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(write.conn())
                .await?;
        }
        Ok(())
    }

    /// Adds `changes` to the roll-ups: the rows they touch read at once, summed, and written
    /// back at once (removed when nothing is left in them). One statement each, not one per
    /// grouping: a single ticket touches some thirty rows, and a statement's hand-off costs
    /// more than SQLite takes to run it.
    pub async fn add_to_rollups(
        &self,
        write: &Write,
        changes: HashMap<RollupKey, Tally>,
    ) -> Result<()> {
        let changes: Vec<(RowKey, Tally)> = changes
            .into_iter()
            .filter(|(_, tally)| !tally.is_zero())
            .map(|((grouping, value, hours, start), tally)| {
                let grouping = Dimension::grouping(grouping).to_owned();
                ((grouping, hours, value, start), tally)
            })
            .collect();
        let mut stored: HashMap<RowKey, Tally> = HashMap::new();
        for chunk in changes.chunks(KEYS) {
            let rows = insight_rollup::Entity::find()
                .filter(rows_keyed(chunk.iter().map(|(key, _)| key)))
                .all(write.conn())
                .await?;
            for row in rows {
                let key = (row.grouping, row.hours, row.value, row.hour);
                stored.insert(key, decode(row.tally)?);
            }
        }
        let mut emptied = Vec::new();
        let mut upserts = Vec::new();
        for (key, change) in changes {
            let mut sum = stored.remove(&key).unwrap_or_default();
            sum.add(&change, 1);
            if sum.is_zero() {
                emptied.push(key);
            } else {
                let (grouping, hours, value, hour) = key;
                upserts.push(insight_rollup::ActiveModel {
                    grouping: Set(grouping),
                    hours: Set(hours),
                    value: Set(value),
                    hour: Set(hour),
                    tally: Set(encode(&sum)),
                });
            }
        }
        for chunk in emptied.chunks(KEYS) {
            insight_rollup::Entity::delete_many()
                .filter(rows_keyed(chunk.iter()))
                .exec(write.conn())
                .await?;
        }
        use insight_rollup::Column as C;
        for chunk in upserts.chunks(CHUNK) {
            insight_rollup::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::columns([C::Grouping, C::Hours, C::Value, C::Hour])
                        .update_column(C::Tally)
                        .to_owned(),
                )
                .exec_without_returning(write.conn())
                .await?;
        }
        Ok(())
    }

    /// The roll-up rows of `grouping` (of one value, or all) of the spans `hours` long that
    /// start at `starts`: (value, first hour, tally).
    pub async fn rollups(
        &self,
        grouping: Option<Dimension>,
        value: Option<&str>,
        hours: i64,
        starts: &[i64],
    ) -> Result<Vec<(String, i64, Tally)>> {
        #[derive(FromQueryResult)]
        struct Row {
            value: String,
            hour: i64,
            tally: Vec<u8>,
        }
        use insight_rollup::Column as C;
        let mut found = Vec::new();
        for starts in starts.chunks(CHUNK) {
            let (Some(first), Some(last)) = (starts.first(), starts.last()) else {
                continue;
            };
            let mut query = insight_rollup::Entity::find()
                .select_only()
                .columns([C::Value, C::Hour, C::Tally])
                .filter(C::Grouping.eq(Dimension::grouping(grouping)))
                .filter(C::Hours.eq(hours));
            // A run of whole spans is a range; scattered ones are listed.
            let contiguous = (last - first) / hours + 1 == starts.len() as i64;
            query = if contiguous {
                query.filter(C::Hour.between(*first, *last))
            } else {
                query.filter(C::Hour.is_in(starts.iter().copied()))
            };
            if let Some(value) = value {
                query = query.filter(C::Value.eq(value));
            }
            for r in query.into_model::<Row>().all(&self.db).await? {
                found.push((r.value, r.hour, decode(r.tally)?));
            }
        }
        Ok(found)
    }

    /// How many tickets `q` selects, counting no further than `most`.
    pub async fn count_facts(&self, q: &FactsQuery, most: u64) -> Result<u64> {
        self.count_up_to(q.select(self.backend()), most).await
    }

    /// Gives `each` every ticket `q` selects, in no order, as one statement streams them: held
    /// in memory one at a time, however many. Stops at the first refusal.
    pub async fn each_facts(
        &self,
        q: &FactsQuery,
        mut each: impl FnMut(Facts) -> Result<()>,
    ) -> Result<()> {
        use futures::TryStreamExt;
        let mut rows = q.select(self.backend()).stream(&self.db).await?;
        while let Some(row) = rows.try_next().await? {
            each(row.facts.0)?;
        }
        Ok(())
    }

    /// Up to `limit` of the tickets created in `q`'s period, after ticket `after`, in the order
    /// of their creation (then id): an export's page. Resuming by creation time reads the
    /// index on it from there, where resuming by id would sort the period for every page.
    /// None when ticket `after` has no facts.
    pub async fn facts_page(
        &self,
        q: &FactsQuery,
        after: i64,
        limit: u64,
    ) -> Result<Option<Vec<Facts>>> {
        use ticket_fact::Column as C;
        let mut query = q.select(self.backend());
        if after > 0 {
            let at = ticket_fact::Entity::find_by_id(after)
                .select_only()
                .column(C::CreatedAt)
                .into_tuple::<DateTime<Utc>>()
                .one(&self.db)
                .await?;
            let Some(at) = at else {
                return Ok(None);
            };
            query = query.filter(C::CreatedAt.gte(at)).filter(
                Condition::any()
                    .add(C::CreatedAt.gt(at))
                    .add(C::TicketId.gt(after)),
            );
        }
        let rows = query
            .order_by_asc(C::CreatedAt)
            .order_by_asc(C::TicketId)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(Some(rows.into_iter().map(|row| row.facts.0).collect()))
    }

    /// Open counted tickets in scope, grouped by `by` (a dimension, or the status).
    pub async fn open_groups(
        &self,
        by: Option<Dimension>,
        scope: &Scope,
    ) -> Result<Vec<OpenGroup>> {
        use ticket_fact::Column as C;
        let key = by.map_or(C::Status, column);
        let mut query = ticket_fact::Entity::find()
            .select_only()
            .column_as(key, "key")
            .column_as(C::TicketId.count(), "count")
            .column_as(C::CreatedAt.min(), "oldest")
            .filter(C::Open.eq(true))
            .filter(C::Counted.eq(true))
            .group_by(key);
        if let Some((dimension, value)) = scope {
            query = query.filter(column(*dimension).eq(value.as_str()));
        }
        Ok(query.into_model::<OpenGroup>().all(&self.db).await?)
    }

    /// Open counted tickets in scope per value of `grouping` (one value, or all) and status:
    /// the backlog now.
    pub async fn open_counts(
        &self,
        grouping: Option<Dimension>,
        value: Option<&str>,
    ) -> Result<Vec<OpenCount>> {
        use ticket_fact::Column as C;
        let mut query = ticket_fact::Entity::find().select_only();
        query = match grouping {
            Some(d) => query.column_as(column(d), "value").group_by(column(d)),
            None => query.column_as(Expr::val(""), "value"),
        };
        let mut query = query
            .column_as(C::Status, "status")
            .column_as(C::TicketId.count(), "count")
            .filter(C::Open.eq(true))
            .filter(C::Counted.eq(true))
            .group_by(C::Status);
        if let (Some(d), Some(value)) = (grouping, value) {
            query = query.filter(column(d).eq(value));
        }
        Ok(query.into_model::<OpenCount>().all(&self.db).await?)
    }

    /// Open counted tickets in scope by their clocks at risk and breached now.
    pub async fn clocks_now(&self, scope: &Scope) -> Result<Vec<ClocksNow>> {
        use ticket_fact::Column as C;
        let mut query = ticket_fact::Entity::find()
            .select_only()
            .columns([C::AtRisk, C::Breached])
            .column_as(C::TicketId.count(), "count")
            .filter(C::Open.eq(true))
            .filter(C::Counted.eq(true))
            .filter(
                sea_orm::Condition::any()
                    .add(C::AtRisk.ne(""))
                    .add(C::Breached.ne("")),
            )
            .group_by(C::AtRisk)
            .group_by(C::Breached);
        if let Some((dimension, value)) = scope {
            query = query.filter(column(*dimension).eq(value.as_str()));
        }
        Ok(query.into_model::<ClocksNow>().all(&self.db).await?)
    }

    /// Counted tickets in scope created at or after `since`.
    pub async fn intake_since(&self, since: DateTime<Utc>, scope: &Scope) -> Result<i64> {
        use sea_orm::PaginatorTrait;
        let mut query = ticket_fact::Entity::find()
            .filter(ticket_fact::Column::Counted.eq(true))
            .filter(ticket_fact::Column::CreatedAt.gte(since));
        if let Some((dimension, value)) = scope {
            query = query.filter(column(*dimension).eq(value.as_str()));
        }
        Ok(query.count(&self.db).await? as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How roll-ups were written before their histograms were read as bytes.
    #[derive(Clone, PartialEq, prost::Message)]
    struct PackedHistogram {
        #[prost(sint64, tag = "1")]
        count: i64,
        #[prost(sint64, tag = "2")]
        sum: i64,
        #[prost(sint32, repeated, tag = "3")]
        bins: Vec<i32>,
        #[prost(sint64, repeated, tag = "4")]
        in_bin: Vec<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct PackedTally {
        #[prost(sint64, repeated, tag = "1")]
        counts: Vec<i64>,
        #[prost(message, repeated, tag = "2")]
        spans: Vec<PackedHistogram>,
    }

    fn sample() -> Tally {
        let mut tally = Tally::default();
        tally.counts[0] = 3;
        tally.counts[4] = -2;
        for (i, secs) in [0, 5, 127, 128, 3_600, 86_400, 31_536_000]
            .into_iter()
            .enumerate()
        {
            tally.spans[i % SPANS][i % 2].record(secs, 1 + i as i64);
        }
        tally.spans[1][1].record(60, -4);
        tally
    }

    #[test]
    fn a_tally_reads_back_as_written() {
        let tally = sample();
        assert_eq!(decode(encode(&tally)).unwrap(), tally);
    }

    #[test]
    fn roll_ups_written_as_packed_lists_read_the_same() {
        use prost::Message;
        let tally = sample();
        let packed = PackedTally {
            counts: tally.counts.to_vec(),
            spans: tally
                .spans
                .iter()
                .flatten()
                .map(|h| PackedHistogram {
                    count: h.count,
                    sum: h.sum,
                    bins: h.bins.iter().map(|(b, _)| *b).collect(),
                    in_bin: h.bins.iter().map(|(_, n)| *n).collect(),
                })
                .collect(),
        };
        assert_eq!(packed.encode_to_vec(), encode(&tally));
        assert_eq!(decode(packed.encode_to_vec()).unwrap(), tally);
    }

    #[test]
    fn buckets_out_of_order_are_refused() {
        use prost::Message;
        let out_of_order = PackedTally {
            counts: vec![1],
            spans: vec![PackedHistogram {
                count: 2,
                sum: 10,
                bins: vec![7, 3],
                in_bin: vec![1, 1],
            }],
        };
        assert!(decode(out_of_order.encode_to_vec()).is_err());
    }
}
