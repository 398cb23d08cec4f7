//! Several hosts, one service: three `blocklist-edge up` processes sharing one Redis server for
//! their durable store (`--kv-url`), their job queue (`--redis-url`) and the limiter's counters
//! (`--rate-limit-store data`), each with its own edge cache. Any host answers any request,
//! any host runs any job, a host killed mid-job is replaced, purges reach every host's edge
//! cache (a host cut off from the others' purges stops using its cache until it is back), one
//! rate limit holds across all of them, and a restart of the queue's server that lost every
//! message loses no job.
//!
//! The Redis servers are Debian's `redis-server`, started by the tests on free loopback ports
//! (`jobqueue::testing::RedisServer`). (Debian 12 has no Valkey package; Valkey speaks the same
//! protocol and commands.)

mod common;

use common::client::concurrent_admissions;
use common::http_server::{Upstream, UpstreamMode};
use common::proxy::Proxy;
use common::{Api, Host};
use jobqueue::testing::RedisServer;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// `up` flags for a host of a cluster whose durable store is at `kv` and job queue at `queue`.
fn cluster_flags(kv: &str, queue: &str, extra: &[&str]) -> Vec<String> {
    let mut flags: Vec<String> = [
        "--kv-url",
        kv,
        "--redis-url",
        queue,
        "--rate-limit-store",
        "data",
        "--rate-window-secs",
        "3600",
        "--compile-dedupe-secs",
        "0",
        "--job-requeue-after-ms",
        "1000",
        "--sweep-interval-ms",
        "300",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if !extra.contains(&"--rate-limit") {
        flags.extend(["--rate-limit".to_owned(), "1000000".to_owned()]);
    }
    flags.extend(extra.iter().map(|s| s.to_string()));
    flags
}

fn start_host(kv: &str, queue: &str, extra: &[&str]) -> Host {
    let flags = cluster_flags(kv, queue, extra);
    Host::start(&flags.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Three hosts on one Redis (store and queue).
fn three_hosts(redis: &RedisServer, extra: &[&str]) -> [Host; 3] {
    let url = redis.url();
    std::array::from_fn(|_| start_host(&url, &url, extra))
}

/// `GET path` (no credentials: a subscription URL) through `h`: (status, body, X-Cache).
fn fetch(h: &Host, path: &str) -> (u16, String, String) {
    let r = h.client().get(h.url(path)).send().unwrap();
    let status = r.status().as_u16();
    let cache = r.headers().get("x-cache").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, r.text().unwrap(), cache)
}

/// Polls `path` on `h` until its body contains `needle`; fails after `within`. Returns how long
/// it took.
fn until_served(h: &Host, path: &str, needle: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let (status, body, _) = fetch(h, path);
        if status == 200 && body.contains(needle) {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{} still serves {status} {body:?} after {within:?}", h.addr);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `h`'s edge cache says it is suspended (`true`) or in use (`false`).
fn until_cache_suspended(h: &Host, suspended: bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while (h.metric("blocklist_edge_cache_suspended") == 1.0) != suspended {
        assert!(Instant::now() < deadline, "{}: edge cache suspended is not {suspended} after 20 s", h.addr);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_list_made_on_one_host_is_read_on_a_second_and_compiled_through_a_third() {
    let redis = RedisServer::new();
    let [a, b, c] = three_hosts(&redis, &[]);
    let (_, token) = a.create_user("alice");
    let list = a.create_list(&token, "ads", "||ads.example^\n||tracker.example^\n");

    // B knows the user (its token) and the list at once.
    let got: Value = b.get(&format!("/v1/lists/{list}"), &token).send().unwrap().json().unwrap();
    assert_eq!(got["name"], "ads", "{got}");
    let listed: Value = c.get("/v1/lists", &token).send().unwrap().json().unwrap();
    assert_eq!(listed["lists"].as_array().map(Vec::len), Some(1), "{listed}");

    // Compiled through C; the job is watched from A; every host serves the same artifact.
    let job = c.request_compile(&token, &list);
    a.wait_job(&token, &job, "done");
    let answers: Vec<(String, String)> = [&a, &b, &c]
        .iter()
        .map(|h| {
            let r = h.get(&format!("/v1/lists/{list}/compiled"), &token).send().unwrap();
            assert_eq!(r.status(), 200, "{}", h.addr);
            (r.headers()["etag"].to_str().unwrap().to_owned(), r.text().unwrap())
        })
        .collect();
    assert!(answers[0].1.contains("||ads.example^"), "{:?}", answers[0]);
    assert!(answers.iter().all(|x| *x == answers[0]), "{answers:?}");

    // A subscription made on B is served by all three; a conditional request on A gets 304.
    let sub = b.subscribe(&token, &list, "pihole", "hosts");
    let path = sub["path"].as_str().unwrap().to_owned();
    for h in [&a, &b, &c] {
        let (status, body, _) = fetch(h, &path);
        assert_eq!(status, 200, "{}", h.addr);
        assert!(body.contains("0.0.0.0 ads.example"), "{body}");
    }
    let r = a.client().get(a.url(&path)).send().unwrap();
    let etag = r.headers()["etag"].clone();
    let r = c.client().get(c.url(&path)).header("if-none-match", etag).send().unwrap();
    assert_eq!(r.status(), 304);

    // Deleted through C: gone on A and B (their edge caches purged too).
    assert_eq!(c.delete(&format!("/v1/lists/{list}"), &token).send().unwrap().status(), 204);
    for h in [&a, &b] {
        assert_eq!(h.get(&format!("/v1/lists/{list}"), &token).send().unwrap().status(), 404);
        let deadline = Instant::now() + Duration::from_secs(2);
        while fetch(h, &path).0 == 200 {
            assert!(Instant::now() < deadline, "{} still serves the subscription of a deleted list", h.addr);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn a_compile_on_one_host_invalidates_every_hosts_edge_cache_within_a_second() {
    let redis = RedisServer::new();
    let [a, b, c] = three_hosts(&redis, &[]);
    let (_, token) = a.create_user("alice");
    let list = a.create_list(&token, "ads", "||old.example^\n");
    a.wait_job(&token, &a.request_compile(&token, &list), "done");
    let path = a.subscribe(&token, &list, "dnsmasq", "dnsmasq")["path"].as_str().unwrap().to_owned();
    for h in [&a, &b, &c] {
        until_cache_suspended(h, false);
        assert_eq!(fetch(h, &path).0, 200);
        let (status, body, cache) = fetch(h, &path);
        assert_eq!((status, cache.as_str()), (200, "HIT"), "{}: the second fetch comes from its edge cache", h.addr);
        assert!(body.contains("old.example"));
    }

    let update = json!({"name": "ads", "rules": "||new.example^\n"});
    assert_eq!(b.put(&format!("/v1/lists/{list}"), &token).json(&update).send().unwrap().status(), 200);
    let job = b.request_compile(&token, &list);
    b.wait_job(&token, &job, "done");
    let done = Instant::now();
    for h in [&a, &b, &c] {
        until_served(h, &path, "new.example", Duration::from_secs(2));
    }
    let took = done.elapsed();
    eprintln!("every host served the new list {took:?} after the job was done");
    for h in [&a, &b, &c] {
        assert!(h.metric("blocklist_edge_cache_purges_total") >= 1.0, "{}", h.addr);
    }
}

#[test]
fn a_host_cut_off_from_the_others_purges_stops_using_its_cache_and_serves_the_new_list_once_back() {
    let redis = RedisServer::new();
    let proxy = Proxy::start(&format!("127.0.0.1:{}", redis.port()));
    let (url, cut_url) = (redis.url(), proxy.redis_url());
    let a = start_host(&url, &url, &[]);
    // B reaches the store, the queue and the purges through the proxy.
    let b = start_host(&cut_url, &cut_url, &[]);
    let (_, token) = a.create_user("alice");
    let list = a.create_list(&token, "ads", "||old.example^\n");
    a.wait_job(&token, &a.request_compile(&token, &list), "done");
    let path = a.subscribe(&token, &list, "hosts", "hosts")["path"].as_str().unwrap().to_owned();
    until_cache_suspended(&b, false);
    fetch(&b, &path);
    assert_eq!(fetch(&b, &path).2, "HIT", "B keeps the list in its edge cache");

    // Cut off, B empties and suspends its cache; the list changes meanwhile (B misses the purge).
    proxy.cut();
    until_cache_suspended(&b, true);
    assert_eq!(b.metric("blocklist_edge_cache_entries"), 0.0);
    let update = json!({"name": "ads", "rules": "||new.example^\n"});
    assert_eq!(a.put(&format!("/v1/lists/{list}"), &token).json(&update).send().unwrap().status(), 200);
    a.wait_job(&token, &a.request_compile(&token, &list), "done");
    // While cut off B cannot answer from the store, and does not answer from its cache.
    let (status, body, _) = fetch(&b, &path);
    assert!(status >= 500 && !body.contains("old.example"), "cut off, B answered {status} {body:?}");

    // Back: B's first successful answer is the new list, from then on from its cache again.
    proxy.restore();
    let start = Instant::now();
    loop {
        let (status, body, cache) = fetch(&b, &path);
        if status == 200 {
            assert!(
                body.contains("new.example") && !body.contains("old.example"),
                "{cache} after {:?}: {body}",
                start.elapsed()
            );
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "B does not answer 20 s after the proxy is back");
        std::thread::sleep(Duration::from_millis(20));
    }
    until_cache_suspended(&b, false);
    fetch(&b, &path);
    let (_, body, cache) = fetch(&b, &path);
    assert_eq!(cache, "HIT");
    assert!(body.contains("new.example"));
}

#[test]
fn one_exact_rate_limit_across_three_hosts_under_concurrency() {
    let redis = RedisServer::new();
    let limit = 60u32;
    let hosts = three_hosts(&redis, &["--rate-limit", "60"]);
    let (_, token) = hosts[0].create_user("alice");
    let (clients_per_host, per_client) = (3, 20); // 180 requests for a limit of 60
    let apis: Vec<&Api> = hosts.iter().map(|h| &**h).collect();
    let (ok, limited) = concurrent_admissions(&apis, &token, 3 * clients_per_host, per_client);
    assert_eq!(ok, limit, "the three hosts admitted exactly the limit together");
    assert_eq!(limited, (3 * clients_per_host * per_client) as u32 - limit);
}

/// A list whose one source is `upstream`'s.
fn remote_list(h: &Host, token: &str, upstream: &Upstream, name: &str) -> String {
    let body = json!({"name": name, "config": {"name": name, "sources": [{"source": upstream.server.url(&format!("/{name}.txt"))}]}});
    let r = h.post("/v1/lists", token).json(&body).send().unwrap();
    assert_eq!(r.status(), 201, "creating {body}");
    r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned()
}

#[test]
fn a_host_killed_mid_job_is_replaced_by_another_within_seconds() {
    let redis = RedisServer::new();
    let url = redis.url();
    let upstream = Upstream::start("||remote.example^\n");
    let allowed = ["--allowed-outbound-hosts", upstream.addr()];
    // A alone first, so that A is the one running the job.
    let a = start_host(&url, &url, &allowed);
    let (_, token) = a.create_user("alice");
    let list = remote_list(&a, &token, &upstream, "remote");
    upstream.mode(UpstreamMode::Stall(Duration::from_secs(30)));
    let job = a.request_compile(&token, &list);
    a.wait_job(&token, &job, "running");
    let b = start_host(&url, &url, &allowed);
    let c = start_host(&url, &url, &allowed);

    a.kill_now();
    let killed = Instant::now();
    upstream.mode(UpstreamMode::Serve);
    let done = b.wait_job(&token, &job, "done");
    let took = killed.elapsed();
    eprintln!("the job was done {took:?} after the host running it was killed: {done}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert!(done["attempts"].as_u64().unwrap() >= 2, "{done}");
    for h in [&b, &c] {
        let r = h.get(&format!("/v1/lists/{list}/compiled"), &token).send().unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().unwrap().contains("||remote.example^"));
    }
}

#[test]
fn a_queue_server_restarted_without_its_messages_loses_no_job() {
    // The durable store on a server that syncs every write (what the ledger needs); the queue on
    // one that keeps nothing on disk, as Redis' defaults may lose the last writes.
    let store = RedisServer::durable();
    let mut queue = RedisServer::new();
    let upstream = Upstream::start("||remote.example^\n");
    let allowed = ["--allowed-outbound-hosts", upstream.addr(), "--job-workers", "1"];
    let hosts: Vec<Host> = (0..2).map(|_| start_host(&store.url(), &queue.url(), &allowed)).collect();
    let (_, token) = hosts[0].create_user("alice");
    let lists: Vec<String> = (0..6).map(|i| remote_list(&hosts[0], &token, &upstream, &format!("l{i}"))).collect();
    // Each fetch takes a second: two workers cannot have run six jobs when the server dies.
    upstream.mode(UpstreamMode::Stall(Duration::from_secs(1)));
    let jobs: Vec<String> = lists.iter().enumerate().map(|(i, l)| hosts[i % 2].request_compile(&token, l)).collect();
    let mut raw = ::redis::Client::open(queue.url()).unwrap().get_connection().unwrap();
    let keys: u64 = ::redis::cmd("DBSIZE").query(&mut raw).unwrap();
    assert!(keys > 0, "the queue holds messages");
    let waiting = jobs.iter().filter(|j| hosts[0].job(&token, j)["status"] == "queued").count();
    assert!(waiting > 0, "some jobs have not started: their messages are lost with the server");

    queue.restart();
    let mut raw = ::redis::Client::open(queue.url()).unwrap().get_connection().unwrap();
    let _: () = ::redis::cmd("PING").query(&mut raw).unwrap();
    for (i, job) in jobs.iter().enumerate() {
        hosts[(i + 1) % 2].wait_job(&token, job, "done");
    }
    for (i, list) in lists.iter().enumerate() {
        let r = hosts[i % 2].get(&format!("/v1/lists/{list}/compiled"), &token).send().unwrap();
        assert_eq!(r.status(), 200);
    }
}

#[test]
fn the_shared_store_crashing_and_coming_back_loses_nothing_and_every_host_carries_on() {
    // One durable server (append-only file synced at every write) for store and queue.
    let mut redis = RedisServer::durable();
    let [a, b, c] = three_hosts(&redis, &[]);
    let (_, token) = a.create_user("alice");
    let list = a.create_list(&token, "ads", "||before.example^\n");
    a.wait_job(&token, &a.request_compile(&token, &list), "done");
    let path = a.subscribe(&token, &list, "hosts", "hosts")["path"].as_str().unwrap().to_owned();

    redis.kill();
    for h in [&a, &b, &c] {
        until_cache_suspended(h, true);
        let r = h.get(&format!("/v1/lists/{list}"), &token).send().unwrap();
        assert_eq!(r.status(), 503, "{}: the store is down: {}", h.addr, r.text().unwrap());
    }
    redis.restart();
    for h in [&a, &b, &c] {
        until_cache_suspended(h, false);
        until_served(h, &path, "before.example", Duration::from_secs(10));
    }
    let update = json!({"name": "ads", "rules": "||after.example^\n"});
    assert_eq!(c.put(&format!("/v1/lists/{list}"), &token).json(&update).send().unwrap().status(), 200);
    b.wait_job(&token, &c.request_compile(&token, &list), "done");
    for h in [&a, &b, &c] {
        until_served(h, &path, "after.example", Duration::from_secs(2));
    }
}
