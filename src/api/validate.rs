//! Request validation at the edge: every bad field is collected and named, and nothing is
//! written unless all are good.

use chrono::{DateTime, Datelike, SubsecRound, Utc};
use prost_types::Timestamp;

use super::convert::{EnumField, from_timestamp};
use crate::error::{Error, FieldViolation, Result};

/// Collects the bad fields of one request.
#[derive(Debug, Default)]
pub struct Check {
    violations: Vec<FieldViolation>,
}

impl Check {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.violations
            .push(FieldViolation::new(field, description));
    }

    /// Text of at most `max` characters, trimmed; a required one must not be blank.
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
        if values.len() > most {
            // Named as the field names them: "has more than 20 tags".
            let noun = field.rsplit('.').next().unwrap_or(field);
            self.add(field, format!("has more than {most} {noun}"));
        }
        values
            .iter()
            .enumerate()
            .map(|(i, v)| self.text(&format!("{field}[{i}]"), v, true, max))
            .collect()
    }

    /// An enum the caller must set.
    pub fn required_enum<E: EnumField>(&mut self, field: &str, value: i32) -> Option<E> {
        match E::from_wire(value) {
            Ok(Some(v)) => Some(v),
            Ok(None) => {
                self.add(field, "is required");
                None
            }
            Err(()) => {
                self.add(field, format!("{value} is not a known value"));
                None
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

    /// A list of enums, as filters take them: unspecified entries are ignored, unknown ones
    /// refused.
    pub fn enums<E: EnumField>(&mut self, field: &str, values: &[i32]) -> Vec<E> {
        values
            .iter()
            .enumerate()
            .filter_map(|(i, &v)| self.optional_enum(&format!("{field}[{i}]"), v))
            .collect()
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

    /// A positive id.
    /// An IANA time zone name; empty means UTC.
    pub fn time_zone(&mut self, field: &str, value: &str) -> String {
        let value = value.trim();
        if value.is_empty() {
            return "UTC".to_owned();
        }
        if value.parse::<chrono_tz::Tz>().is_err() {
            self.add(field, "is not an IANA time zone name such as Asia/Shanghai");
        }
        value.to_owned()
    }

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

    /// Takes over `other`'s complaints about the fields `keep` accepts.
    pub fn absorb(&mut self, other: Check, keep: impl Fn(&str) -> bool) {
        self.violations
            .extend(other.violations.into_iter().filter(|v| keep(&v.field)));
    }

    pub fn finish(self) -> Result<()> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(self.violations))
        }
    }
}

/// An optional id: empty means none; otherwise as [`key`].
pub fn optional_key(check: &mut Check, field: &str, value: &str) -> Option<String> {
    Some(value.trim())
        .filter(|v| !v.is_empty())
        .map(|v| key(check, field, v))
}

/// A request whose one field to check is a key (Get…, Delete…).
pub fn only_key(field: &str, value: &str) -> Result<String> {
    let mut check = Check::new();
    let key = key(&mut check, field, value);
    check.finish()?;
    Ok(key)
}

/// A caller-chosen id (a team, an agent, a template): required, and plain.
pub fn key(check: &mut Check, field: &str, value: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        check.add(field, "is required");
    } else if !crate::domain::staff::is_valid_key(value) {
        check.add(
            field,
            "must be 1 to 64 letters, digits, '-', '_', '.' or '@'",
        );
    }
    value.to_owned()
}

/// An update's mask, checked against `allowed`, and the resource it carries, read by `read`
/// but answering only for its id and the fields the mask names.
pub fn patch<T>(
    check: &mut Check,
    resource: &str,
    update_mask: Option<&prost_types::FieldMask>,
    allowed: &[&str],
    read: impl FnOnce(&mut Check) -> T,
) -> (Vec<String>, T) {
    let paths = update_mask.map(|m| m.paths.clone()).unwrap_or_default();
    if paths.is_empty() {
        check.add("update_mask", "is required: name the fields to change");
    }
    for path in &paths {
        if !allowed.contains(&path.as_str()) {
            check.add(
                format!("update_mask.paths[{path}]"),
                format!("cannot be changed; allowed: {}", allowed.join(", ")),
            );
        }
    }
    let mut whole = Check::new();
    let value = read(&mut whole);
    check.absorb(whole, |field| {
        let Some(field) = field
            .strip_prefix(resource)
            .and_then(|f| f.strip_prefix('.'))
        else {
            return false;
        };
        field == "id"
            || paths.iter().any(|p| {
                field == p
                    || field
                        .strip_prefix(p.as_str())
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
            })
    });
    (paths, value)
}

/// Who performs a change: the caller's name for themselves, or "system".
pub fn actor(check: &mut Check, field: &str, value: &str) -> String {
    check
        .optional_text(field, value, crate::domain::ticket::limits::ACTOR)
        .unwrap_or_else(|| "system".to_owned())
}
