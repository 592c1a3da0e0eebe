//! The languages feedbackd writes to customers in, and how times and durations read in each.

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A language customer texts exist in.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Chinese, in simplified characters.
    Zh,
    #[default]
    En,
}

impl Language {
    pub const ALL: &'static [Language] = &[Language::Zh, Language::En];

    /// Its tag, as callers write it: `zh`, `en`.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Zh => "zh",
            Language::En => "en",
        }
    }

    /// The language of a BCP 47 tag such as `zh`, `zh-CN`, `zh-Hans` or `en-US`, by its
    /// primary subtag, in any case; `None` for a language there are no texts in.
    pub fn parse(tag: &str) -> Option<Language> {
        let primary = tag.trim().split(['-', '_']).next()?;
        Language::ALL
            .iter()
            .copied()
            .find(|l| l.as_str().eq_ignore_ascii_case(primary))
    }

    /// The language `text` is written in, when its script says: Chinese characters are
    /// Chinese; anything else could be any language.
    pub fn detect(text: &str) -> Option<Language> {
        text.chars()
            .any(super::classifier::is_han)
            .then_some(Language::Zh)
    }

    /// `at` as a customer reads it in `zone`: "Tuesday 1 December 09:00 (Asia/Shanghai)",
    /// "2026年12月1日 09:00（北京时间）".
    pub fn datetime(self, at: DateTime<Utc>, zone: Tz) -> String {
        let local = at.with_timezone(&zone);
        match self {
            Language::En => format!("{} ({})", local.format("%A %-d %B %H:%M"), zone.name()),
            Language::Zh => {
                let zone = match zone {
                    chrono_tz::Asia::Shanghai | chrono_tz::Asia::Chongqing => "北京时间",
                    other => other.name(),
                };
                format!(
                    "{}年{}月{}日（{}）{}（{zone}）",
                    local.year(),
                    local.month(),
                    local.day(),
                    weekday_zh(local.weekday()),
                    local.format("%H:%M"),
                )
            }
        }
    }

    /// A whole number of days, hours or minutes in words: "2 days", "4 小时".
    pub fn duration(self, d: Duration) -> String {
        let minutes = d.num_minutes();
        let (n, unit) = match minutes {
            m if m % (24 * 60) == 0 && m >= 48 * 60 => (m / (24 * 60), Unit::Day),
            m if m % 60 == 0 => (m / 60, Unit::Hour),
            m => (m, Unit::Minute),
        };
        match self {
            Language::En => {
                let unit = match unit {
                    Unit::Day => "day",
                    Unit::Hour => "hour",
                    Unit::Minute => "minute",
                };
                match n {
                    1 => format!("1 {unit}"),
                    n => format!("{n} {unit}s"),
                }
            }
            Language::Zh => {
                let unit = match unit {
                    Unit::Day => "天",
                    Unit::Hour => "小时",
                    Unit::Minute => "分钟",
                };
                format!("{n}{unit}")
            }
        }
    }
}

/// The language to write to a customer in: the one they asked for, else the one their ticket
/// is written in when its script says, else `default`.
pub fn settle(
    given: Option<Language>,
    title: &str,
    description: &str,
    default: Language,
) -> Language {
    given
        .or_else(|| Language::detect(title).or_else(|| Language::detect(description)))
        .unwrap_or(default)
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

enum Unit {
    Day,
    Hour,
    Minute,
}

fn weekday_zh(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "星期一",
        Weekday::Tue => "星期二",
        Weekday::Wed => "星期三",
        Weekday::Thu => "星期四",
        Weekday::Fri => "星期五",
        Weekday::Sat => "星期六",
        Weekday::Sun => "星期日",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn tags_by_their_primary_subtag() {
        for (tag, language) in [
            ("zh", Some(Language::Zh)),
            ("zh-CN", Some(Language::Zh)),
            ("ZH_hans", Some(Language::Zh)),
            ("en-US", Some(Language::En)),
            (" en ", Some(Language::En)),
            ("fr", None),
            ("", None),
            ("english", None),
        ] {
            assert_eq!(Language::parse(tag), language, "{tag:?}");
        }
    }

    #[test]
    fn chinese_characters_say_chinese() {
        assert_eq!(
            settle(None, "Power bank", "充电宝起火了", Language::En),
            Language::Zh
        );
        assert_eq!(
            settle(Some(Language::En), "充电宝", "", Language::Zh),
            Language::En,
            "what the customer asked for comes first"
        );
        assert_eq!(settle(None, "Refund", "late", Language::Zh), Language::Zh);
        assert_eq!(Language::detect("充电宝起火了"), Some(Language::Zh));
        assert_eq!(Language::detect("Order 1234 退款"), Some(Language::Zh));
        assert_eq!(Language::detect("Refund not received"), None);
    }

    #[test]
    fn times_read_as_each_language_writes_them() {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 1, 0, 0).unwrap();
        assert_eq!(
            Language::En.datetime(at, chrono_tz::Asia::Shanghai),
            "Tuesday 1 December 09:00 (Asia/Shanghai)"
        );
        assert_eq!(
            Language::Zh.datetime(at, chrono_tz::Asia::Shanghai),
            "2026年12月1日（星期二）09:00（北京时间）"
        );
        assert_eq!(
            Language::Zh.datetime(at, chrono_tz::UTC),
            "2026年12月1日（星期二）01:00（UTC）"
        );
        assert_eq!(Language::En.duration(Duration::hours(48)), "2 days");
        assert_eq!(Language::En.duration(Duration::hours(1)), "1 hour");
        assert_eq!(Language::Zh.duration(Duration::minutes(30)), "30分钟");
        assert_eq!(Language::Zh.duration(Duration::hours(4)), "4小时");
    }
}
