//! Timestamps as the API and the lists print them: RFC 3339, UTC, with milliseconds
//! (humantime's formatting).

use std::time::{Duration, UNIX_EPOCH};

/// The last millisecond RFC 3339 can print (9999-12-31T23:59:59.999Z).
const MAX_MS: u64 = 253_402_300_800_000 - 1;

/// `ms` since the Unix epoch as RFC 3339 UTC with milliseconds; times past the year 9999 print
/// as its last millisecond.
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms.min(MAX_MS))).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_796_083_199_000), "2026-11-30T23:59:59.000Z");
        assert_eq!(rfc3339(u64::MAX), "9999-12-31T23:59:59.999Z");
    }
}
