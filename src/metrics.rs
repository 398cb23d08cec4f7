// Kept over prometheus-client: its histograms take a lock per observation and it writes OpenMetrics, not this format.
//! The host's metrics, in Prometheus' text format at `GET /metrics` (admin token required):
//! responses by status, request latency, per-request instantiation time (with p50/p99),
//! instances alive, connections closed for not reading, requests refused for want of an
//! instance, the job queue's depth and job deliveries by outcome.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A latency histogram with microsecond resolution below 1 ms (10 µs below 10 ms, 100 µs below
/// 100 ms, 10 ms above), so that quantiles of fast operations are exact enough; recording is one
/// atomic increment.
pub struct Histogram {
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
}

const BUCKETS: usize = 1_000 + 900 + 900 + 990 + 1;

/// The fine bucket of `micros`.
fn index(micros: u64) -> usize {
    let i = match micros {
        0..1_000 => micros,
        1_000..10_000 => 1_000 + (micros - 1_000) / 10,
        10_000..100_000 => 1_900 + (micros - 10_000) / 100,
        100_000..10_000_000 => 2_800 + (micros - 100_000) / 10_000,
        _ => BUCKETS as u64 - 1,
    };
    i as usize
}

/// The largest value (µs) in fine bucket `i`.
fn upper(i: usize) -> u64 {
    let i = i as u64;
    match i {
        0..1_000 => i,
        1_000..1_900 => 1_000 + (i - 1_000) * 10 + 9,
        1_900..2_800 => 10_000 + (i - 1_900) * 100 + 99,
        2_800..3_790 => 100_000 + (i - 2_800) * 10_000 + 9_999,
        _ => u64::MAX,
    }
}

/// The Prometheus buckets exported (`le`, seconds).
const EXPORTED_LE: [f64; 16] =
    [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(), sum_micros: AtomicU64::new(0) }
    }
}

impl Histogram {
    pub fn record(&self, d: Duration) {
        let micros = d.as_micros().min(u128::from(u64::MAX)) as u64;
        self.counts[index(micros)].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(micros, Relaxed);
    }

    fn snapshot(&self) -> Vec<u64> {
        self.counts.iter().map(|c| c.load(Relaxed)).collect()
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let counts = self.snapshot();
        let total: u64 = counts.iter().sum();
        let _ = writeln!(out, "# HELP {name}_seconds {help}\n# TYPE {name}_seconds histogram");
        let mut cumulative = 0;
        let mut i = 0;
        for le in EXPORTED_LE {
            let le_micros = (le * 1e6).round() as u64;
            while i < counts.len() && upper(i) <= le_micros {
                cumulative += counts[i];
                i += 1;
            }
            let _ = writeln!(out, "{name}_seconds_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_seconds_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(out, "{name}_seconds_sum {}", self.sum_micros.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_seconds_count {total}");
        let _ = writeln!(out, "# HELP {name}_quantile_seconds {help} Quantiles since the start.");
        let _ = writeln!(out, "# TYPE {name}_quantile_seconds gauge");
        for q in [0.5, 0.9, 0.99] {
            if let Some(v) = quantile(&counts, q) {
                let _ = writeln!(out, "{name}_quantile_seconds{{quantile=\"{q}\"}} {}", v as f64 / 1e6);
            }
        }
    }
}

/// The `q` quantile (0..=1) in microseconds: the upper bound of the fine bucket it falls in.
fn quantile(counts: &[u64], q: f64) -> Option<u64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some(upper(i));
        }
    }
    None
}

/// What became of a delivered job message.
#[derive(Clone, Copy)]
pub enum Delivery {
    Acked,
    Retried,
    Dead,
    LeaseLost,
    Unsettled,
}

const DELIVERIES: [&str; 5] = ["acked", "retried", "dead", "lease_lost", "unsettled"];

/// The requests alive and their limit (`--max-instances`), when the metrics are rendered.
#[derive(Clone, Copy, Debug)]
pub struct Instances {
    pub live: usize,
    pub max: usize,
}

/// Every metric of one host.
pub struct Metrics {
    /// Responses by status code (100..=599).
    statuses: Vec<AtomicU64>,
    pub request_latency: Histogram,
    pub instantiation: Histogram,
    /// Connections closed because their client accepted no bytes for the write timeout.
    pub write_timeouts: AtomicU64,
    /// Requests answered 503 because every instance was taken.
    pub busy_refusals: AtomicU64,
    /// Answers from the edge cache refused (429) by a rate-limit budget.
    pub cache_refusals: AtomicU64,
    deliveries: [AtomicU64; 5],
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            statuses: (0..500).map(|_| AtomicU64::new(0)).collect(),
            request_latency: Histogram::default(),
            instantiation: Histogram::default(),
            write_timeouts: AtomicU64::new(0),
            busy_refusals: AtomicU64::new(0),
            cache_refusals: AtomicU64::new(0),
            deliveries: Default::default(),
        }
    }
}

impl Metrics {
    pub fn response(&self, status: u16, latency: Duration) {
        if let Some(c) = status.checked_sub(100).and_then(|i| self.statuses.get(usize::from(i))) {
            c.fetch_add(1, Relaxed);
        }
        self.request_latency.record(latency);
    }

    pub fn delivery(&self, outcome: Delivery) {
        self.deliveries[outcome as usize].fetch_add(1, Relaxed);
    }

    /// The text exposition; `queue` is the job queue's depth, if it could be read,
    /// `instances` the requests alive and their limit, and `cache` the edge cache's counts, if
    /// the host has one.
    pub fn render(
        &self,
        queue: Option<jobqueue::Depth>,
        instances: Instances,
        cache: Option<edge_cache::Stats>,
    ) -> String {
        let mut out = String::with_capacity(8 * 1024);
        out.push_str("# HELP blocklist_edge_http_responses_total HTTP responses by status code.\n");
        out.push_str("# TYPE blocklist_edge_http_responses_total counter\n");
        for (i, c) in self.statuses.iter().enumerate() {
            let n = c.load(Relaxed);
            if n > 0 {
                let _ = writeln!(out, "blocklist_edge_http_responses_total{{status=\"{}\"}} {n}", i + 100);
            }
        }
        self.request_latency.render(
            &mut out,
            "blocklist_edge_http_request_duration",
            "Time from a request's arrival to its response head.",
        );
        self.instantiation.render(
            &mut out,
            "blocklist_edge_instantiation",
            "Time from a request's arrival to entering the guest (store set-up and instantiation).",
        );
        out.push_str("# HELP blocklist_edge_instances Requests alive (each holds an instance, streaming ones included), and the limit.\n");
        out.push_str("# TYPE blocklist_edge_instances gauge\n");
        let _ = writeln!(out, "blocklist_edge_instances{{state=\"live\"}} {}", instances.live);
        let _ = writeln!(out, "blocklist_edge_instances{{state=\"max\"}} {}", instances.max);
        for (name, help, c) in [
            (
                "blocklist_edge_write_timeouts_total",
                "Connections closed because their client accepted no bytes for the write timeout.",
                &self.write_timeouts,
            ),
            (
                "blocklist_edge_busy_refusals_total",
                "Requests answered 503 because every instance was taken.",
                &self.busy_refusals,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", c.load(Relaxed));
        }
        if let Some(c) = cache {
            render_cache(&mut out, &c, self.cache_refusals.load(Relaxed));
        }
        out.push_str("# HELP blocklist_edge_job_deliveries_total Job messages delivered, by outcome.\n");
        out.push_str("# TYPE blocklist_edge_job_deliveries_total counter\n");
        for (name, c) in DELIVERIES.iter().zip(&self.deliveries) {
            let _ = writeln!(out, "blocklist_edge_job_deliveries_total{{outcome=\"{name}\"}} {}", c.load(Relaxed));
        }
        if let Some(d) = queue {
            out.push_str("# HELP blocklist_edge_job_queue_messages Job messages by state.\n");
            out.push_str("# TYPE blocklist_edge_job_queue_messages gauge\n");
            for (state, n) in [("ready", d.ready), ("delayed", d.delayed), ("leased", d.leased), ("dead", d.dead)] {
                let _ = writeln!(out, "blocklist_edge_job_queue_messages{{state=\"{state}\"}} {n}");
            }
        }
        out
    }
}

/// The edge cache's metrics; `refusals` are its answers refused by a rate-limit budget.
fn render_cache(out: &mut String, c: &edge_cache::Stats, refusals: u64) {
    out.push_str("# HELP blocklist_edge_cache_requests_total Requests the edge cache could answer: from its copy (hit), or by the component, whose answer it kept (miss) or could not keep (pass: not cacheable, or too large).\n");
    out.push_str("# TYPE blocklist_edge_cache_requests_total counter\n");
    let _ = writeln!(out, "blocklist_edge_cache_requests_total{{result=\"hit\"}} {}", c.hits);
    let _ = writeln!(out, "blocklist_edge_cache_requests_total{{result=\"miss\"}} {}", c.misses);
    let _ = writeln!(out, "blocklist_edge_cache_requests_total{{result=\"pass\"}} {}", c.passes);
    for (name, help, n) in [
        ("blocklist_edge_cache_stores_total", "Answers stored in the edge cache.", c.stores),
        (
            "blocklist_edge_cache_evictions_total",
            "Answers evicted from the edge cache to stay within its memory.",
            c.evictions,
        ),
        ("blocklist_edge_cache_purges_total", "Purges of the edge cache by surrogate key.", c.purges),
        ("blocklist_edge_cache_purged_total", "Answers removed from the edge cache by purges.", c.purged),
        (
            "blocklist_edge_cache_discarded_total",
            "Answers not stored because a purge ran while they were made.",
            c.discarded,
        ),
        ("blocklist_edge_cache_refusals_total", "Answers from the edge cache refused by a rate limit (429).", refusals),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {n}");
    }
    out.push_str(
        "# HELP blocklist_edge_cache_entries Answers in the edge cache.\n# TYPE blocklist_edge_cache_entries gauge\n",
    );
    let _ = writeln!(out, "blocklist_edge_cache_entries {}", c.entries);
    out.push_str("# HELP blocklist_edge_cache_suspended 1 while the edge cache is suspended: the other hosts' purges may not be arriving (their store's server is not reachable), so it neither answers nor keeps anything.\n# TYPE blocklist_edge_cache_suspended gauge\n");
    let _ = writeln!(out, "blocklist_edge_cache_suspended {}", u8::from(c.suspended));
    out.push_str("# HELP blocklist_edge_cache_bytes Memory of the edge cache's answers, and its bound.\n");
    out.push_str("# TYPE blocklist_edge_cache_bytes gauge\n");
    let _ = writeln!(out, "blocklist_edge_cache_bytes{{state=\"used\"}} {}", c.bytes);
    let _ = writeln!(out, "blocklist_edge_cache_bytes{{state=\"max\"}} {}", c.max_bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip() {
        for micros in [0, 1, 999, 1_000, 1_234, 9_999, 10_000, 99_999, 100_000, 9_999_999] {
            let i = index(micros);
            assert!(upper(i) >= micros, "{micros}");
            assert!(i == 0 || upper(i - 1) < micros, "{micros}");
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles() {
        let h = Histogram::default();
        for micros in 1..=100 {
            h.record(Duration::from_micros(micros));
        }
        assert_eq!(quantile(&h.snapshot(), 0.5), Some(50));
        assert_eq!(quantile(&h.snapshot(), 0.99), Some(99));
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_seconds_bucket{le=\"0.00005\"} 50\n"), "{out}");
        assert!(out.contains("x_seconds_count 100\n"));
        assert!(out.contains("x_quantile_seconds{quantile=\"0.5\"} 0.00005\n"));
    }
}
