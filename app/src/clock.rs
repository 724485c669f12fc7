//! Wall times as people read them. The device's offset from UTC is learnt once, at
//! start, before any thread runs (the only time the platform lets a program read it
//! safely); where it cannot be learnt, times are shown in UTC and say so.

use std::sync::OnceLock;

/// Seconds east of UTC, once learnt (`None`: unknown, show UTC).
static LOCAL_OFFSET: OnceLock<Option<i32>> = OnceLock::new();

/// Learns the device's offset from UTC. Call first thing in `main`.
pub fn learn_local_offset() {
    let offset = time::UtcOffset::current_local_offset().ok().map(|o| o.whole_seconds());
    LOCAL_OFFSET.get_or_init(|| offset);
}

/// Year, month, day, hour, minute and second of `secs` after the Unix epoch (Howard
/// Hinnant's civil-from-days algorithm).
fn civil(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `secs` after the Unix epoch as `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn utc(secs: u64) -> String {
    let (y, m, d, h, mi, s) = civil(secs.min(i64::MAX as u64 / 2) as i64);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// `secs` after the Unix epoch as `YYYY-MM-DD HH:MM` in the device's time zone (or
/// with " UTC" after it when the zone is unknown); "time unknown" for 0.
pub fn local_minute(secs: u64) -> String {
    if secs == 0 {
        return "time unknown".to_owned();
    }
    let offset = LOCAL_OFFSET.get().copied().flatten();
    let t = (secs.min(i64::MAX as u64 / 2) as i64).saturating_add(offset.unwrap_or(0) as i64);
    let (y, m, d, h, mi, _) = civil(t);
    let zone = if offset.is_some() { "" } else { " UTC" };
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}{zone}")
}

/// Just `HH:MM` of `secs` in the device's time zone, for the end of a span that
/// starts the same day.
pub fn local_hour_minute(secs: u64) -> String {
    local_minute(secs).split_whitespace().nth(1).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(1_795_392_000 + 3_723), "2026-11-23 01:02:03");
        assert_eq!(local_minute(0), "time unknown");
        // In a test no offset was learnt: UTC, said so.
        assert_eq!(local_minute(1_795_392_000 + 3_723), "2026-11-23 01:02 UTC");
        assert_eq!(local_hour_minute(1_795_392_000 + 3_723), "01:02");
    }
}
