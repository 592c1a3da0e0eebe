//! Business calendars: when a team works, so that deadlines count working time only.
//!
//! A calendar has a time zone, working periods for each weekday (several per day, e.g.
//! 09:00–12:00 and 13:00–18:00), holidays, and extra working days (a Saturday worked to make
//! up for a holiday). Periods are local wall-clock times: each is turned into real instants
//! day by day, so a period on a daylight-saving day is as long as the clock on the wall says
//! (09:00–18:00 is 9 real hours; 00:00–24:00 on the spring-forward day is 23).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// Minutes after local midnight, 0 to 1440.
type Minute = u32;

const DAY: Minute = 24 * 60;
/// How far a calendar is searched for working time before it is taken to have none.
const HORIZON_DAYS: i64 = 3 * 366;

/// A working period of one day, `[start, end)` in local minutes after midnight.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Period {
    start: Minute,
    end: Minute,
}

impl Period {
    /// `"09:00".."18:00"`; `end` may be `"24:00"`. `None` unless `start < end`.
    pub fn parse(start: &str, end: &str) -> Option<Period> {
        let minute = |text: &str| -> Option<Minute> {
            let (h, m) = text.split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
        };
        let (start, end) = (minute(start)?, minute(end)?);
        (start < end).then_some(Period { start, end })
    }

    /// Where it starts, as `"09:00"`.
    pub fn start(&self) -> String {
        clock_text(self.start)
    }

    /// Where it ends, as `"18:00"` (`"24:00"` for midnight at its end).
    pub fn end(&self) -> String {
        clock_text(self.end)
    }
}

fn clock_text(minute: Minute) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// A calendar as kept and managed: its id and name around the rules.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BusinessCalendar {
    pub id: String,
    pub display_name: String,
    pub calendar: Calendar,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

super::error::versioned!(BusinessCalendar);

/// The calendar installed on first start, used by teams that name none.
pub const DEFAULT_CALENDAR: &str = "default";

/// When a team works.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    zone: Tz,
    /// Monday first.
    week: [Vec<Period>; 7],
    holidays: BTreeSet<NaiveDate>,
    /// Days worked although their weekday is off, with their periods.
    extra_days: BTreeMap<NaiveDate, Vec<Period>>,
}

/// A calendar that cannot be used as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("working periods of {0} overlap")]
    Overlap(String),
    #[error("the calendar has no working time")]
    NoWorkingTime,
}

impl CalendarError {
    /// The field of a calendar at fault: overlaps name a date (an extra working day) or a
    /// weekday; a calendar without working time, the week.
    pub fn field(&self) -> &'static str {
        match self {
            CalendarError::Overlap(day) if day.parse::<NaiveDate>().is_ok() => "extra_working_days",
            _ => "weekly_hours",
        }
    }
}

impl Calendar {
    /// Every hour of every day, in UTC: deadlines in calendar time.
    pub fn always() -> Calendar {
        let all_day = vec![Period { start: 0, end: DAY }];
        Calendar {
            zone: chrono_tz::UTC,
            week: std::array::from_fn(|_| all_day.clone()),
            holidays: BTreeSet::new(),
            extra_days: BTreeMap::new(),
        }
    }

    /// A calendar from its parts; `week` lists Monday's periods first. Periods are sorted;
    /// overlapping ones, or no working time at all, are refused.
    pub fn new(
        zone: Tz,
        week: [Vec<Period>; 7],
        holidays: BTreeSet<NaiveDate>,
        extra_days: BTreeMap<NaiveDate, Vec<Period>>,
    ) -> Result<Calendar, CalendarError> {
        let mut calendar = Calendar::always();
        calendar.set_zone(zone);
        calendar.set_week(week);
        calendar.set_holidays(holidays);
        calendar.set_extra_days(extra_days);
        calendar.check()?;
        Ok(calendar)
    }

    /// Refuses overlapping periods on a day, and a calendar without working time. A
    /// calendar changed part by part (an update) is checked again as a whole.
    pub fn check(&self) -> Result<(), CalendarError> {
        for (i, periods) in self.week.iter().enumerate() {
            if overlapping(periods) {
                return Err(CalendarError::Overlap(weekday(i).to_string()));
            }
        }
        for (day, periods) in &self.extra_days {
            if overlapping(periods) {
                return Err(CalendarError::Overlap(day.to_string()));
            }
        }
        if self.week.iter().all(Vec::is_empty) && self.extra_days.values().all(Vec::is_empty) {
            return Err(CalendarError::NoWorkingTime);
        }
        Ok(())
    }

    pub fn set_zone(&mut self, zone: Tz) {
        self.zone = zone;
    }

    /// Monday's periods first; sorted, unchecked until [`Calendar::check`].
    pub fn set_week(&mut self, week: [Vec<Period>; 7]) {
        self.week = week.map(sorted);
    }

    pub fn set_holidays(&mut self, holidays: BTreeSet<NaiveDate>) {
        self.holidays = holidays;
    }

    /// Sorted, unchecked until [`Calendar::check`].
    pub fn set_extra_days(&mut self, extra_days: BTreeMap<NaiveDate, Vec<Period>>) {
        self.extra_days = extra_days
            .into_iter()
            .map(|(d, p)| (d, sorted(p)))
            .collect();
    }

    /// Monday to Friday, 09:00 to 18:00 in `zone`: the calendar installed on first start.
    pub fn office_hours(zone: Tz) -> Calendar {
        let day = vec![Period {
            start: 9 * 60,
            end: 18 * 60,
        }];
        let mut week: [Vec<Period>; 7] = Default::default();
        week[..5].fill(day);
        let mut calendar = Calendar::always();
        calendar.set_zone(zone);
        calendar.set_week(week);
        calendar
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The periods of each weekday, Monday first.
    pub fn week(&self) -> &[Vec<Period>; 7] {
        &self.week
    }

    pub fn holidays(&self) -> &BTreeSet<NaiveDate> {
        &self.holidays
    }

    pub fn extra_days(&self) -> &BTreeMap<NaiveDate, Vec<Period>> {
        &self.extra_days
    }

    /// The weekly hours in a line: `Mon–Fri 09:00–12:00, 13:00–18:00 (Asia/Shanghai)`, with
    /// the count of holidays and extra working days.
    pub fn describe(&self) -> String {
        let hours = |periods: &[Period]| {
            periods
                .iter()
                .map(|p| format!("{}–{}", p.start(), p.end()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // Runs of consecutive weekdays with the same hours.
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for day in 0..7 {
            match runs.last_mut() {
                Some((_, last)) if self.week[*last] == self.week[day] => *last = day,
                _ => runs.push((day, day)),
            }
        }
        let mut text: Vec<String> = runs
            .into_iter()
            .filter(|(first, _)| !self.week[*first].is_empty())
            .map(|(first, last)| {
                let days = if first == last {
                    weekday(first).to_string()
                } else {
                    format!("{}–{}", weekday(first), weekday(last))
                };
                format!("{days} {}", hours(&self.week[first]))
            })
            .collect();
        if text.is_empty() {
            text.push("no weekly hours".into());
        }
        let mut line = format!("{} ({})", text.join("; "), self.zone.name());
        let count = |n: usize, what: &str| match n {
            1 => format!(", 1 {what}"),
            n => format!(", {n} {what}s"),
        };
        if !self.holidays.is_empty() {
            line += &count(self.holidays.len(), "holiday");
        }
        if !self.extra_days.is_empty() {
            line += &count(self.extra_days.len(), "extra working day");
        }
        line
    }

    /// The working periods of a local day.
    fn periods(&self, day: NaiveDate) -> &[Period] {
        if let Some(extra) = self.extra_days.get(&day) {
            return extra;
        }
        if self.holidays.contains(&day) {
            return &[];
        }
        &self.week[day.weekday().num_days_from_monday() as usize]
    }

    /// The working intervals of a local day as real instants, in order.
    fn intervals(
        &self,
        day: NaiveDate,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        self.periods(day).iter().filter_map(move |p| {
            let (start, end) = (self.instant(day, p.start), self.instant(day, p.end));
            (start < end).then_some((start, end))
        })
    }

    /// The real instant of a local wall-clock minute. A minute skipped by a daylight-saving
    /// jump counts as the first instant after the jump; a repeated one as its first occurrence.
    fn instant(&self, day: NaiveDate, minute: Minute) -> DateTime<Utc> {
        if minute == DAY {
            return match day.succ_opt() {
                Some(next) => self.instant(next, 0),
                None => DateTime::<Utc>::MAX_UTC,
            };
        }
        let mut local = day.and_time(NaiveTime::MIN) + Duration::minutes(i64::from(minute));
        loop {
            if let Some(at) = self.zone.from_local_datetime(&local).earliest() {
                return at.with_timezone(&Utc);
            }
            // Inside a gap: move on to where the clock resumes.
            local += Duration::minutes(1);
        }
    }

    /// The local days from the one holding `at`, bounded by the search horizon.
    fn days_from(&self, at: DateTime<Utc>) -> impl Iterator<Item = NaiveDate> {
        // Start a day early: a period late on the previous local day may still hold `at`.
        let first = at.with_timezone(&self.zone).date_naive();
        let first = first.pred_opt().unwrap_or(first);
        first.iter_days().take(HORIZON_DAYS as usize)
    }

    /// The instant at which `work` of working time has passed since `start`. With no working
    /// time left within the horizon, `None`.
    pub fn add(&self, start: DateTime<Utc>, work: Duration) -> Option<DateTime<Utc>> {
        if work <= Duration::zero() {
            return Some(start);
        }
        let mut left = work;
        for day in self.days_from(start) {
            for (open, close) in self.intervals(day) {
                if close <= start {
                    continue;
                }
                let from = open.max(start);
                let available = close - from;
                if left <= available {
                    return Some(from + left);
                }
                left -= available;
            }
        }
        None
    }

    /// Working time between two instants (zero when `end` is not after `start`).
    pub fn between(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Duration {
        let mut total = Duration::zero();
        if end <= start {
            return total;
        }
        for day in self.days_from(start) {
            for (open, close) in self.intervals(day) {
                if open >= end {
                    return total;
                }
                let (from, to) = (open.max(start), close.min(end));
                if from < to {
                    total += to - from;
                }
            }
        }
        total
    }

    /// Whether `at` lies in working time.
    pub fn is_working(&self, at: DateTime<Utc>) -> bool {
        self.days_from(at).take(3).any(|day| {
            self.intervals(day)
                .any(|(open, close)| open <= at && at < close)
        })
    }

    /// The first working instant at or after `at`.
    pub fn next_working(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.days_from(at)
            .flat_map(|day| self.intervals(day).collect::<Vec<_>>())
            .find(|(_, close)| *close > at)
            .map(|(open, _)| open.max(at))
    }
}

fn sorted(mut periods: Vec<Period>) -> Vec<Period> {
    periods.sort();
    periods
}

fn overlapping(sorted: &[Period]) -> bool {
    sorted.windows(2).any(|w| w[0].end > w[1].start)
}

/// The weekday of `index` in a week that starts on Monday (0).
fn weekday(index: usize) -> Weekday {
    const WEEK: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    WEEK[index % 7]
}

/// A calendar as configuration records show it: its zone by name and its parts.
impl serde::Serialize for Calendar {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("Calendar", 4)?;
        out.serialize_field("time_zone", self.zone.name())?;
        out.serialize_field("week", &self.week)?;
        out.serialize_field("holidays", &self.holidays)?;
        out.serialize_field("extra_days", &self.extra_days)?;
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(start: &str, end: &str) -> Period {
        Period::parse(start, end).unwrap()
    }

    /// Monday to Friday 09:00–12:00 and 13:00–18:00 in Shanghai, with 1 October a holiday and
    /// Sunday 27 September 2026 worked 09:00–18:00 to make up for it.
    fn office() -> Calendar {
        let day = vec![p("09:00", "12:00"), p("13:00", "18:00")];
        let week = [
            day.clone(),
            day.clone(),
            day.clone(),
            day.clone(),
            day,
            vec![],
            vec![],
        ];
        let holidays = [NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()].into();
        let extra = [(
            NaiveDate::from_ymd_opt(2026, 9, 27).unwrap(),
            vec![p("09:00", "18:00")],
        )]
        .into();
        Calendar::new(chrono_tz::Asia::Shanghai, week, holidays, extra).unwrap()
    }

    /// A local Shanghai time as an instant.
    fn sh(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn periods_parse_and_refuse_nonsense() {
        assert_eq!(
            Period::parse("09:00", "24:00"),
            Some(Period {
                start: 540,
                end: 1440
            })
        );
        assert_eq!(Period::parse("18:00", "09:00"), None);
        assert_eq!(Period::parse("25:00", "26:00"), None);
        assert_eq!(Period::parse("9", "10:00"), None);
        let overlapping = [
            vec![p("09:00", "12:00"), p("11:00", "13:00")],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
        ];
        assert_eq!(
            Calendar::new(chrono_tz::UTC, overlapping, [].into(), [].into()),
            Err(CalendarError::Overlap("Mon".into()))
        );
        let empty: [Vec<Period>; 7] = Default::default();
        assert_eq!(
            Calendar::new(chrono_tz::UTC, empty, [].into(), [].into()),
            Err(CalendarError::NoWorkingTime)
        );
    }

    #[test]
    fn describes_itself_in_a_line() {
        assert_eq!(
            office().describe(),
            "Mon–Fri 09:00–12:00, 13:00–18:00 (Asia/Shanghai), 1 holiday, 1 extra working day"
        );
        assert_eq!(Calendar::always().describe(), "Mon–Sun 00:00–24:00 (UTC)");
        assert_eq!(
            Calendar::office_hours(chrono_tz::Europe::Berlin).describe(),
            "Mon–Fri 09:00–18:00 (Europe/Berlin)"
        );
    }

    #[test]
    fn two_periods_in_one_day() {
        let cal = office();
        // Monday 2026-11-23 11:00 + 2 h: one hour before lunch, one after.
        assert_eq!(
            cal.add(sh(2026, 11, 23, 11, 0), Duration::hours(2)),
            Some(sh(2026, 11, 23, 14, 0))
        );
        // Starting during lunch waits for 13:00.
        assert_eq!(
            cal.add(sh(2026, 11, 23, 12, 30), Duration::minutes(30)),
            Some(sh(2026, 11, 23, 13, 30))
        );
        assert_eq!(
            cal.between(sh(2026, 11, 23, 8, 0), sh(2026, 11, 23, 20, 0)),
            Duration::hours(8)
        );
    }

    #[test]
    fn across_a_night_and_a_weekend() {
        let cal = office();
        // Friday 2026-11-27 17:00 + 2 h: one hour Friday, then Monday 09:00–10:00.
        assert_eq!(
            cal.add(sh(2026, 11, 27, 17, 0), Duration::hours(2)),
            Some(sh(2026, 11, 30, 10, 0))
        );
        // Saturday intake: the clock starts Monday morning.
        assert_eq!(
            cal.add(sh(2026, 11, 28, 10, 0), Duration::hours(1)),
            Some(sh(2026, 11, 30, 10, 0))
        );
        assert_eq!(
            cal.next_working(sh(2026, 11, 28, 10, 0)),
            Some(sh(2026, 11, 30, 9, 0))
        );
        assert!(!cal.is_working(sh(2026, 11, 28, 10, 0)));
        assert!(cal.is_working(sh(2026, 11, 30, 9, 0)));
        // Three days of 8 working hours from Monday 09:00 end Wednesday 18:00.
        assert_eq!(
            cal.add(sh(2026, 11, 30, 9, 0), Duration::hours(24)),
            Some(sh(2026, 12, 2, 18, 0))
        );
    }

    #[test]
    fn holidays_and_extra_working_days() {
        let cal = office();
        // Wednesday 30 September 17:00 + 2 h skips the holiday on Thursday 1 October.
        assert_eq!(
            cal.add(sh(2026, 9, 30, 17, 0), Duration::hours(2)),
            Some(sh(2026, 10, 2, 10, 0))
        );
        // Saturday 26 September is off, Sunday 27 September is worked 09:00–18:00.
        assert_eq!(
            cal.add(sh(2026, 9, 26, 10, 0), Duration::hours(1)),
            Some(sh(2026, 9, 27, 10, 0))
        );
        assert_eq!(
            cal.between(sh(2026, 9, 27, 0, 0), sh(2026, 9, 28, 0, 0)),
            Duration::hours(9)
        );
    }

    #[test]
    fn daylight_saving_changes() {
        let ny = chrono_tz::America::New_York;
        let at = |y, mo, d, h, mi| {
            ny.with_ymd_and_hms(y, mo, d, h, mi, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        let every_day = |periods: Vec<Period>| std::array::from_fn(|_| periods.clone());
        let nine_to_five = Calendar::new(
            ny,
            every_day(vec![p("09:00", "17:00")]),
            [].into(),
            [].into(),
        )
        .unwrap();
        // Spring forward on Sunday 2026-03-08: 16:00 + 2 h of work is 10:00 on Monday by the wall clock.
        assert_eq!(
            nine_to_five.add(at(2026, 3, 7, 16, 0), Duration::hours(2)),
            Some(at(2026, 3, 8, 10, 0))
        );
        assert_eq!(
            nine_to_five.add(at(2026, 3, 8, 16, 0), Duration::hours(2)),
            Some(at(2026, 3, 9, 10, 0))
        );
        // A full-day calendar: that Sunday has 23 real hours, the fall-back Sunday 25.
        let around_the_clock = Calendar::new(
            ny,
            every_day(vec![p("00:00", "24:00")]),
            [].into(),
            [].into(),
        )
        .unwrap();
        let day = |y, mo, d| {
            around_the_clock.between(at(y, mo, d, 0, 0), at(y, mo, d, 0, 0) + Duration::hours(30))
        };
        assert_eq!(
            around_the_clock.between(at(2026, 3, 8, 0, 0), at(2026, 3, 9, 0, 0)),
            Duration::hours(23)
        );
        assert_eq!(
            around_the_clock.between(at(2026, 11, 1, 0, 0), at(2026, 11, 2, 0, 0)),
            Duration::hours(25)
        );
        assert_eq!(day(2026, 6, 1), Duration::hours(30));
        // A period that starts inside the skipped hour starts when the clock resumes.
        let night = Calendar::new(
            ny,
            every_day(vec![p("02:30", "04:00")]),
            [].into(),
            [].into(),
        )
        .unwrap();
        assert_eq!(
            night.between(at(2026, 3, 8, 0, 0), at(2026, 3, 8, 12, 0)),
            Duration::hours(1)
        );
    }

    #[test]
    fn calendar_time_is_plain_addition() {
        let start = sh(2026, 11, 28, 23, 10);
        assert_eq!(
            Calendar::always().add(start, Duration::hours(24)),
            Some(start + Duration::hours(24))
        );
        assert_eq!(
            Calendar::always().between(start, start + Duration::minutes(90)),
            Duration::minutes(90)
        );
        assert_eq!(Calendar::always().add(start, Duration::zero()), Some(start));
    }
}
