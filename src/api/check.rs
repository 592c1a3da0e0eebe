//! Request checking at the edge: every bad field is collected and named (up to a bound), and
//! nothing reaches a use case unless all are good. Repeated fields are measured before their
//! entries are looked at, so an oversized request costs no more than its size.

use chrono::{DateTime, Datelike, SubsecRound, Utc};
use prost_types::Timestamp;

use super::convert::{EnumField, from_duration, from_timestamp};
use crate::domain::error::{FieldViolation, Refusal, quote};
use crate::error::Result;

/// Most violations one answer names; the rest are counted.
const MAX_VIOLATIONS: usize = 20;

/// Collects the bad fields of one request.
#[derive(Debug, Default)]
pub struct Check {
    violations: Vec<FieldViolation>,
    /// Violations beyond [`MAX_VIOLATIONS`], counted only.
    more: usize,
}

impl Check {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        if self.violations.len() < MAX_VIOLATIONS {
            self.violations
                .push(FieldViolation::new(field, description));
        } else {
            self.more += 1;
        }
    }

    /// Whether nothing was found wrong so far.
    #[cfg(test)]
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// The request's value when every field passed; otherwise INVALID_ARGUMENT naming them.
    pub fn finish<T>(self, value: T) -> Result<T> {
        if self.violations.is_empty() {
            Ok(value)
        } else {
            Err(Refusal::Invalid {
                violations: self.violations,
                more: self.more,
            }
            .into())
        }
    }

    /// [`Check::finish`] for a request that yields nothing but its checks.
    pub fn done(self) -> Result<()> {
        self.finish(())
    }

    /// Takes over `other`'s complaints about the fields `keep` accepts.
    pub fn absorb(&mut self, other: Check, keep: impl Fn(&str) -> bool) {
        for v in other.violations.into_iter().filter(|v| keep(&v.field)) {
            self.add(v.field, v.description);
        }
    }

    /// Whether a repeated field has at most `most` entries; a longer one is refused here, and
    /// its entries should not be looked at.
    pub fn at_most(&mut self, field: &str, len: usize, most: usize) -> bool {
        if len > most {
            self.add(
                field,
                format!("has {len} entries; at most {most} are allowed"),
            );
            return false;
        }
        true
    }

    /// Text of at most `max` characters, trimmed; a required one must not be blank, and no text
    /// may hold control characters other than line breaks and tabs.
    pub fn text(&mut self, field: &str, value: &str, required: bool, max: usize) -> String {
        let value = value.trim();
        if required && value.is_empty() {
            self.add(field, "is required");
        } else if value.chars().count() > max {
            self.add(field, format!("is longer than {max} characters"));
        } else if value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            self.add(field, "contains control characters");
        }
        value.to_owned()
    }

    /// Optional text: `None` when blank.
    pub fn optional_text(&mut self, field: &str, value: &str, max: usize) -> Option<String> {
        Some(self.text(field, value, false, max)).filter(|v| !v.is_empty())
    }

    /// A list of short labels (tags, skills, keywords …) of at most `most` entries, each
    /// required and at most `max` characters; returned trimmed.
    pub fn labels(
        &mut self,
        field: &str,
        values: &[String],
        most: usize,
        max: usize,
    ) -> Vec<String> {
        if !self.at_most(field, values.len(), most) {
            return Vec::new();
        }
        values
            .iter()
            .enumerate()
            .map(|(i, v)| self.text(&format!("{field}[{i}]"), v, true, max))
            .collect()
    }

    /// An enum the caller must set. A missing or unknown one is refused, and a placeholder
    /// stands in for it until [`Check::finish`] refuses the request.
    pub fn required<E: EnumField>(&mut self, field: &str, value: i32) -> E {
        match E::from_wire(value) {
            Ok(Some(v)) => v,
            Ok(None) => {
                self.add(field, "is required");
                E::PLACEHOLDER
            }
            Err(()) => {
                self.add(field, format!("{value} is not a known value"));
                E::PLACEHOLDER
            }
        }
    }

    /// An enum the caller may leave unspecified.
    pub fn optional_enum<E: EnumField>(&mut self, field: &str, value: i32) -> Option<E> {
        E::from_wire(value).unwrap_or_else(|()| {
            self.add(field, format!("{value} is not a known value"));
            None
        })
    }

    /// A list of enums of at most `most` entries, as filters take them: unspecified entries are
    /// ignored, unknown ones refused, repeats dropped.
    pub fn enums<E: EnumField + PartialEq>(
        &mut self,
        field: &str,
        values: &[i32],
        most: usize,
    ) -> Vec<E> {
        if !self.at_most(field, values.len(), most) {
            return Vec::new();
        }
        let mut found = Vec::new();
        for (i, &v) in values.iter().enumerate() {
            if let Some(e) = self.optional_enum(&format!("{field}[{i}]"), v)
                && !found.contains(&e)
            {
                found.push(e);
            }
        }
        found
    }

    /// A timestamp between the years 1900 and 9999, to microseconds (what the databases
    /// keep, so a reply and a later read agree).
    pub fn timestamp(&mut self, field: &str, value: Option<&Timestamp>) -> Option<DateTime<Utc>> {
        let time = from_timestamp(value?).map(|t| t.trunc_subsecs(6));
        let plausible = |t: &DateTime<Utc>| (1900..=9999).contains(&t.year());
        if !time.as_ref().is_some_and(plausible) {
            self.add(
                field,
                "is not a valid timestamp between the years 1900 and 9999",
            );
            return None;
        }
        time
    }

    /// A duration from `min` to `max`; `None` (and a violation) when it is outside, negative
    /// or not a valid protobuf Duration.
    pub fn duration(
        &mut self,
        field: &str,
        value: &prost_types::Duration,
        min: chrono::Duration,
        max: chrono::Duration,
    ) -> Option<chrono::Duration> {
        match from_duration(value).filter(|d| *d >= min && *d <= max) {
            Some(d) => Some(d),
            None => {
                self.add(
                    field,
                    format!(
                        "must be from {} to {}",
                        crate::domain::format::human(min),
                        crate::domain::format::human(max)
                    ),
                );
                None
            }
        }
    }

    /// An IANA time zone name; empty means UTC.
    pub fn time_zone(&mut self, field: &str, value: &str) -> String {
        let value = value.trim();
        if value.is_empty() {
            return "UTC".to_owned();
        }
        if value.parse::<chrono_tz::Tz>().is_err() {
            self.add(
                field,
                format!(
                    "{} is not an IANA time zone name such as Asia/Shanghai",
                    quote(value)
                ),
            );
        }
        value.to_owned()
    }

    /// A positive id.
    pub fn id(&mut self, field: &str, value: i64) -> i64 {
        if value <= 0 {
            self.add(field, "is required (a positive id)");
        }
        value
    }

    /// The page size asked for: 0 means `default`, above `max` is capped, negative is refused.
    pub fn page_size(&mut self, field: &str, value: i32, default: u64, max: u64) -> u64 {
        match value {
            0 => default,
            v if v < 0 => {
                self.add(field, "must not be negative");
                default
            }
            v => (v as u64).min(max),
        }
    }
}

/// An optional id: empty means none; otherwise as [`key`].
pub fn optional_key(check: &mut Check, field: &str, value: &str) -> Option<String> {
    Some(value.trim())
        .filter(|v| !v.is_empty())
        .map(|v| key(check, field, v))
}

/// A request whose one field to check is a key (Get…).
pub fn only_key(field: &str, value: &str) -> Result<String> {
    let mut check = Check::new();
    let key = key(&mut check, field, value);
    check.finish(key)
}

/// A caller-chosen id (a team, an agent, a template): required, and plain.
pub fn key(check: &mut Check, field: &str, value: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        check.add(field, "is required");
    } else if !crate::domain::staff::is_valid_key(value) {
        check.add(
            field,
            format!(
                "{} is not an id: 1 to 64 letters, digits, '-', '_', '.' or '@'",
                quote(value)
            ),
        );
    }
    value.to_owned()
}

/// An idempotency key: optional, up to 128 characters.
pub fn request_id(check: &mut Check, value: &str) -> Option<String> {
    check.optional_text(
        "request_id",
        value,
        crate::domain::ticket::limits::REQUEST_ID,
    )
}

/// A resource a request must carry.
pub fn given<T: Default>(check: &mut Check, resource: &str, value: Option<T>) -> T {
    if value.is_none() {
        check.add(resource, "is required");
    }
    value.unwrap_or_default()
}

/// At most `most` keys, sorted and without duplicates: a team's members, an agent's teams.
pub fn keys(check: &mut Check, field: &str, given: &[String], most: usize) -> Vec<String> {
    if !check.at_most(field, given.len(), most) {
        return Vec::new();
    }
    let mut keys: Vec<String> = given
        .iter()
        .enumerate()
        .map(|(i, k)| key(check, &format!("{field}[{i}]"), k))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_are_bounded_and_counted() {
        let mut check = Check::new();
        for i in 0..1000 {
            check.add(format!("tags[{i}]"), "is required");
        }
        let Err(crate::error::Error::Refused(Refusal::Invalid { violations, more })) = check.done()
        else {
            panic!("a failed check refuses");
        };
        assert_eq!(
            (violations.len(), more),
            (MAX_VIOLATIONS, 1000 - MAX_VIOLATIONS)
        );
    }

    #[test]
    fn an_oversized_list_is_refused_whole() {
        let mut check = Check::new();
        let many = vec![999; 200_000];
        let found: Vec<crate::domain::ticket::Status> = check.enums("statuses", &many, 50);
        assert!(found.is_empty());
        let Err(crate::error::Error::Refused(Refusal::Invalid { violations, more })) = check.done()
        else {
            panic!("refused");
        };
        assert_eq!((violations.len(), more), (1, 0));
        assert_eq!(violations[0].field, "statuses");
    }

    #[test]
    fn durations_out_of_range_are_refused_not_panicked_on() {
        let mut check = Check::new();
        let huge = prost_types::Duration {
            seconds: i64::MAX,
            nanos: 0,
        };
        let d = check.duration(
            "policy.acknowledge_within",
            &huge,
            chrono::Duration::minutes(1),
            chrono::Duration::days(365),
        );
        assert_eq!(d, None);
        assert!(!check.is_clean());
    }
}
