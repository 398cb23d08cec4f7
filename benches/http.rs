//! `cargo bench --bench http`: how fast blocklist-edge serves, side by side with the floor.
//!
//! In one run, over loopback, with `wrk` (Debian's package) as the load generator
//! (`-t2 -c16`, `BENCH_SECS` seconds per measurement, `BENCH_ROUNDS` rounds, medians reported):
//!
//! - the floor: `wasmtime serve` (wasmtime-cli 48.0.8, installed from crates.io into the target
//!   directory on first use, or `BENCH_WASMTIME`) serving a minimal hello-world `wasi:http`
//!   component (the test guest `tests/guests/busy-loop`, whose `/` answers `200 ok` and does
//!   nothing else);
//! - our host (`blocklist-edge up`, rate limit set far out of reach): `GET /healthz`; `GET` a
//!   compiled list (auth + rate limit + cache hit); `POST` a small list (rotating over
//!   `BENCH_USERS` users);
//! - a compile burst: `BENCH_JOBS` compile requests for distinct lists, timed until all are done;
//! - the host's own per-request instantiation time (p50/p99, from `GET /metrics`).
//!
//! Prints a Markdown table: req/s, p50 and p99 latency, p99/p50, and each req/s as a ratio to
//! the floor's.

#[path = "../tests/common/client.rs"]
mod client;

use client::Api;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The admin token of the host under test (`client::Api::create_user` uses it).
const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_http(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if reqwest::blocking::get(url).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{url} did not answer within 60 s");
}

/// wasmtime-cli 48.0.8: `BENCH_WASMTIME`, or installed once into the target directory.
fn wasmtime() -> PathBuf {
    if let Some(p) = std::env::var_os("BENCH_WASMTIME") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-tools");
    let bin = root.join("bin/wasmtime");
    let version_ok = Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("48.0.8"));
    if !version_ok {
        eprintln!("installing wasmtime-cli 48.0.8 into {} (once; several minutes)", root.display());
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["install", "wasmtime-cli", "--version", "=48.0.8", "--locked", "--root"])
            .arg(&root)
            .status()
            .expect("running cargo install");
        assert!(status.success(), "installing wasmtime-cli failed");
    }
    bin
}

/// One wrk measurement.
#[derive(Clone, Copy, Debug)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
}

fn parse_ms(s: &str) -> f64 {
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

/// Runs wrk against `url` (with `script`, a Lua file, if given) for `secs` seconds.
fn wrk(url: &str, token: Option<&str>, script: Option<&Path>, secs: u64) -> Load {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", "-c16", "--latency", &format!("-d{secs}s")]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    let out = cmd.arg(url).output().expect("running wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| -> Option<String> {
        text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_owned()))
    };
    let rps = field("Requests/sec:").and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
    let p50 = field("50%").map(|v| parse_ms(&v)).unwrap_or(f64::NAN);
    let p99 = field("99%").map(|v| parse_ms(&v)).unwrap_or(f64::NAN);
    let non_2xx = field("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0);
    Load { rps, p50_ms: p50, p99_ms: p99, non_2xx }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Starts the host; returns it and its base URL.
fn start_host(data: &Path) -> (Proc, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_blocklist-edge"))
        .args(["up", "--listen", "127.0.0.1:0", "--admin-token", ADMIN_TOKEN])
        .arg("--data-dir")
        .arg(data)
        .args(["--rate-limit", "1000000000", "--max-lists-per-user", "100000000"])
        .env("BLOCKLIST_EDGE_LOG", std::env::var("BENCH_HOST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting blocklist-edge");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    let mut reader = BufReader::new(stdout);
    let base = loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "blocklist-edge exited");
        if let Some(url) = line.trim().strip_prefix("blocklist-edge listening on ") {
            break url.to_owned();
        }
    };
    (Proc(child), base)
}

/// Creates `n` lists and times `POST /compile` for each until every job is done.
fn compile_burst(api: &Api, token: &str, n: usize) -> Duration {
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

fn metric(text: &str, name: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or(f64::NAN)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is understood.
    let secs: u64 = env_or("BENCH_SECS", 5);
    let rounds: usize = env_or("BENCH_ROUNDS", 3);
    let burst: usize = env_or("BENCH_JOBS", 200);
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

    // Our host, a user, a compiled list in the cache.
    let (_host, base) = start_host(&tmp.path().join("data"));
    let api = Api::new(&base);
    let (_, token) = api.create_user("bench");
    let list = api.create_list(&token, "bench", "||ads.example^\n||tracker.example^\n");
    let job: Value = api.post(&format!("/v1/lists/{list}/compile"), &token).send().unwrap().json().unwrap();
    api.wait_job(&token, job["jobId"].as_str().unwrap(), "done");
    assert_eq!(api.get(&format!("/v1/lists/{list}/compiled"), &token).send().unwrap().status(), 200);
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
    let scenarios: [(&str, String, Option<&str>, Option<&Path>); 4] = [
        ("floor: wasmtime serve, hello world", floor_url.clone(), None, None),
        ("GET /healthz", format!("{base}/healthz"), None, None),
        (
            "GET compiled list (auth + rate limit + cache hit)",
            format!("{base}/v1/lists/{list}/compiled"),
            Some(&token),
            None,
        ),
        ("POST a small list", format!("{base}/v1/lists"), None, Some(&post_script)),
    ];
    let mut results: Vec<Vec<Load>> = vec![Vec::new(); scenarios.len()];
    let mut bursts = Vec::new();
    for round in 0..rounds {
        for (i, (name, url, tok, script)) in scenarios.iter().enumerate() {
            let load = wrk(url, *tok, *script, secs);
            eprintln!("round {}: {name}: {load:?}", round + 1);
            results[i].push(load);
        }
        let took = compile_burst(&api, &token, burst);
        eprintln!("round {}: compile burst of {burst}: {took:?}", round + 1);
        bursts.push(took.as_secs_f64());
    }
    let metrics = api.get("/metrics", ADMIN_TOKEN).send().unwrap().text().unwrap();

    let floor_rps = median(results[0].iter().map(|l| l.rps).collect());
    println!("\n{rounds} rounds of {secs} s per scenario, wrk -t2 -c16 over loopback; medians.\n");
    println!("| scenario | req/s | p50 (ms) | p99 (ms) | p99/p50 | req/s vs floor | non-2xx |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for ((name, ..), loads) in scenarios.iter().zip(&results) {
        let rps = median(loads.iter().map(|l| l.rps).collect());
        let p50 = median(loads.iter().map(|l| l.p50_ms).collect());
        let p99 = median(loads.iter().map(|l| l.p99_ms).collect());
        let non_2xx: u64 = loads.iter().map(|l| l.non_2xx).sum();
        println!(
            "| {name} | {rps:.0} | {p50:.2} | {p99:.2} | {:.1} | {:.2}× | {non_2xx} |",
            p99 / p50,
            rps / floor_rps
        );
    }
    let burst_s = median(bursts);
    println!(
        "| compile burst: {burst} jobs, requested until all done | {:.0} jobs/s | | | | | |",
        burst as f64 / burst_s
    );
    let p50 = metric(&metrics, "blocklist_edge_instantiation_quantile_seconds{quantile=\"0.5\"}") * 1e6;
    let p99 = metric(&metrics, "blocklist_edge_instantiation_quantile_seconds{quantile=\"0.99\"}") * 1e6;
    println!(
        "\nInstantiation inside the host (arrival to entering the guest), all requests: p50 {p50:.0} µs, p99 {p99:.0} µs."
    );
}
