//! UTC date and time of day from milliseconds since the epoch, for reports and sentences. Pure:
//! the time comes in as an argument.

/// `YYYY-MM-DD HH:MM:SS UTC` from milliseconds since the epoch (proleptic Gregorian, UTC).
pub fn utc(ms: f64) -> String {
    let (date, time) = utc_parts(ms);
    format!("{date} {time} UTC")
}

/// `HH:MM:SS` from milliseconds since the epoch.
pub fn utc_time(ms: f64) -> String {
    utc_parts(ms).1
}

fn utc_parts(ms: f64) -> (String, String) {
    let secs = if ms.is_finite() && ms > 0.0 {
        (ms / 1000.0) as i64
    } else {
        0
    };
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", sod / 3600, sod % 3600 / 60, sod % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting() {
        assert_eq!(utc(0.0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000.0), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_795_230_245_000.0), "2026-11-21 03:04:05 UTC");
        assert_eq!(utc_time(1_795_230_245_999.0), "03:04:05");
        assert_eq!(utc(f64::NAN), "1970-01-01 00:00:00 UTC");
    }
}
