//! `cargo bench --bench http`: how fast blocklist-edge serves, side by side with the floor.
//!
//! In one run, over loopback, with `wrk` (Debian's package) as the load generator
//! (`-t2 -c16`, `BENCH_SECS` seconds per measurement, `BENCH_ROUNDS` rounds, medians reported):
//!
//! - the floor: `wasmtime serve` (wasmtime-cli 48.0.8, installed from crates.io into the target
//!   directory on first use, or `BENCH_WASMTIME`) serving a minimal hello-world `wasi:http`
//!   component (the test guest `tests/guests/busy-loop`, whose `/` answers `200 ok` and does
//!   nothing else);
//! - our host (`blocklist-edge up`, every rate limit set far out of reach): `GET /healthz`;
//!   `GET` a compiled list (auth + rate limit) of 2 rules, of 2,000 rules (~65 KB, a cache hit)
//!   and of `BENCH_BIG_RULES` rules (default 100,000, ~3.4 MB: over the node-local cache's
//!   900 KiB, streamed from the store), rules `||host-N.tracker-example.com^`;
//! - a subscription fetch (`GET /s/{token}/….txt`, no credentials) of a list of
//!   `BENCH_SUB_RULES` rules (default 21,000: ~1 MB in hosts format, ~180 KB gzip; names with
//!   a pseudo-random label, so that it compresses about as real lists do) with
//!   `Accept-Encoding: gzip`, and the same with `If-None-Match: <the gzip ETag>` (`304`, target
//!   ≥ 0.9× the floor's req/s, printed as met or not);
//! - `POST` a small list (rotating over `BENCH_USERS` users);
//! - a compile burst: `BENCH_JOBS` compile requests for distinct lists, timed until all are
//!   done (`BENCH_JOBS=0` skips it);
//! - the host's own per-request instantiation time (p50/p99, from `GET /metrics`).
//!
//! Every scenario's request is made once with reqwest before the runs (status, body, content
//! coding and ETag checked), and every wrk run is asserted to have had no answer of 400 or more
//! and bytes per answer that fit the body (none for the `304`s).
//!
//! Prints a Markdown table: req/s, p50 and p99 latency, p99/p50, each req/s as a ratio to the
//! floor's, the body's size, MB/s on the wire (wrk's `Transfer/sec`) and uncompressed (req/s ×
//! the body's uncompressed size).

#[path = "../../tests/common/client.rs"]
mod client;
mod lists;
mod report;
mod scenario;
mod servers;
mod wrk;

use client::Api;
use lists::{compile, compile_burst, compiled_list, subscribed_rules, tracker_rules};
use report::{metric, size, thousands};
use scenario::{Scenario, header, probe};
use serde_json::Value;
use servers::{Proc, free_port, start_host, start_nginx, wait_http, wasmtime};
use std::process::{Command, Stdio};
use wrk::{Load, median, wrk};

/// The admin token of the host under test (`client::Api::create_user` uses it).
const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is understood.
    let secs: u64 = env_or("BENCH_SECS", 5);
    let rounds: usize = env_or("BENCH_ROUNDS", 3);
    let burst: usize = env_or("BENCH_JOBS", 200);
    let big_rules: usize = env_or("BENCH_BIG_RULES", 100_000);
    let sub_rules: usize = env_or("BENCH_SUB_RULES", 21_000);
    let tmp = tempfile::tempdir().unwrap();

    // The floor: wasmtime serve with the hello component.
    let wasmtime = wasmtime();
    let floor_port = free_port();
    let _floor = Proc(
        Command::new(&wasmtime)
            .args(["serve", "-S", "cli", "--addr", &format!("127.0.0.1:{floor_port}")])
            .arg(env!("BLOCKLIST_EDGE_TEST_BUSY_LOOP_WASM"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting wasmtime serve"),
    );
    let floor_url = format!("http://127.0.0.1:{floor_port}/");
    wait_http(&floor_url);

    // Our host, a user, compiled lists in three sizes.
    let (_host, base) = start_host(&tmp.path().join("data"));
    let api = Api::new(&base);
    let (_, token) = api.create_user("bench");
    let auth = vec![format!("Authorization: Bearer {token}")];
    let small = compiled_list(&api, &token, "bench", "||ads.example^\n||tracker.example^\n");
    let mid = compiled_list(&api, &token, "bench 2000", &tracker_rules(2_000));
    let big = compiled_list(&api, &token, &format!("bench {big_rules}"), &tracker_rules(big_rules));

    // A subscription in hosts format to a list of about 1 MB in that format. Subscribed before
    // the compile, so that the compile job makes its rendition (as for a list in use).
    let subscribed = api.create_list(&token, "subscribed", &subscribed_rules(sub_rules));
    let r = api
        .post(&format!("/v1/lists/{subscribed}/subscriptions"), &token)
        .json(&serde_json::json!({"name": "bench", "format": "hosts"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "creating the subscription");
    let sub: Value = r.json().unwrap();
    let sub_url = format!("{base}{}", sub["path"].as_str().expect("the subscription's path"));
    compile(&api, &token, &subscribed);
    let (identity_head, identity) = probe(&api, &sub_url, &[], 200);
    let gzip_headers = vec!["Accept-Encoding: gzip".to_owned()];
    let (gzip_head, gzipped) = probe(&api, &sub_url, &gzip_headers, 200);
    assert_eq!(header(&gzip_head, "content-encoding"), "gzip");
    let gzip_etag = header(&gzip_head, "etag");
    let identity_etag = header(&identity_head, "etag");
    assert_eq!(gzip_etag, format!("{}-gzip\"", identity_etag.trim_end_matches('"')), "the gzip variant's ETag");
    assert_eq!(client::gunzip(&gzipped), identity, "the gzip answer is the file");
    let not_modified_headers = vec![format!("If-None-Match: {gzip_etag}"), "Accept-Encoding: gzip".to_owned()];
    let (_, empty) = probe(&api, &sub_url, &not_modified_headers, 304);
    assert!(empty.is_empty());

    // The practical limit: nginx serving the same bytes (and their gzip) as static files.
    let (_nginx, nginx_url) = start_nginx(tmp.path(), &identity, &gzipped);
    let nginx_gzip_headers = gzip_headers.clone();
    let (nginx_head, nginx_gzipped) = probe(&api, &nginx_url, &nginx_gzip_headers, 200);
    assert_eq!(header(&nginx_head, "content-encoding"), "gzip", "nginx serves the .gz file");
    assert_eq!(nginx_gzipped, gzipped, "nginx serves the same bytes");
    let nginx_not_modified =
        vec![format!("If-None-Match: {}", header(&nginx_head, "etag")), "Accept-Encoding: gzip".to_owned()];
    probe(&api, &nginx_url, &nginx_not_modified, 304);

    // POSTs rotate over many users, as real traffic does: one user's list index stays small.
    let users: usize = env_or("BENCH_USERS", 200);
    let tokens: Vec<String> = (0..users).map(|i| api.create_user(&format!("poster {i}")).1).collect();
    let post_script = tmp.path().join("post.lua");
    let lua_tokens: Vec<String> = tokens.iter().map(|t| format!("\"{t}\"")).collect();
    std::fs::write(
        &post_script,
        format!(
            "local tokens = {{{}}}\nlocal n = 0\n\
             request = function()\n  n = n + 1\n  local t = tokens[(n % #tokens) + 1]\n  \
             return wrk.format(\"POST\", nil, {{[\"Content-Type\"] = \"application/json\", \
             [\"Authorization\"] = \"Bearer \" .. t}}, '{{\"name\":\"bench\",\"rules\":\"||a.example^\\\\n||b.example^\\\\n\"}}')\nend\n",
            lua_tokens.join(", ")
        ),
    )
    .unwrap();

    // The scenarios, each probed once with the same request.
    let mut scenarios = vec![
        Scenario::get("floor: wasmtime serve, hello world", floor_url, vec![], 200),
        Scenario::get("GET /healthz", format!("{base}/healthz"), vec![], 200),
    ];
    for (id, what) in [
        (&small, "2 rules".to_owned()),
        (&mid, "2,000 rules".to_owned()),
        (&big, format!("{} rules", thousands(big_rules))),
    ] {
        let url = format!("{base}/v1/lists/{id}/compiled");
        let len = probe(&api, &url, &auth, 200).1.len() as u64;
        let how = if len as usize > 900 * 1024 { "streamed from the store" } else { "cache hit" };
        let mut s = Scenario::get(
            format!("GET compiled list, {what}, {} (auth + rate limit + {how})", size(len as usize)),
            url,
            auth.clone(),
            200,
        );
        (s.wire_body, s.content_body) = (Some(len), Some(len));
        scenarios.push(s);
    }
    let sub_200 = scenarios.len();
    let mut s = Scenario::get(
        format!(
            "subscription fetch, gzip: {} rules, hosts {}, gzip {} (no auth)",
            thousands(sub_rules),
            size(identity.len()),
            size(gzipped.len())
        ),
        sub_url.clone(),
        gzip_headers,
        200,
    );
    (s.wire_body, s.content_body) = (Some(gzipped.len() as u64), Some(identity.len() as u64));
    scenarios.push(s);
    let sub_304 = scenarios.len();
    scenarios.push(Scenario::get(
        "subscription fetch, If-None-Match the gzip ETag: 304",
        sub_url,
        not_modified_headers,
        304,
    ));
    let nginx_200 = scenarios.len();
    let mut s = Scenario::get("nginx: the same file, static, gzip", nginx_url.clone(), nginx_gzip_headers, 200);
    (s.wire_body, s.content_body) = (Some(gzipped.len() as u64), Some(identity.len() as u64));
    scenarios.push(s);
    scenarios.push(Scenario::get("nginx: If-None-Match, 304", nginx_url, nginx_not_modified, 304));
    scenarios.push(Scenario {
        script: Some(post_script),
        ..Scenario::get("POST a small list", format!("{base}/v1/lists"), vec![], 201)
    });
    for s in &scenarios[..2] {
        probe(&api, &s.url, &s.headers, s.expect);
    }

    let mut results: Vec<Vec<Load>> = vec![Vec::new(); scenarios.len()];
    let mut bursts = Vec::new();
    for round in 0..rounds {
        for (i, s) in scenarios.iter().enumerate() {
            let load = wrk(&s.url, &s.headers, s.script.as_deref(), secs);
            eprintln!("round {}: {}: {load:?}", round + 1, s.name);
            s.check(&load);
            results[i].push(load);
        }
        if burst > 0 {
            let took = compile_burst(&api, &token, burst);
            eprintln!("round {}: compile burst of {burst}: {took:?}", round + 1);
            bursts.push(took.as_secs_f64());
        }
    }
    let metrics = api.get("/metrics", ADMIN_TOKEN).send().unwrap().text().unwrap();

    let floor_rps = median(results[0].iter().map(|l| l.rps).collect());
    println!("\n{rounds} rounds of {secs} s per scenario, wrk -t2 -c16 over loopback; medians.");
    println!(
        "Wire MB/s: wrk's Transfer/sec (status lines, headers and bodies as read); content MB/s: \
         req/s × the uncompressed body; 1 MB = 10⁶ bytes. Every answer was checked: one by reqwest \
         before the runs, then none of wrk's of 400 or more.\n"
    );
    println!(
        "| scenario | req/s | p50 (ms) | p99 (ms) | p99/p50 | req/s vs floor | body (bytes) | wire MB/s | content MB/s | 4xx/5xx, socket errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut socket_errors = 0;
    for (s, loads) in scenarios.iter().zip(&results) {
        let rps = median(loads.iter().map(|l| l.rps).collect());
        let p50 = median(loads.iter().map(|l| l.p50_ms).collect());
        let p99 = median(loads.iter().map(|l| l.p99_ms).collect());
        let wire = median(loads.iter().map(|l| l.transfer_bps).collect()) / 1e6;
        let non_2xx: u64 = loads.iter().map(|l| l.non_2xx).sum();
        let errors: u64 = loads.iter().map(|l| l.socket_errors).sum();
        socket_errors += errors;
        let body = match (s.wire_body, s.content_body) {
            (Some(w), Some(c)) if w != c => format!("{w} gzip ({c})"),
            (_, Some(c)) => c.to_string(),
            _ if s.expect == 304 => "0".to_owned(),
            _ => String::new(),
        };
        let content = s.content_body.map(|c| format!("{:.1}", rps * c as f64 / 1e6)).unwrap_or_default();
        println!(
            "| {} | {rps:.0} | {p50:.2} | {p99:.2} | {:.1} | {:.2}× | {body} | {wire:.1} | {content} | {non_2xx}, {errors} |",
            s.name,
            p99 / p50,
            rps / floor_rps
        );
    }
    if burst > 0 {
        let burst_s = median(bursts);
        println!(
            "| compile burst: {burst} jobs, requested until all done | {:.0} jobs/s | | | | | | | | |",
            burst as f64 / burst_s
        );
    }
    let ratio_304 = median(results[sub_304].iter().map(|l| l.rps).collect()) / floor_rps;
    let per_round: Vec<String> =
        results[sub_304].iter().zip(&results[0]).map(|(s, f)| format!("{:.2}×", s.rps / f.rps)).collect();
    println!(
        "\nSubscription `304` (the request subscribers make most): {ratio_304:.2}× the floor's req/s \
         (per round: {}); target ≥ 0.9×: **{}**.",
        per_round.join(", "),
        if ratio_304 >= 0.9 { "met" } else { "not met" }
    );
    let rps_of = |i: usize| median(results[i].iter().map(|l| l.rps).collect());
    let (gzip_ratio, not_modified_ratio) =
        (rps_of(sub_200) / rps_of(nginx_200), rps_of(sub_304) / rps_of(nginx_200 + 1));
    let met = |r: f64| if r >= 0.5 { "met" } else { "not met" };
    println!(
        "Against nginx serving the same file (issue 13's target is ≥ 0.5×): the gzip fetch {gzip_ratio:.2}× \
         (**{}**), the `304` {not_modified_ratio:.2}× (**{}**).",
        met(gzip_ratio),
        met(not_modified_ratio)
    );
    let hits = metric(&metrics, "blocklist_edge_cache_requests_total{result=\"hit\"}");
    let misses = metric(&metrics, "blocklist_edge_cache_requests_total{result=\"miss\"}");
    let passes = metric(&metrics, "blocklist_edge_cache_requests_total{result=\"pass\"}");
    println!(
        "Edge cache over the whole run: {hits:.0} hits, {misses:.0} misses, {passes:.0} passes (the \
         subscription rows are answered from it; `/healthz` passes; the bearer-token rows never reach it)."
    );
    if socket_errors > 0 {
        println!("Socket errors (connect, read, write, timeout) in some rows: see the last column.");
    }
    let p50 = metric(&metrics, "blocklist_edge_instantiation_quantile_seconds{quantile=\"0.5\"}") * 1e6;
    let p99 = metric(&metrics, "blocklist_edge_instantiation_quantile_seconds{quantile=\"0.99\"}") * 1e6;
    println!(
        "\nInstantiation inside the host (arrival to entering the guest), all requests: p50 {p50:.0} µs, p99 {p99:.0} µs."
    );
}
