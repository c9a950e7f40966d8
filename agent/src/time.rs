//! Time as lethe writes it: archive names, snapshot names and listings share one format.

const DAY: i64 = 86_400;

/// Formats epoch seconds as `YYYY-MM-DD_HH:MM:SS` in UTC (the script's `date +%Y-%m-%d_%H:%M:%S`
/// in an initrd without a time zone). Civil-from-days after Howard Hinnant's algorithm.
pub(crate) fn format_utc(epoch: i64) -> String {
    let days = epoch.div_euclid(DAY);
    let secs = epoch.rem_euclid(DAY);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}_{:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}
