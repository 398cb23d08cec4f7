//! Durable compile jobs, against the real host and the real components, on both queue backends
//! (the embedded SQLite queue, and Redis: a `redis-server` of the test's own).

mod common;

use common::Host;
use common::http_server::{self, Reply, Server};
use jobqueue::testing::RedisServer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The queue backend a test runs on.
enum Backend {
    Embedded,
    Redis(RedisServer),
}

impl Backend {
    fn redis() -> Backend {
        Backend::Redis(RedisServer::durable())
    }

    fn redis_url(&self) -> Option<String> {
        match self {
            Backend::Embedded => None,
            Backend::Redis(server) => Some(server.url()),
        }
    }

    fn start(&self, extra: &[&str]) -> Host {
        start_host(None, self.redis_url(), extra)
    }

    fn start_in(&self, dir: &std::path::Path, extra: &[&str]) -> Host {
        start_host(Some(dir), self.redis_url(), extra)
    }
}

/// Starts a host (in `dir`, else a fresh directory) on the Redis queue at `redis_url`, else the
/// embedded one, with `extra` flags.
fn start_host(dir: Option<&std::path::Path>, redis_url: Option<String>, extra: &[&str]) -> Host {
    // Tests poll job status often: the rate limit is not what they test.
    let mut args: Vec<String> = vec!["--rate-limit".into(), "100000".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    if let Some(url) = redis_url {
        args.push("--redis-url".into());
        args.push(url);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match dir {
        Some(dir) => Host::start_in(dir, &args),
        None => Host::start(&args),
    }
}

/// Runs each test body once per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(#[test] fn $name() { super::$name(super::Backend::Embedded) })*
        }
        mod redis {
            $(#[test] fn $name() { super::$name(super::Backend::redis()) })*
        }
    };
}

on_both_backends!(
    fifty_compile_requests_all_reach_done,
    failing_compiles_retry_with_backoff_die_and_replay,
    kill_9_mid_run_loses_no_job,
    a_message_delivered_twice_does_one_compile,
    webhooks_get_each_signed_event_at_least_once,
);

fn ms(rfc3339: &Value) -> u64 {
    let t = humantime::parse_rfc3339(rfc3339.as_str().expect("a timestamp")).unwrap();
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Creates a list from a HostlistCompiler configuration; returns (id, full response).
fn create_config_list(h: &Host, token: &str, body: Value) -> (String, Value) {
    let r = h.post("/v1/lists", token).json(&body).send().unwrap();
    assert_eq!(r.status(), 201, "creating list");
    let v: Value = r.json().unwrap();
    (v["id"].as_str().unwrap().to_owned(), v)
}

fn compiled(h: &Host, token: &str, list: &str) -> (String, Vec<u8>) {
    let r = h.get(&format!("/v1/lists/{list}/compiled"), token).send().unwrap();
    assert_eq!(r.status(), 200, "compiled list {list}");
    let etag = r.headers()["etag"].to_str().unwrap().trim_matches('"').to_owned();
    (etag, r.bytes().unwrap().to_vec())
}

/// The rules of a compiled list (no header comments).
fn rules_of(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body).lines().filter(|l| !l.starts_with('!') && !l.is_empty()).map(str::to_owned).collect()
}

fn fifty_compile_requests_all_reach_done(backend: Backend) {
    let h = backend.start(&["--job-workers", "2"]);
    let (_, t) = h.create_user("alice");
    let lists: Vec<(String, Vec<String>)> = (0..50)
        .map(|i| {
            let rules: Vec<String> = (0..=i % 7).map(|k| format!("||l{i}-r{k}.example^")).collect();
            // A duplicate line, which the compile removes.
            let text = format!("{}\n{}\n", rules.join("\n"), rules[0]);
            (h.create_list(&t, &format!("list {i}"), &text), rules)
        })
        .collect();
    let jobs: Vec<String> = lists.iter().map(|(id, _)| h.request_compile(&t, id)).collect();
    for ((list, rules), job) in lists.iter().zip(&jobs) {
        let done = h.wait_job(&t, job, "done");
        assert_eq!(done["attempts"], 1);
        let (etag, body) = compiled(&h, &t, list);
        assert_eq!(etag, hex::encode(Sha256::digest(&body)), "the entity tag is the artifact's SHA-256");
        assert_eq!(done["artifact"]["etag"], etag.as_str());
        assert_eq!(done["artifact"]["rules"], rules.len());
        let mut got = rules_of(&body);
        got.sort();
        let mut want = rules.clone();
        want.sort();
        assert_eq!(got, want, "list {list}");
    }
}

/// A source server: `/flaky/{n}` fails its first `n` requests (per path) with a 500, `/broken`
/// fails while `broken` is set, `/slow/{ms}` answers after `ms`; every answer lists one rule
/// naming the path. Counts requests per path.
struct Sources {
    server: Server,
    broken: Arc<AtomicBool>,
    counts: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

impl Sources {
    fn start() -> Sources {
        let broken = Arc::new(AtomicBool::new(true));
        let counts: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>> = Default::default();
        let (b, c) = (broken.clone(), counts.clone());
        let server = Server::start(move |req| {
            let n = {
                let mut counts = c.lock().unwrap();
                let n = counts.entry(req.path.clone()).or_default();
                *n += 1;
                *n
            };
            let rule = format!("||{}.example^\n", req.path.trim_matches('/').replace('/', "-"));
            let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
            match parts.as_slice() {
                ["flaky", fails, ..] if n <= fails.parse().unwrap_or(0) => Reply::text(500, "flaky"),
                ["broken", ..] if b.load(Ordering::SeqCst) => Reply::text(500, "broken"),
                ["slow", wait, ..] => {
                    std::thread::sleep(Duration::from_millis(wait.parse().unwrap_or(0)));
                    Reply::text(200, rule)
                }
                _ => Reply::text(200, rule),
            }
        });
        Sources { server, broken, counts }
    }

    fn count(&self, path: &str) -> usize {
        self.counts.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn config(&self, name: &str, path: &str) -> Value {
        json!({"name": name, "config": {"name": name, "sources": [{"source": self.server.url(path)}]}})
    }
}

fn failing_compiles_retry_with_backoff_die_and_replay(backend: Backend) {
    let sources = Sources::start();
    let h = backend.start(&[
        "--allowed-outbound-hosts",
        &sources.server.addr,
        "--job-backoff-ms",
        "300",
        "--sweep-interval-ms",
        "250",
    ]);
    let (_, t) = h.create_user("alice");

    // Fails twice, then succeeds: done after 3 attempts, with growing delays between them.
    let (flaky, _) = create_config_list(&h, &t, sources.config("flaky", "/flaky/2"));
    let job = h.request_compile(&t, &flaky);
    let done = h.wait_job(&t, &job, "done");
    assert_eq!(done["attempts"], 3, "{done}");
    assert_eq!(sources.count("/flaky/2"), 3);
    let history = done["history"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    assert!(history[0]["error"].as_str().unwrap().contains("500"), "{done}");
    assert!(history[1]["error"].as_str().unwrap().contains("500"));
    assert!(history[2]["error"].is_null());
    let gap1 = ms(&history[1]["startedAt"]) - ms(&history[0]["endedAt"]);
    let gap2 = ms(&history[2]["startedAt"]) - ms(&history[1]["endedAt"]);
    assert!(gap1 >= 300, "first retry after the base backoff: {gap1} ms");
    assert!(gap2 >= 600, "second retry after twice that: {gap2} ms");
    assert!(gap2 > gap1, "delays grow: {gap1} ms then {gap2} ms");
    assert_eq!(rules_of(&compiled(&h, &t, &flaky).1), vec!["||flaky-2.example^"]);

    // Always fails: dead after the maximum attempts, in the dead-letter list.
    let (broken, _) = create_config_list(&h, &t, sources.config("broken", "/broken"));
    let job = h.request_compile(&t, &broken);
    let dead = h.wait_job(&t, &job, "dead");
    assert_eq!((dead["attempts"].as_u64(), dead["maxAttempts"].as_u64()), (Some(3), Some(3)));
    assert!(dead["lastError"].as_str().unwrap().contains("500"));
    assert_eq!(sources.count("/broken"), 3, "no attempt after the last");
    let dlq: Value = h.get("/v1/jobs?status=dead", &t).send().unwrap().json().unwrap();
    let ids: Vec<&str> = dlq["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![job.as_str()]);
    let r = h.get(&format!("/v1/lists/{broken}/compiled"), &t).send().unwrap();
    assert_eq!(r.status(), 404, "a dead job leaves no artifact");

    // Replay after the source is fixed: done, and out of the dead-letter list.
    sources.broken.store(false, Ordering::SeqCst);
    let r = h.post(&format!("/v1/jobs/{job}/replay"), &t).send().unwrap();
    assert_eq!(r.status(), 202);
    let done = h.wait_job(&t, &job, "done");
    assert_eq!((done["attempts"].as_u64(), done["replays"].as_u64()), (Some(1), Some(1)));
    assert_eq!(rules_of(&compiled(&h, &t, &broken).1), vec!["||broken.example^"]);
    let dlq: Value = h.get("/v1/jobs?status=dead", &t).send().unwrap().json().unwrap();
    assert_eq!(dlq["jobs"], json!([]));

    // Only dead jobs are replayed; other users see no job at all.
    let (status, code, _) = common::error_of(h.post(&format!("/v1/jobs/{job}/replay"), &t).send().unwrap());
    assert_eq!((status, code.as_str()), (409, "not_dead"));
    let (_, mallory) = h.create_user("mallory");
    let (status, _, _) = common::error_of(h.post(&format!("/v1/jobs/{job}/replay"), &mallory).send().unwrap());
    assert_eq!(status, 404);
    let (status, _, _) = common::error_of(h.get(&format!("/v1/jobs/{job}"), &mallory).send().unwrap());
    assert_eq!(status, 404);
    let (status, _, _) = common::error_of(h.get("/v1/jobs?status=running", &t).send().unwrap());
    assert_eq!(status, 400);
}

fn kill_9_mid_run_loses_no_job(backend: Backend) {
    let sources = Sources::start();
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--allowed-outbound-hosts",
        &sources.server.addr,
        "--job-workers",
        "2",
        "--job-deadline-ms",
        "3000",
        "--job-requeue-after-ms",
        "1000",
        "--sweep-interval-ms",
        "250",
    ];
    let h = backend.start_in(dir.path(), &args);
    let (_, t) = h.create_user("alice");
    // Each compile fetches a source that takes 400 ms: the kill lands mid-compile.
    let lists: Vec<String> = (0..12)
        .map(|i| create_config_list(&h, &t, sources.config(&format!("l{i}"), &format!("/slow/400/{i}"))).0)
        .collect();
    let jobs: Vec<String> = lists.iter().map(|l| h.request_compile(&t, l)).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !jobs.iter().any(|j| h.job(&t, j)["status"] == "running") {
        assert!(Instant::now() < deadline, "no job started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
    h.kill();
    // The kill landed mid-attempt: the ledger the dead host left has a job running.
    let store = common::data_store(dir.path());
    let running = jobs
        .iter()
        .filter(|j| {
            let record = store.get("lists", &format!("job/{j}")).unwrap().unwrap();
            serde_json::from_slice::<Value>(&record).unwrap()["status"] == "running"
        })
        .count();
    drop(store);
    assert!(running > 0, "no job was running when the host was killed");
    let h = backend.start_in(dir.path(), &args);
    for (i, (list, job)) in lists.iter().zip(&jobs).enumerate() {
        let done = h.wait_job(&t, job, "done");
        assert!(done["attempts"].as_u64().unwrap() <= 2, "{done}");
        let (etag, body) = compiled(&h, &t, list);
        assert_eq!(etag, hex::encode(Sha256::digest(&body)));
        assert_eq!(rules_of(&body), vec![format!("||slow-400-{i}.example^")], "compiled once, whole");
    }
}

fn a_message_delivered_twice_does_one_compile(backend: Backend) {
    let sources = Sources::start();
    let dir = tempfile::tempdir().unwrap();
    let h = backend.start_in(dir.path(), &["--allowed-outbound-hosts", &sources.server.addr, "--job-workers", "3"]);
    let (_, t) = h.create_user("alice");
    let (list, _) = create_config_list(&h, &t, sources.config("twice", "/slow/500/twice"));
    let job = h.request_compile(&t, &list);
    // Two more copies of the job's message, as a redelivering queue (or Spin's pub/sub with two
    // subscribers) would hand out: straight into the queue, under other message ids.
    let queue: Box<dyn jobqueue::Queue> = match &backend {
        Backend::Embedded => Box::new(jobqueue::SqliteQueue::open(dir.path().join("queue.sqlite3")).unwrap()),
        Backend::Redis(server) => Box::new(jobqueue::RedisQueue::open(&server.url(), "blocklist-edge").unwrap()),
    };
    let payload = json!({"type": "compile", "jobId": job}).to_string();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    for copy in ["copy-1", "copy-2"] {
        assert!(queue.enqueue("blocklist-edge-jobs", copy, payload.as_bytes(), now).unwrap());
    }
    let done = h.wait_job(&t, &job, "done");
    // Let every copy be delivered before counting.
    let deadline = Instant::now() + Duration::from_secs(30);
    while queue.depth("blocklist-edge-jobs", u64::MAX / 2).unwrap() != jobqueue::Depth::default() {
        assert!(Instant::now() < deadline, "the copies were not all delivered");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(done["attempts"], 1);
    assert_eq!(h.job(&t, &job)["attempts"], 1, "no second attempt");
    assert_eq!(sources.count("/slow/500/twice"), 1, "the source was fetched once: one compile");
    assert_eq!(rules_of(&compiled(&h, &t, &list).1), vec!["||slow-500-twice.example^"]);
}

fn webhooks_get_each_signed_event_at_least_once(backend: Backend) {
    use hmac::{Hmac, Mac};
    let sources = Sources::start();
    let received: Arc<std::sync::Mutex<Vec<http_server::Request>>> = Default::default();
    let r = received.clone();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let receiver = Server::start(move |req| {
        r.lock().unwrap().push(req.clone());
        // The first delivery attempt of the receiver fails: that must not fail the compile, and
        // the event comes again.
        if c.fetch_add(1, Ordering::SeqCst) == 0 { Reply::text(503, "not now") } else { Reply::text(204, "") }
    });
    let allowed = format!("{},{}", sources.server.addr, receiver.named_addr());
    let h = backend.start(&[
        "--allowed-outbound-hosts",
        &allowed,
        "--job-backoff-ms",
        "100",
        "--webhook-backoff-ms",
        "100",
        "--sweep-interval-ms",
        "250",
    ]);
    let (_, t) = h.create_user("alice");
    let mut lists = Vec::new();
    for (name, path) in [("ok-1", "/ok/1"), ("ok-2", "/ok/2"), ("dead", "/broken")] {
        let mut body = sources.config(name, path);
        body["webhookUrl"] = json!(receiver.named_url(&format!("/hook/{name}")));
        let (id, view) = create_config_list(&h, &t, body);
        let secret = view["webhook"]["secret"].as_str().expect("the secret is shown to the owner").to_owned();
        lists.push((name, id, secret));
    }
    // A receiver on a host the server does not allow: never reached, and the job is done.
    let mut body = sources.config("denied", "/ok/denied");
    body["webhookUrl"] = json!("http://localhost:9/hook/denied");
    let (denied_list, _) = create_config_list(&h, &t, body);
    let denied_job = h.request_compile(&t, &denied_list);
    let jobs: Vec<String> = lists.iter().map(|(_, id, _)| h.request_compile(&t, id)).collect();
    for ((name, _, _), job) in lists.iter().zip(&jobs) {
        h.wait_job(&t, job, if *name == "dead" { "dead" } else { "done" });
    }
    let denied = h.wait_job(&t, &denied_job, "done");
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.job(&t, &denied_job)["notification"]["error"].is_null() {
        assert!(Instant::now() < deadline, "no notification outcome recorded: {denied}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let n = &h.job(&t, &denied_job)["notification"];
    assert!(n["status"].is_null() && n["error"].is_string(), "{n}");
    // Every finished job's event is delivered: wait for the deliveries to settle, then make sure
    // no more come.
    let deadline = Instant::now() + Duration::from_secs(30);
    while jobs.iter().any(|j| h.job(&t, j)["notification"]["state"] != "delivered") {
        assert!(Instant::now() < deadline, "webhook events missing: {:?}", received.lock().unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1_000));
    let events = received.lock().unwrap().clone();
    assert_eq!(events.len(), 4, "one event per finished job, one of them sent again after a 503");
    for ((name, list, secret), job) in lists.iter().zip(&jobs) {
        let matching: Vec<&http_server::Request> =
            events.iter().filter(|e| e.path == format!("/hook/{name}")).collect();
        assert!(!matching.is_empty(), "an event for {name}");
        let event = if *name == "dead" { "job.dead" } else { "job.done" };
        for (n, e) in matching.iter().enumerate() {
            assert_eq!(e.headers["x-blocklist-edge-delivery"], format!("{job}.{event}.0"), "one id for every attempt");
            assert_eq!(e.headers["x-blocklist-edge-delivery-attempt"], (n + 1).to_string());
        }
        let e = matching[matching.len() - 1];
        assert_eq!(e.method, "POST");
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(&e.body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(e.headers["x-blocklist-edge-signature"], expected, "the signature verifies");
        let mut forged = Hmac::<Sha256>::new_from_slice(b"another secret").unwrap();
        forged.update(&e.body);
        assert_ne!(
            e.headers["x-blocklist-edge-signature"],
            format!("sha256={}", hex::encode(forged.finalize().into_bytes()))
        );
        let body: Value = serde_json::from_slice(&e.body).unwrap();
        assert_eq!((body["event"].as_str(), e.headers["x-blocklist-edge-event"].as_str()), (Some(event), event));
        assert_eq!(
            (body["job"]["id"].as_str(), body["list"]["id"].as_str()),
            (Some(job.as_str()), Some(list.as_str()))
        );
        // The job records what became of its notification.
        let n = &h.job(&t, job)["notification"];
        assert_eq!((n["event"].as_str(), n["status"].as_u64()), (Some(event), Some(204)), "{n}");
        assert_eq!(n["attempts"], matching.len(), "{n}");
    }
}

/// Redis restarted mid-run: the host reconnects and no job is lost, including jobs requested
/// while Redis was down. Redis runs with no persistence at all (worse than its default, whose
/// snapshots lose the last minutes): every message it held is gone after the restart, and the
/// ledger and the sweeper, not Redis, must bring the jobs back.
#[test]
fn redis_restart_mid_run_loses_no_job() {
    let mut redis = RedisServer::new();
    let sources = Sources::start();
    let h = start_host(
        None,
        Some(redis.url()),
        &[
            "--allowed-outbound-hosts",
            &sources.server.addr,
            "--job-requeue-after-ms",
            "1000",
            "--sweep-interval-ms",
            "250",
        ],
    );
    let (_, t) = h.create_user("alice");
    let lists: Vec<String> = (0..16)
        .map(|i| create_config_list(&h, &t, sources.config(&format!("l{i}"), &format!("/slow/100/{i}"))).0)
        .collect();
    let mut jobs: Vec<String> = lists[..8].iter().map(|l| h.request_compile(&t, l)).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !jobs.iter().any(|j| h.job(&t, j)["status"] == "done") {
        assert!(Instant::now() < deadline, "no job finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    redis.kill();
    // Requested while Redis is down: the ledger has them, the sweeper publishes them later.
    jobs.extend(lists[8..].iter().map(|l| h.request_compile(&t, l)));
    std::thread::sleep(Duration::from_millis(1_000));
    redis.restart();
    for (i, (list, job)) in lists.iter().zip(&jobs).enumerate() {
        h.wait_job(&t, job, "done");
        assert_eq!(rules_of(&compiled(&h, &t, list).1), vec![format!("||slow-100-{i}.example^")]);
    }
}

/// With no sweeper timer (as under Spin), requests drive the sweeper: a job whose message was
/// lost (published while Redis was down) is published again and done.
#[test]
fn requests_drive_the_sweeper_when_there_is_no_timer() {
    let mut redis = RedisServer::new();
    let h = start_host(
        None,
        Some(redis.url()),
        &["--sweep-interval-ms", "3600000", "--request-sweep-secs", "1", "--job-requeue-after-ms", "500"],
    );
    let (_, t) = h.create_user("alice");
    let list = h.create_list(&t, "lost", "||lost.example^\n");
    redis.kill();
    let job = h.request_compile(&t, &list);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(h.job(&t, &job)["status"], "queued", "its message was lost");
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // A liveness probe's requests are enough.
        assert_eq!(h.client().get(h.url("/healthz")).send().unwrap().status(), 200);
        if h.job(&t, &job)["status"] == "done" {
            break;
        }
        assert!(Instant::now() < deadline, "the job was not swept: {}", h.job(&t, &job));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(rules_of(&compiled(&h, &t, &list).1), vec!["||lost.example^"]);
}

/// A compile that runs past its deadline is cut off; its claim runs out and the sweeper gives it
/// another attempt; after the last it is dead.
#[test]
fn a_compile_past_its_deadline_is_retried_then_dead() {
    let sources = Sources::start();
    let h = Backend::Embedded.start(&[
        "--allowed-outbound-hosts",
        &sources.server.addr,
        "--job-deadline-ms",
        "300",
        "--job-backoff-ms",
        "100",
        "--sweep-interval-ms",
        "200",
    ]);
    let (_, t) = h.create_user("alice");
    let (list, _) = create_config_list(&h, &t, sources.config("slow", "/slow/2000/late"));
    let job = h.request_compile(&t, &list);
    let dead = h.wait_job(&t, &job, "dead");
    assert_eq!(dead["attempts"], 3, "{dead}");
    assert!(dead["lastError"].as_str().unwrap().contains("did not finish"), "{dead}");
    assert_eq!(sources.count("/slow/2000/late"), 3, "one fetch per attempt");
    // And the host kept serving meanwhile.
    assert_eq!(h.client().get(h.url("/healthz")).send().unwrap().status(), 200);
}

/// A source server answering `lines` generated rules (`||host-NNNNNNNN.example.org^`) to every
/// request, and the size of that body.
fn serve_generated_list(lines: usize) -> (Server, usize) {
    let body: Arc<Vec<u8>> =
        Arc::new((0..lines).map(|i| format!("||host-{i:08}.example.org^\n")).collect::<String>().into_bytes());
    let bytes = body.len();
    (Server::start(move |_| Reply::text(200, body.to_vec())), bytes)
}

/// Creates the list "big", compiled from `source`'s `/big.txt`; returns its id.
fn create_big_list(h: &Host, token: &str, source: &Server) -> String {
    let config = json!({"name": "big", "sources": [{"source": source.url("/big.txt")}]});
    create_config_list(h, token, json!({"name": "big", "config": config})).0
}

/// A compile that needs more memory than `--job-memory-mib` traps on the queue path: the
/// attempt fails, is retried, and the job ends dead; the host keeps serving and compiling
/// lists that fit.
#[test]
fn a_compile_over_its_memory_cap_is_retried_then_dead() {
    // 20 MB of rules: the compiler holds the text and its lines, far over 16 MiB.
    let (source, _) = serve_generated_list(800_000);
    let h = Backend::Embedded.start(&[
        "--allowed-outbound-hosts",
        &source.addr,
        "--job-memory-mib",
        "16",
        // A trapped attempt leaves its ledger claim behind; it runs out after the deadline
        // plus 3 s, and then the sweeper publishes the job again.
        "--job-deadline-ms",
        "1000",
        "--job-backoff-ms",
        "50",
        "--sweep-interval-ms",
        "200",
    ]);
    let (_, t) = h.create_user("alice");
    let list = create_big_list(&h, &t, &source);
    let job = h.request_compile(&t, &list);
    let dead = h.wait_job(&t, &job, "dead");
    assert_eq!(dead["attempts"], 3, "{dead}");
    assert!(dead["artifact"].is_null(), "{dead}");
    // The host kept serving, and a list that fits still compiles.
    assert_eq!(h.client().get(h.url("/healthz")).send().unwrap().status(), 200);
    let small = h.create_list(&t, "small", "||a.example^\n");
    let job = h.request_compile(&t, &small);
    h.wait_job(&t, &job, "done");
}

/// A 50 MB compiled list is stored in chunks and served whole.
#[test]
fn a_50_mb_list_compiles_and_is_served_whole() {
    let lines = 2_000_000usize;
    let (source, bytes) = serve_generated_list(lines);
    assert!(bytes >= 50 * 1000 * 1000, "{bytes} bytes");
    let h = start_host(None, None, &["--allowed-outbound-hosts", &source.addr]);
    let (_, t) = h.create_user("alice");
    let list = create_big_list(&h, &t, &source);
    let job = h.request_compile(&t, &list);
    let done = h.wait_job(&t, &job, "done");
    assert_eq!(done["artifact"]["rules"], lines);
    let (etag, body) = compiled(&h, &t, &list);
    assert_eq!(body.len() as u64, done["artifact"]["length"].as_u64().unwrap());
    assert_eq!(etag, hex::encode(Sha256::digest(&body)));
    let rules = rules_of(&body);
    assert_eq!(rules.len(), lines);
    assert_eq!(rules[0], "||host-00000000.example.org^");
    assert_eq!(rules[lines - 1], format!("||host-{:08}.example.org^", lines - 1));
    // Served again (the cache does not hold lists this big): the same bytes.
    assert_eq!(compiled(&h, &t, &list).1, body);
}
