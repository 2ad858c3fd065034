//! Timestamps on the virtual clock. Simulated time 0 is [`EPOCH_UNIX_SECS`], so
//! every run of a scenario stamps its objects with the same times.

/// Unix time of simulated time 0: 2025-01-01T00:00:00Z.
pub const EPOCH_UNIX_SECS: i64 = 1_735_689_600;

/// RFC 3339 in UTC with whole seconds (`metav1.Time`'s JSON form) for simulated
/// time `ms`.
pub fn rfc3339(ms: u64) -> String {
    let secs = EPOCH_UNIX_SECS + (ms / 1000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// What busybox's `date` prints for simulated time `ms`
/// (`Wed Jan  1 00:00:05 UTC 2025`).
pub fn unix_date(ms: u64) -> String {
    let secs = EPOCH_UNIX_SECS + (ms / 1000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][m as usize - 1];
    format!("{weekday} {month} {d:>2} {:02}:{:02}:{:02} UTC {y}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// RFC 3339 with microseconds (`metav1.MicroTime`'s JSON form).
pub fn rfc3339_micro(ms: u64) -> String {
    let whole = rfc3339(ms);
    format!("{}.{:06}Z", &whole[..19], (ms % 1000) * 1000)
}

/// Simulated ms of an RFC 3339 UTC timestamp written by [`rfc3339`] or
/// [`rfc3339_micro`] (`YYYY-MM-DDTHH:MM:SS[.ffffff]Z`); `None` for other
/// text or times before the epoch.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let (text, fraction_ms) = match text.split_once('.') {
        Some((whole, frac)) => {
            let digits = frac.strip_suffix('Z')?;
            if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let ms = format!("{digits:0<3}")[..3].parse::<u64>().ok()?;
            (format!("{whole}Z"), ms)
        }
        None => (text.to_string(), 0),
    };
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let days = days_from_civil(num(0..4)?, num(5..7)?, num(8..10)?);
    let secs = days * 86_400 + num(11..13)? * 3600 + num(14..16)? * 60 + num(17..19)?;
    let since_epoch = secs - EPOCH_UNIX_SECS;
    (since_epoch >= 0).then(|| since_epoch as u64 * 1000 + fraction_ms)
}

// Howard Hinnant's days-from-civil algorithms (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// How kubectl shows an age: apimachinery's `duration.HumanDuration`
/// (staging/src/k8s.io/apimachinery/pkg/util/duration/duration.go): seconds
/// below 2 minutes, then minutes (with seconds below 10m), hours (with minutes
/// below 8h), days (with hours below 8d), years.
pub fn human_duration(ms: u64) -> String {
    let seconds = ms / 1000;
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return match (hours / 24) % 365 {
            0 => format!("{}y", hours / 24 / 365),
            d => format!("{}y{d}d", hours / 24 / 365),
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The age of something stamped `stamp` (RFC 3339) at simulated time `now_ms`,
/// as kubectl prints it; `<unknown>` when there is no stamp.
pub fn age(stamp: Option<&str>, now_ms: u64) -> String {
    match stamp.and_then(parse_rfc3339) {
        Some(t) => human_duration(now_ms.saturating_sub(t)),
        None => "<unknown>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_prints_like_busybox() {
        // 2025-01-01 was a Wednesday.
        assert_eq!(unix_date(5_000), "Wed Jan  1 00:00:05 UTC 2025");
        assert_eq!(unix_date(86_400_000 * 45 + 3_600_000), "Sat Feb 15 01:00:00 UTC 2025");
    }

    #[test]
    fn stamps_round_trip_from_the_epoch() {
        assert_eq!(rfc3339(0), "2025-01-01T00:00:00Z");
        assert_eq!(rfc3339(86_400_000 * 59 + 3_723_000), "2025-03-01T01:02:03Z");
        assert_eq!(rfc3339(86_400_000 * 366), "2026-01-02T00:00:00Z");
        for ms in [0, 1000, 59_000, 86_399_000, 31_536_000_000, 200_000_000_000] {
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
        }
        assert_eq!(parse_rfc3339("2024-12-31T23:59:59Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn ages_read_like_kubectl() {
        let s = |s: u64| human_duration(s * 1000);
        assert_eq!(s(0), "0s");
        assert_eq!(s(119), "119s");
        assert_eq!(s(120), "2m");
        assert_eq!(s(150), "2m30s");
        assert_eq!(s(600), "10m");
        assert_eq!(s(3 * 3600 - 1), "179m");
        assert_eq!(s(3 * 3600 + 60), "3h1m");
        assert_eq!(s(8 * 3600), "8h");
        assert_eq!(s(50 * 3600), "2d2h");
        assert_eq!(s(9 * 86_400), "9d");
        assert_eq!(s(3 * 365 * 86_400 + 86_400), "3y1d");
        assert_eq!(s(9 * 365 * 86_400), "9y");
    }
}
