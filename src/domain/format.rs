//! Instants and durations as messages write them.

use chrono::{DateTime, Duration, Utc};

/// An instant to the second, for messages.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A duration in its largest whole units, for messages: `3 d`, `4 h 30 min`, `90 s`.
pub fn human(d: Duration) -> String {
    let s = d.num_seconds();
    if s == 0 {
        return "0 s".to_owned();
    }
    let sign = if s < 0 { "-" } else { "" };
    let s = s.unsigned_abs();
    let parts: Vec<String> = [(86_400, "d"), (3_600, "h"), (60, "min"), (1, "s")]
        .into_iter()
        .scan(s, |left, (unit, name)| {
            let n = *left / unit;
            *left %= unit;
            Some((n > 0).then(|| format!("{n} {name}")))
        })
        .flatten()
        .collect();
    format!("{sign}{}", parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_whole_units() {
        assert_eq!(human(Duration::days(7)), "7 d");
        assert_eq!(human(Duration::minutes(270)), "4 h 30 min");
        assert_eq!(human(Duration::seconds(90)), "1 min 30 s");
        assert_eq!(human(Duration::minutes(-15)), "-15 min");
        assert_eq!(human(Duration::zero()), "0 s");
    }
}
