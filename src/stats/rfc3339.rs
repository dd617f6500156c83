//! RFC 3339 timestamps from `SystemTime`, by hand (no date-time dependency).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECS_PER_DAY: u64 = 86_400;

/// Formats `t` as UTC with millisecond precision, e.g. `2026-11-22T04:40:00.123Z`.
/// Times before the Unix epoch are clamped to the epoch.
pub fn format_utc_millis(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days(secs / SECS_PER_DAY);
    let rem = secs % SECS_PER_DAY;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
///
/// Howard Hinnant's `civil_from_days`, restricted to non-negative day counts.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn formats_known_instants() {
        let cases = [
            (at(0, 0), "1970-01-01T00:00:00.000Z"),
            (at(951_782_400, 0), "2000-02-29T00:00:00.000Z"),
            (at(1_795_322_400, 123), "2026-11-22T04:40:00.123Z"),
            (at(4_107_542_400, 999), "2100-03-01T00:00:00.999Z"),
            (at(253_402_300_799, 1), "9999-12-31T23:59:59.001Z"),
        ];
        for (t, expected) in cases {
            assert_eq!(format_utc_millis(t), expected);
        }
    }

    #[test]
    fn truncates_sub_millisecond_and_clamps_pre_epoch() {
        let t = UNIX_EPOCH + Duration::from_nanos(1_999_999);
        assert_eq!(format_utc_millis(t), "1970-01-01T00:00:00.001Z");
        let before = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(format_utc_millis(before), "1970-01-01T00:00:00.000Z");
    }
}
