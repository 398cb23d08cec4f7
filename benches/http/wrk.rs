//! The load generator: one `wrk` run, and what it printed.

use std::path::Path;
use std::process::Command;

/// One wrk measurement.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Load {
    pub(crate) rps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    /// Responses with a status of 400 or more (wrk's "Non-2xx or 3xx responses" line counts
    /// exactly those: a `304` is not among them).
    pub(crate) non_2xx: u64,
    /// Connect, read, write and timeout errors.
    pub(crate) socket_errors: u64,
    /// Complete responses.
    pub(crate) requests: u64,
    /// Bytes read, status lines and headers included (wrk's "… read").
    pub(crate) read_bytes: f64,
    /// wrk's `Transfer/sec`, in bytes per second.
    pub(crate) transfer_bps: f64,
}

pub(crate) fn parse_ms(s: &str) -> f64 {
    let (num, factor) = if let Some(v) = s.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (s, 1.0)
    };
    num.parse::<f64>().unwrap_or(f64::NAN) * factor
}

/// A size as wrk prints it (`12.34MB`, `1.02GB`, `512.00B`: binary units, 1 KB = 1024 B),
/// in bytes.
pub(crate) fn parse_bytes(s: &str) -> f64 {
    let s = s.trim();
    let s = s.strip_suffix('B').unwrap_or(s);
    let (num, factor) = match s.chars().last() {
        Some('K') => (&s[..s.len() - 1], 1024f64),
        Some('M') => (&s[..s.len() - 1], 1024f64.powi(2)),
        Some('G') => (&s[..s.len() - 1], 1024f64.powi(3)),
        Some('T') => (&s[..s.len() - 1], 1024f64.powi(4)),
        _ => (s, 1.0),
    };
    num.trim().parse::<f64>().unwrap_or(f64::NAN) * factor
}

/// Runs wrk against `url` with extra request `headers` (`Name: value`) and `script` (a Lua
/// file) if given, for `secs` seconds, on 2 threads and 16 connections.
pub(crate) fn wrk(url: &str, headers: &[String], script: Option<&Path>, secs: u64) -> Load {
    wrk_on(url, headers, script, secs, 16)
}

/// [`wrk`] on `connections` connections (and as many threads, at most 2).
pub(crate) fn wrk_on(url: &str, headers: &[String], script: Option<&Path>, secs: u64, connections: u32) -> Load {
    let mut cmd = Command::new("wrk");
    cmd.args([&format!("-t{}", connections.min(2)), &format!("-c{connections}"), "--latency", &format!("-d{secs}s")]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    let out = cmd.arg(url).output().expect("running wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    let field = |prefix: &str| -> Option<String> {
        text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_owned()))
    };
    let rps = field("Requests/sec:").and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
    let p50 = field("50%").map(|v| parse_ms(&v)).unwrap_or(f64::NAN);
    let p99 = field("99%").map(|v| parse_ms(&v)).unwrap_or(f64::NAN);
    let non_2xx = field("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0);
    // "Socket errors: connect 0, read 0, write 0, timeout 0" (only when there are some).
    let socket_errors = field("Socket errors:")
        .map(|v| v.split(',').filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    // "123456 requests in 3.00s, 45.67MB read"
    let (requests, read_bytes) = text
        .lines()
        .find_map(|l| {
            let (n, rest) = l.trim().split_once(" requests in ")?;
            let read = rest.split_once(", ")?.1.strip_suffix(" read")?;
            Some((n.parse().ok()?, parse_bytes(read)))
        })
        .unwrap_or((0, f64::NAN));
    let transfer_bps = field("Transfer/sec:").map(|v| parse_bytes(&v)).unwrap_or(f64::NAN);
    Load { rps, p50_ms: p50, p99_ms: p99, non_2xx, socket_errors, requests, read_bytes, transfer_bps }
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
