//! Ticket numbers: `FB` + the local date in the service time zone + a daily sequence.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

/// The local day a ticket taken in at `now` is numbered under.
pub fn numbering_day(now: DateTime<Utc>, zone: Tz) -> NaiveDate {
    now.with_timezone(&zone).date_naive()
}

/// The key the daily sequence is kept under, e.g. `20261122`.
pub fn day_key(day: NaiveDate) -> String {
    day.format("%Y%m%d").to_string()
}

/// `FB20261122` + the sequence zero-padded to four digits; it keeps growing past 9999.
pub fn format_number(day: NaiveDate, sequence: i64) -> String {
    format!("FB{}{sequence:04}", day_key(day))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn pads_to_four_digits_and_grows_past_them() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        assert_eq!(format_number(day, 1), "FB202611220001");
        assert_eq!(format_number(day, 9999), "FB202611229999");
        assert_eq!(format_number(day, 10000), "FB2026112210000");
    }

    #[test]
    fn the_day_is_local_to_the_service_zone() {
        // 17:30 UTC on the 21st is already the 22nd in Shanghai.
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 17, 30, 0).unwrap();
        assert_eq!(day_key(numbering_day(now, chrono_tz::UTC)), "20261121");
        assert_eq!(
            day_key(numbering_day(now, chrono_tz::Asia::Shanghai)),
            "20261122"
        );
    }
}
