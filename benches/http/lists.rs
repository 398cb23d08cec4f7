//! The lists the bench serves: their rules, made and compiled through the API.

use crate::client::Api;
use serde_json::Value;
use std::time::{Duration, Instant};

/// `n` rules `||host-{i}.tracker-example.com^`, one a line.
pub(crate) fn tracker_rules(n: usize) -> String {
    (0..n).map(|i| format!("||host-{i}.tracker-example.com^\n")).collect()
}

/// `n` rules `||host-{i}-{8 hex digits}.tracker-example.com^`, one a line: the hex digits
/// (pseudo-random, the same in every run) keep the file about as compressible as real lists
/// (gzip ~5.5× smaller; without them, ~16×).
pub(crate) fn subscribed_rules(n: usize) -> String {
    (0..n as u64)
        .map(|i| {
            // splitmix64
            let mut z = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            format!("||host-{i}-{:08x}.tracker-example.com^\n", (z ^ (z >> 31)) as u32)
        })
        .collect()
}

/// Creates a list of `rules` and compiles it; returns its id.
pub(crate) fn compiled_list(api: &Api, token: &str, name: &str, rules: &str) -> String {
    let id = api.create_list(token, name, rules);
    compile(api, token, &id);
    id
}

pub(crate) fn compile(api: &Api, token: &str, id: &str) {
    let started = Instant::now();
    let job = api.request_compile(token, id);
    api.wait_job(token, &job, "done");
    eprintln!("compiled list {id} in {:?}", started.elapsed());
}

/// Creates `n` lists and times `POST /compile` for each until every job is done.
pub(crate) fn compile_burst(api: &Api, token: &str, n: usize) -> Duration {
    let lists: Vec<String> =
        (0..n).map(|i| api.create_list(token, &format!("burst {i}"), &format!("||b{i}.example^\n"))).collect();
    let started = Instant::now();
    let jobs: Vec<String> = lists
        .iter()
        .map(|l| {
            let v: Value = api.post(&format!("/v1/lists/{l}/compile"), token).send().unwrap().json().unwrap();
            v["jobId"].as_str().expect("a job id").to_owned()
        })
        .collect();
    for job in &jobs {
        api.wait_job(token, job, "done");
    }
    started.elapsed()
}
