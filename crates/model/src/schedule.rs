//! Scheduled refreshes: when a list with a refresh interval is compiled next.
//!
//! Each scheduled list has an entry in one of sixteen `refresh-schedule/{h}` shards (by the
//! first hex digit of its id): its next due time. The sweeper reads the shards, and for each
//! due list advances the entry by compare-and-swap (one winner per due time, however many
//! sweepers run) and requests a compile through the job pipeline.
//!
//! Refreshes are spread: a list's first due time is offset within its interval by a hash of its
//! id, and later ones keep that phase, so lists created together with the same interval do not
//! all fire in the same second.

use std::collections::BTreeMap;

/// One shard of the schedule: list id → next due time (ms since the Unix epoch).
pub type Shard = BTreeMap<String, u64>;

/// The key of the schedule shard of `list_id`.
pub fn shard_key(list_id: &str) -> String {
    let h = list_id.strip_prefix(crate::keys::LIST_ID_PREFIX).and_then(|h| h.chars().next()).unwrap_or('0');
    format!("refresh-schedule/{h}")
}

/// Every shard key.
pub fn shard_keys() -> impl Iterator<Item = String> {
    crate::keys::ACTIVE_JOBS_SHARDS.iter().map(|h| format!("refresh-schedule/{h}"))
}

/// The offset of `list_id`'s refreshes within an interval of `interval_ms` (FNV-1a of the id).
pub fn phase_ms(list_id: &str, interval_ms: u64) -> u64 {
    let hash = list_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    hash % interval_ms.max(1)
}

/// The first due time of a list scheduled at `now_ms`: within one interval, at its phase.
pub fn first_due(list_id: &str, interval_ms: u64, now_ms: u64) -> u64 {
    let interval = interval_ms.max(1);
    let phase = phase_ms(list_id, interval);
    // The next instant after `now_ms` that is `phase` into an interval.
    let base = now_ms - now_ms % interval + phase;
    if base > now_ms { base } else { base + interval }
}

/// The due time after `due_ms`, at the same phase, never in the past at `now_ms` (a refresh
/// missed while nothing swept is not made up for, once per missed interval).
pub fn next_due(due_ms: u64, interval_ms: u64, now_ms: u64) -> u64 {
    let interval = interval_ms.max(1);
    let next = due_ms.saturating_add(interval);
    if next > now_ms { next } else { next + (now_ms - next) / interval * interval + interval }
}

/// `Expires` of a subscription file, in hours, for a list refreshed every `interval_secs`
/// (rounded up), or `default_hours` for a list without a schedule.
pub fn expires_hours(interval_secs: Option<u64>, default_hours: u32) -> u32 {
    match interval_secs {
        Some(s) if s > 0 => u32::try_from(s.div_ceil(3600)).unwrap_or(u32::MAX).max(1),
        _ => default_hours,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_are_spread_over_the_interval() {
        let interval = 600_000;
        let phases: std::collections::BTreeSet<u64> =
            (0..1000).map(|i| phase_ms(&format!("l_{i:024x}"), interval) / 1000).collect();
        // 1,000 lists over 600 one-second slots: most slots are used.
        assert!(phases.len() > 400, "{} distinct seconds", phases.len());
    }

    #[test]
    fn due_times_keep_their_phase_and_never_lie_in_the_past() {
        let (id, interval) = ("l_0123456789abcdef01234567", 300_000);
        let first = first_due(id, interval, 1_000_000);
        assert!(first > 1_000_000 && first <= 1_300_000);
        assert_eq!(first % interval, phase_ms(id, interval));
        assert_eq!(next_due(first, interval, first), first + interval);
        // Swept late, three intervals missed: the next is the next at the phase after now.
        let late = first + 3 * interval + 5;
        let next = next_due(first, interval, late);
        assert!(next > late && next <= late + interval && next % interval == first % interval, "{next}");
    }

    #[test]
    fn expires_follows_the_schedule() {
        assert_eq!(expires_hours(None, 24), 24);
        assert_eq!(expires_hours(Some(300), 24), 1);
        assert_eq!(expires_hours(Some(3600), 24), 1);
        assert_eq!(expires_hours(Some(4 * 3600 + 1), 24), 5);
    }

    #[test]
    fn shards_are_by_the_first_hex_digit() {
        assert_eq!(shard_key("l_a123"), "refresh-schedule/a");
        assert_eq!(shard_keys().count(), 16);
    }
}
