//! Whole-list tests: every format on a mixed list, the stats invariant, the line splitter, the
//! headers, and the RPZ zone checked against adblock semantics on random lists.

mod formats;
mod header;
mod lines;
mod rpz;

use crate::*;

/// The body `format` makes of `text` (no header), and its stats, which must keep the invariant.
fn body(format: Format, text: &str) -> (String, Stats) {
    let analysis = analyze(text.lines());
    let mut renderer = Renderer::new(format, &analysis);
    let mut out = Vec::new();
    text.lines().for_each(|line| renderer.line(line, &mut out));
    let stats = renderer.finish(&mut out);
    assert_invariant(&stats);
    (String::from_utf8(out).unwrap(), stats)
}

fn assert_invariant(stats: &Stats) {
    assert_eq!(stats.rules, stats.written + stats.omitted + stats.unneeded, "{stats:?}");
    assert!(stats.narrowed + stats.widened <= stats.written, "{stats:?}");
    assert_eq!(stats.omitted_sample.len() as u64, stats.omitted.min(10), "{stats:?}");
}

/// A small deterministic generator (xorshift64*).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
