//! Versions for compare-and-swap.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Fresh 64-bit versions: a per-store random seed and a counter, mixed by SplitMix64, so two
/// processes sharing a file (or a key deleted and written again) practically never reuse one.
pub(crate) struct VersionSource {
    seed: u64,
    counter: AtomicU64,
}

impl VersionSource {
    pub(crate) fn new() -> Self {
        let seed = std::collections::hash_map::RandomState::new().build_hasher().finish();
        VersionSource { seed, counter: AtomicU64::new(0) }
    }

    pub(crate) fn next(&self) -> i64 {
        let mut z =
            self.seed.wrapping_add(self.counter.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as i64
    }
}
