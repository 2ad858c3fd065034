//! Durations in the notation Kubernetes and Go use (`5s`, `1m30s`, `250ms`, `1h`),
//! at the core's resolution of one millisecond.
//!
//! Parsing follows Go's `time.ParseDuration` (src/time/format.go): a sequence of
//! decimal numbers, each with an optional fraction and a unit; `0` alone needs no
//! unit; the error texts are Go's. Formatting follows `time.Duration.String`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A non-negative span of simulated time in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    /// Length in milliseconds.
    pub ms: u64,
}

impl Duration {
    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration { ms }
    }

    /// A duration of `s` seconds.
    pub const fn from_secs(s: u64) -> Self {
        Duration { ms: s * 1000 }
    }

    /// Parses Go duration notation. Negative durations and sub-millisecond
    /// remainders are refused, since simulated time only moves forward in whole
    /// milliseconds.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let quoted = format!("{text:?}");
        let invalid = || format!("time: invalid duration {quoted}");
        let mut rest = text;
        if let Some(r) = rest.strip_prefix('+') {
            rest = r;
        } else if rest.starts_with('-') {
            return if rest[1..].chars().all(|c| c == '0' || c == '.') && rest.len() > 1 {
                Ok(Duration::default())
            } else {
                Err(format!("negative duration {quoted}: simulated time only moves forward"))
            };
        }
        if rest == "0" {
            return Ok(Duration::default());
        }
        if rest.is_empty() {
            return Err(invalid());
        }
        // Accumulate in nanoseconds like Go, then require whole milliseconds.
        let mut total_ns: u128 = 0;
        while !rest.is_empty() {
            let int_len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            let int_part = &rest[..int_len];
            rest = &rest[int_len..];
            let mut frac_part = "";
            if let Some(r) = rest.strip_prefix('.') {
                let frac_len = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
                frac_part = &r[..frac_len];
                rest = &r[frac_len..];
            }
            if int_part.is_empty() && frac_part.is_empty() {
                return Err(invalid());
            }
            let unit_len = rest.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let unit_ns: u128 = match unit {
                "" => return Err(format!("time: missing unit in duration {quoted}")),
                "ns" => 1,
                "us" | "µs" | "μs" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                "h" => 3_600_000_000_000,
                other => return Err(format!("time: unknown unit {other:?} in duration {quoted}")),
            };
            let int_value: u128 = if int_part.is_empty() { 0 } else { int_part.parse().map_err(|_| invalid())? };
            let mut value = int_value.checked_mul(unit_ns).ok_or_else(invalid)?;
            let mut scale = unit_ns;
            for digit in frac_part.bytes() {
                scale /= 10;
                if scale == 0 {
                    break;
                }
                value += u128::from(digit - b'0') * scale;
            }
            total_ns = total_ns.checked_add(value).ok_or_else(invalid)?;
            if total_ns > u128::from(u64::MAX) {
                return Err(invalid());
            }
        }
        if !total_ns.is_multiple_of(1_000_000) {
            return Err(format!("duration {quoted} is finer than the simulation's 1ms resolution"));
        }
        Ok(Duration { ms: (total_ns / 1_000_000) as u64 })
    }
}

impl fmt::Display for Duration {
    /// Go's `time.Duration.String` for whole milliseconds: `0s`, `250ms`, `1.5s`, `2m0s`, `1h0m0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.ms;
        if ms == 0 {
            return f.write_str("0s");
        }
        if ms < 1000 {
            return write!(f, "{ms}ms");
        }
        let hours = ms / 3_600_000;
        let minutes = ms / 60_000 % 60;
        let secs = ms / 1000 % 60;
        let millis = ms % 1000;
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if hours > 0 || minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        if millis == 0 {
            write!(f, "{secs}s")
        } else {
            let frac = format!("{millis:03}");
            write!(f, "{secs}.{}s", frac.trim_end_matches('0'))
        }
    }
}

/// `hh:mm:ss.mmm`, the clock format of the UI's status bar.
pub fn clock(ms: u64) -> String {
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Duration::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_notation() {
        let cases = [
            ("0", 0),
            ("5s", 5_000),
            ("250ms", 250),
            ("1m30s", 90_000),
            ("1.5s", 1_500),
            (".5s", 500),
            ("1h", 3_600_000),
            ("2h45m", 9_900_000),
            ("+3s", 3_000),
            ("1000us", 1),
            ("2000000ns", 2),
        ];
        for (text, ms) in cases.iter() {
            assert_eq!(Duration::parse(text), Ok(Duration::from_millis(*ms)), "{text}");
        }
    }

    #[test]
    fn errors_match_go() {
        assert_eq!(Duration::parse("5"), Err(r#"time: missing unit in duration "5""#.into()));
        assert_eq!(Duration::parse("5x"), Err(r#"time: unknown unit "x" in duration "5x""#.into()));
        assert_eq!(Duration::parse(""), Err(r#"time: invalid duration """#.into()));
        assert_eq!(Duration::parse("s"), Err(r#"time: invalid duration "s""#.into()));
        assert_eq!(Duration::parse("1.s.").unwrap_err(), r#"time: invalid duration "1.s.""#);
        assert!(Duration::parse("-1s").unwrap_err().contains("negative"));
        assert!(Duration::parse("1500us").unwrap_err().contains("1ms resolution"));
        assert!(Duration::parse("99999999999999999999h").is_err());
    }

    #[test]
    fn formats_like_go() {
        let cases = [
            (0, "0s"),
            (250, "250ms"),
            (5_000, "5s"),
            (1_500, "1.5s"),
            (1_050, "1.05s"),
            (90_000, "1m30s"),
            (120_000, "2m0s"),
            (3_600_000, "1h0m0s"),
            (3_723_400, "1h2m3.4s"),
        ];
        for (ms, text) in cases {
            assert_eq!(Duration::from_millis(ms).to_string(), text);
            assert_eq!(Duration::parse(text), Ok(Duration::from_millis(ms)));
        }
        assert_eq!(clock(3_723_450), "01:02:03.450");
    }
}
