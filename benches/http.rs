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
    /// Responses with a status of 400 or more (wrk's "Non-2xx or 3xx responses" line counts
    /// exactly those: a `304` is not among them).
    non_2xx: u64,
    /// Connect, read, write and timeout errors.
    socket_errors: u64,
    /// Complete responses.
    requests: u64,
    /// Bytes read, status lines and headers included (wrk's "… read").
    read_bytes: f64,
    /// wrk's `Transfer/sec`, in bytes per second.
    transfer_bps: f64,
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

/// A size as wrk prints it (`12.34MB`, `1.02GB`, `512.00B`: binary units, 1 KB = 1024 B),
/// in bytes.
fn parse_bytes(s: &str) -> f64 {
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
/// file) if given, for `secs` seconds.
fn wrk(url: &str, headers: &[String], script: Option<&Path>, secs: u64) -> Load {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", "-c16", "--latency", &format!("-d{secs}s")]);
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
        // Every limit far out of reach: the bench measures serving, not refusing.
        .args(["--rate-limit", "1000000000", "--max-lists-per-user", "100000000"])
        .args(["--subscription-rate-limit", "1000000000", "--subscription-address-limit", "1000000000"])
        // Large lists are created directly from their rules text.
        .args(["--max-body-bytes", "64000000"])
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

/// Starts nginx (Debian's `nginx-light`) on a free loopback port serving `bench.txt` (`body`) and
/// its precompressed `bench.txt.gz` (`gzipped`, sent by `gzip_static` when asked for); returns
/// it and the file's URL.
fn start_nginx(dir: &Path, body: &[u8], gzipped: &[u8]) -> (Nginx, String) {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("nginx not found: apt-get install nginx-light");
    let root = dir.join("nginx");
    std::fs::create_dir_all(root.join("www")).unwrap();
    std::fs::write(root.join("www/bench.txt"), body).unwrap();
    std::fs::write(root.join("www/bench.txt.gz"), gzipped).unwrap();
    let port = free_port();
    let r = root.display();
    std::fs::write(
        root.join("nginx.conf"),
        format!(
            "worker_processes auto;\ndaemon off;\npid {r}/nginx.pid;\nerror_log {r}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  default_type text/plain;\n  \
             client_body_temp_path {r}/tmp;\n  proxy_temp_path {r}/tmp;\n  fastcgi_temp_path {r}/tmp;\n  \
             uwsgi_temp_path {r}/tmp;\n  scgi_temp_path {r}/tmp;\n  \
             server {{ listen 127.0.0.1:{port}; root {r}/www; location / {{ gzip_static on; }} }}\n}}\n"
        ),
    )
    .unwrap();
    let child = Command::new(nginx)
        .arg("-p")
        .arg(&root)
        .arg("-c")
        .arg(root.join("nginx.conf"))
        .arg("-e")
        .arg(root.join("error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting nginx");
    let url = format!("http://127.0.0.1:{port}/bench.txt");
    let nginx = Nginx(child);
    wait_http(&url);
    (nginx, url)
}

/// nginx's master process, stopped with SIGTERM when dropped (its workers stop with it; a
/// SIGKILL would leave them serving).
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child; no memory is involved.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
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

/// `n` rules `||host-{i}.tracker-example.com^`, one a line.
fn tracker_rules(n: usize) -> String {
    (0..n).map(|i| format!("||host-{i}.tracker-example.com^\n")).collect()
}

/// `n` rules `||host-{i}-{8 hex digits}.tracker-example.com^`, one a line: the hex digits
/// (pseudo-random, the same in every run) keep the file about as compressible as real lists
/// (gzip ~5.5× smaller; without them, ~16×).
fn subscribed_rules(n: usize) -> String {
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
fn compiled_list(api: &Api, token: &str, name: &str, rules: &str) -> String {
    let id = api.create_list(token, name, rules);
    compile(api, token, &id);
    id
}

fn compile(api: &Api, token: &str, id: &str) {
    let started = Instant::now();
    let job = api.request_compile(token, id);
    api.wait_job(token, &job, "done");
    eprintln!("compiled list {id} in {:?}", started.elapsed());
}

/// One GET as wrk will make it (`headers`, no others), before the runs: its status must be
/// `expect`. Returns the answer's headers and body.
fn probe(api: &Api, url: &str, headers: &[String], expect: u16) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = api.client().get(url);
    for h in headers {
        let (name, value) = h.split_once(':').expect("a header as `Name: value`");
        req = req.header(name.trim(), value.trim());
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    let head = r.headers().clone();
    let body = r.bytes().unwrap().to_vec();
    assert_eq!(status, expect, "GET {url} {headers:?}: {}", String::from_utf8_lossy(&body[..body.len().min(500)]));
    if let Some(len) = head.get("content-length").and_then(|v| v.to_str().ok()?.parse::<usize>().ok()) {
        assert!(status == 304 || len == body.len(), "GET {url}: content-length {len}, read {}", body.len());
    }
    (head, body)
}

/// `n` with thousands separators.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A size in bytes as KB or MB (10³, 10⁶).
fn size(bytes: usize) -> String {
    if bytes >= 1_000_000 { format!("{:.2} MB", bytes as f64 / 1e6) } else { format!("{:.1} KB", bytes as f64 / 1e3) }
}

fn header(head: &reqwest::header::HeaderMap, name: &str) -> String {
    head.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// A measured scenario.
struct Scenario {
    name: String,
    url: String,
    /// Request headers (`Name: value`) wrk sends.
    headers: Vec<String>,
    script: Option<PathBuf>,
    /// The status every answer has (checked once before the runs; wrk then counts answers of
    /// 400 or more, asserted to be none).
    expect: u16,
    /// Body bytes of one answer as sent (after content coding), where it is fixed.
    wire_body: Option<u64>,
    /// Body bytes of one answer uncompressed, where it is fixed.
    content_body: Option<u64>,
}

impl Scenario {
    fn get(name: impl Into<String>, url: String, headers: Vec<String>, expect: u16) -> Scenario {
        Scenario { name: name.into(), url, headers, script: None, expect, wire_body: None, content_body: None }
    }

    /// Checks what wrk saw against what the probe saw: answers, none 4xx/5xx, and bytes per
    /// answer that fit the body (a `304` has none; a full answer has all of it).
    fn check(&self, load: &Load) {
        let name = &self.name;
        assert!(load.requests > 0, "{name}: no complete answer: {load:?}");
        assert_eq!(load.non_2xx, 0, "{name}: {} answers of 400 or more: {load:?}", load.non_2xx);
        let per_answer = load.read_bytes / load.requests as f64;
        if self.expect == 304 {
            assert!(per_answer < 1024.0, "{name}: {per_answer:.0} bytes per answer: not only 304s");
        }
        if let Some(body) = self.wire_body {
            // wrk prints the bytes read with three significant digits.
            assert!(
                per_answer >= body as f64 * 0.99,
                "{name}: {per_answer:.0} bytes per answer, the body alone is {body}"
            );
        }
    }
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
