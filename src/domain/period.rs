//! Periods and their time buckets in a time zone: what a query of figures covers, checked
//! against what the hourly roll-ups can answer.

use chrono::{DateTime, Datelike, Days, Duration, Months, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::error::Refusal;
use super::ticket::named_enum;

named_enum!(
    /// How long each time bucket of a query is.
    Bucket {
        Hour = "HOUR",
        Day = "DAY",
        Week = "WEEK",
        Month = "MONTH",
    }
);

/// The longest period a query covers.
pub const LONGEST: Duration = Duration::days(366);
/// The longest period of hourly buckets.
pub const LONGEST_HOURLY: Duration = Duration::days(31);

/// A span of time, start inclusive, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Period {
    /// A period as a query gives it: in order, at most [`LONGEST`], on whole hours (the
    /// roll-ups' grain). Refusals name `start_field` or `end_field`.
    pub fn checked(
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        (start_field, end_field): (&str, &str),
    ) -> Result<Period, Refusal> {
        if end <= start {
            return Err(Refusal::invalid(
                end_field,
                format!("must be after {start_field}"),
            ));
        }
        if end - start > LONGEST {
            return Err(Refusal::invalid(
                end_field,
                format!("must be at most 366 days after {start_field}"),
            ));
        }
        for (field, at) in [(start_field, start), (end_field, end)] {
            if !on_the_hour(at) {
                return Err(Refusal::invalid(
                    field,
                    "must fall on a whole hour (figures are kept by the hour)",
                ));
            }
        }
        Ok(Period { start, end })
    }

    /// The calendar month before the one `now` falls in, in `zone`.
    pub fn last_month(now: DateTime<Utc>, zone: Tz) -> Period {
        let local = now.with_timezone(&zone).date_naive();
        let this_month = NaiveDate::from_ymd_opt(local.year(), local.month(), 1).unwrap_or(local);
        let last_month = this_month
            .checked_sub_months(Months::new(1))
            .unwrap_or(this_month);
        Period {
            start: midnight(last_month, zone),
            end: midnight(this_month, zone),
        }
    }

    /// The month `month` ("2026-11") in `zone`.
    pub fn month(month: &str, zone: Tz) -> Option<Period> {
        let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
        let next = first.checked_add_months(Months::new(1))?;
        Some(Period {
            start: midnight(first, zone),
            end: midnight(next, zone),
        })
    }

    /// The period just before this one, as long.
    pub fn previous(&self) -> Period {
        Period {
            start: self.start - (self.end - self.start),
            end: self.start,
        }
    }

    /// The period cut into `bucket`s of `zone` (clipped to it), or whole when `None`.
    /// Refuses (naming `field`) buckets too fine for the period and zones whose edges do not
    /// fall on whole hours.
    pub fn buckets(
        &self,
        bucket: Option<Bucket>,
        zone: Tz,
        (bucket_field, zone_field): (&str, &str),
    ) -> Result<Vec<Period>, Refusal> {
        let Some(bucket) = bucket else {
            return Ok(vec![*self]);
        };
        if bucket == Bucket::Hour && self.end - self.start > LONGEST_HOURLY {
            return Err(Refusal::invalid(
                bucket_field,
                "HOUR buckets need a period of at most 31 days",
            ));
        }
        let mut edges = vec![self.start];
        let mut at = self.start;
        while at < self.end {
            let next = next_edge(at, bucket, zone)
                .filter(|n| *n > at)
                .unwrap_or(self.end);
            let next = next.min(self.end);
            if !on_the_hour(next) {
                return Err(Refusal::invalid(
                    zone_field,
                    "is not a whole number of hours from UTC: its buckets would not fall on \
                     the hours figures are kept by",
                ));
            }
            edges.push(next);
            at = next;
        }
        Ok(edges
            .windows(2)
            .map(|w| Period {
                start: w[0],
                end: w[1],
            })
            .collect())
    }
}

/// Whether `at` is the first instant of an hour.
fn on_the_hour(at: DateTime<Utc>) -> bool {
    at.minute() == 0 && at.second() == 0 && at.nanosecond() == 0
}

/// The first instant of `day` in `zone` (the first that exists, on a day that starts with a
/// clock change).
pub fn midnight(day: NaiveDate, zone: Tz) -> DateTime<Utc> {
    let naive = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    (0..24)
        .find_map(|h| {
            zone.from_local_datetime(&(naive + Duration::hours(h)))
                .earliest()
        })
        .map_or_else(|| naive.and_utc(), |t| t.with_timezone(&Utc))
}

/// The bucket edge after `at`: the next local hour, midnight, Monday or first of a month.
fn next_edge(at: DateTime<Utc>, bucket: Bucket, zone: Tz) -> Option<DateTime<Utc>> {
    let local = at.with_timezone(&zone);
    let day = local.date_naive();
    Some(match bucket {
        Bucket::Hour => {
            let next = at + Duration::hours(1);
            next.with_minute(0)?.with_second(0)?.with_nanosecond(0)?
        }
        Bucket::Day => midnight(day.checked_add_days(Days::new(1))?, zone),
        Bucket::Week => {
            let to_monday = 7 - u64::from(day.weekday().num_days_from_monday());
            midnight(day.checked_add_days(Days::new(to_monday))?, zone)
        }
        Bucket::Month => {
            let first = NaiveDate::from_ymd_opt(day.year(), day.month(), 1)?;
            midnight(first.checked_add_months(Months::new(1))?, zone)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn days_follow_the_local_midnight() {
        let p = Period::checked(
            at("2026-11-01T16:00:00Z"),
            at("2026-11-04T16:00:00Z"),
            ("s", "e"),
        )
        .unwrap();
        let days = p
            .buckets(Some(Bucket::Day), chrono_tz::Asia::Shanghai, ("b", "z"))
            .unwrap();
        assert_eq!(days.len(), 3);
        assert_eq!(days[1].start, at("2026-11-02T16:00:00Z"));
        let utc_days = p
            .buckets(Some(Bucket::Day), chrono_tz::UTC, ("b", "z"))
            .unwrap();
        assert_eq!(utc_days.len(), 4, "clipped at both ends");
        assert_eq!(utc_days[0].end, at("2026-11-02T00:00:00Z"));
    }

    #[test]
    fn refusals_name_the_field() {
        fn field<T: std::fmt::Debug>(r: Result<T, Refusal>) -> String {
            match r {
                Err(Refusal::Invalid { violations, .. }) => violations[0].field.clone(),
                other => panic!("{other:?}"),
            }
        }
        let (s, e) = (at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z"));
        assert_eq!(field(Period::checked(e, s, ("start", "end"))), "end");
        assert_eq!(
            field(Period::checked(
                s,
                at("2026-11-01T00:30:00Z"),
                ("start", "end")
            )),
            "end"
        );
        assert_eq!(
            field(Period::checked(
                s,
                at("2028-11-01T00:00:00Z"),
                ("start", "end")
            )),
            "end"
        );
        let year = Period::checked(s, at("2027-06-01T00:00:00Z"), ("s", "e")).unwrap();
        assert_eq!(
            field(year.buckets(Some(Bucket::Hour), chrono_tz::UTC, ("bucket", "zone"))),
            "bucket"
        );
        let p = Period::checked(s, e, ("s", "e")).unwrap();
        assert_eq!(
            field(p.buckets(
                Some(Bucket::Day),
                chrono_tz::Asia::Kolkata,
                ("bucket", "zone")
            )),
            "zone"
        );
        assert_eq!(
            p.buckets(Some(Bucket::Week), chrono_tz::UTC, ("b", "z"))
                .unwrap()
                .len(),
            6,
            "Sunday the 1st, four whole weeks, Monday the 30th"
        );
    }

    #[test]
    fn last_month_is_the_calendar_month_before() {
        let p = Period::last_month(at("2026-12-01T02:00:00Z"), chrono_tz::Asia::Shanghai);
        assert_eq!(p.start, at("2026-10-31T16:00:00Z"));
        assert_eq!(p.end, at("2026-11-30T16:00:00Z"));
        assert_eq!(
            Period::month("2026-11", chrono_tz::UTC).unwrap().end,
            at("2026-12-01T00:00:00Z")
        );
    }
}
