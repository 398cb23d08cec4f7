//! The conformance suite: HTTP scenarios every host of blocklist-edge must pass alike — this
//! project's host, the host running the wac-composed gateway, and `spin up`. It knows only a
//! base URL and the admin token; each scenario makes its own users, so scenarios do not
//! interfere.
//!
//! The host under test must run with a rate limit of [`RATE_LIMIT`] requests per 60 s.

use crate::common::http_server::Upstream;
use crate::common::{Api, error_of};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The rate limit hosts under test are configured with (requests per user per 60 s).
pub const RATE_LIMIT: u32 = 60;

/// A host under test.
pub struct Target {
    pub name: String,
    pub api: Api,
    pub admin: String,
    /// An upstream list server the host may fetch from, with refresh intervals of 1 s allowed:
    /// the scheduled-refresh scenario runs only with one (hosts this suite starts; a
    /// deployment cannot reach it).
    pub upstream: Option<Upstream>,
}

impl Target {
    /// Asserts `holds` after a change: at once on one instance; where requests alternate
    /// between several instances, on every one (as many checks in a row) within 3 s (each
    /// trusts what it cached for a second).
    fn settled(&self, what: &str, holds: &dyn Fn() -> bool) {
        let deadline = Instant::now() + if self.api.instances() > 1 { Duration::from_secs(3) } else { Duration::ZERO };
        loop {
            if (0..self.api.instances()).all(|_| holds()) {
                return;
            }
            assert!(Instant::now() < deadline, "[{}] {what}: not so", self.name);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn user(&self, name: &str) -> (String, String) {
        let r = self.api.post("/v1/users", &self.admin).json(&json!({"name": name})).send().unwrap();
        assert_eq!(r.status(), 201, "[{}] creating user {name}", self.name);
        let v: Value = r.json().unwrap();
        (v["user"]["id"].as_str().unwrap().to_owned(), v["token"].as_str().unwrap().to_owned())
    }

    fn list(&self, token: &str, name: &str, rules: &str) -> String {
        let r = self.api.post("/v1/lists", token).json(&json!({"name": name, "rules": rules})).send().unwrap();
        assert_eq!(r.status(), 201, "[{}] creating list {name}", self.name);
        r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned()
    }

    /// Polls the job until it is `done` (fails on `dead` or after 60 s).
    fn wait_done(&self, token: &str, job: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v: Value = self.api.get(&format!("/v1/jobs/{job}"), token).send().unwrap().json().unwrap();
            match v["status"].as_str() {
                Some("done") => return v,
                Some("dead") => panic!("[{}] job {job} is dead: {v}", self.name),
                _ => {}
            }
            assert!(Instant::now() < deadline, "[{}] job {job} not done after 60 s: {v}", self.name);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A named scenario.
type Scenario = (&'static str, fn(&Target));

/// Runs every scenario against `target`.
pub fn run(target: &Target) {
    let scenarios: [Scenario; 11] = [
        ("health", health),
        ("dashboard", dashboard),
        ("auth failures", auth_failures),
        ("users and roles", users_and_roles),
        ("list CRUD", list_crud),
        ("compile to done, compiled list, ETag", compile_to_done),
        ("compile dedupe", compile_dedupe),
        ("rate limit", rate_limit),
        ("tenant isolation", tenant_isolation),
        ("subscriptions", subscriptions),
        ("lookup and explain", lookup_and_explain),
    ];
    for (name, scenario) in scenarios {
        let started = Instant::now();
        scenario(target);
        eprintln!("[{}] conformance: {name}: passed in {:?}", target.name, started.elapsed());
    }
    if let Some(upstream) = &target.upstream {
        let started = Instant::now();
        scheduled_refresh(target, upstream);
        eprintln!("[{}] conformance: scheduled refresh: passed in {:?}", target.name, started.elapsed());
    }
}

/// A list on a 1 s schedule follows its upstream, driven by `POST /v1/admin/refresh` as an
/// external scheduler would (under Spin, with no timer, that or request-path sweeps drive it):
/// its refreshes fetch conditionally and end `unchanged` while nothing changes, a truncated
/// upstream is held by the publish guard, and the owner publishes it.
fn scheduled_refresh(t: &Target, upstream: &Upstream) {
    let (_, token) = t.user("scheduled");
    let rules = |tag: &str, n: usize| (0..n).map(|i| format!("||{tag}{i}.example^\n")).collect::<String>();
    upstream.set(&rules("first", 10));
    let body = json!({
        "name": "scheduled",
        "config": {"name": "scheduled", "sources": [{"source": format!("http://{}/list.txt", upstream.addr())}]},
        "refreshIntervalSecs": 1,
    });
    let r = t.api.post("/v1/lists", &token).json(&body).send().unwrap();
    assert_eq!(r.status(), 201, "[{}] creating a scheduled list", t.name);
    let created: Value = r.json().unwrap();
    let list = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["refreshIntervalSecs"], 1, "[{}] {created}", t.name);
    // Drives the schedule until `done(owner's view)` holds; slowly enough for the rate limit
    // (60 requests per 60 s per user).
    let until = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let r = t.api.post("/v1/admin/refresh", &t.admin).send().unwrap();
            assert_eq!(r.status(), 200, "[{}] POST /v1/admin/refresh", t.name);
            if done() {
                break;
            }
            assert!(Instant::now() < deadline, "[{}] the schedule did not {what} within 40 s", t.name);
            std::thread::sleep(Duration::from_millis(700));
        }
    };
    let compiled_with = |rule: &str| {
        let r = t.api.get(&format!("/v1/lists/{list}/compiled"), &token).send().unwrap();
        r.status() == 200 && r.text().unwrap().contains(rule)
    };
    until("compile ||first0.example^", &|| compiled_with("||first0.example^"));
    upstream.set(&rules("second", 10));
    until("compile ||second0.example^", &|| compiled_with("||second0.example^"));
    // Unchanged upstream: the next refresh's conditional fetch is answered 304 (the fetch of
    // the second content recorded 200) and the refresh ends `unchanged`.
    until("fetch with a 304", &|| {
        let view: Value = t.api.get(&format!("/v1/lists/{list}"), &token).send().unwrap().json().unwrap();
        view["sources"][0]["lastStatus"] == 304
    });
    let jobs: Value = t.api.get(&format!("/v1/lists/{list}/jobs"), &token).send().unwrap().json().unwrap();
    let newest_ended =
        jobs["jobs"].as_array().unwrap().iter().find(|j| j["status"] != "queued" && j["status"] != "running");
    assert_eq!(newest_ended.map(|j| &j["status"]), Some(&json!("unchanged")), "[{}] {jobs}", t.name);
    // Truncated to one rule: held, the published list stays until the owner publishes it.
    upstream.set(&rules("second", 1));
    until("hold the truncated list", &|| {
        t.api.get(&format!("/v1/lists/{list}/held"), &token).send().unwrap().status() == 200
    });
    assert!(compiled_with("||second9.example^"), "[{}] the published list stays", t.name);
    let r = t.api.post(&format!("/v1/lists/{list}/held/publish"), &token).send().unwrap();
    assert_eq!(r.status(), 200, "[{}] publishing the held list", t.name);
    // Published on one instance: served by every instance within a second (each trusts its
    // cached copy that long), at once where there is one.
    t.settled("the approved list is served", &|| {
        let text = t.api.get(&format!("/v1/lists/{list}/compiled"), &token).send().unwrap().text().unwrap();
        text.contains("||second0.example^") && !text.contains("||second1.example^")
    });
    let versions: Value = t.api.get(&format!("/v1/lists/{list}/versions"), &token).send().unwrap().json().unwrap();
    let causes: Vec<&str> =
        versions["versions"].as_array().unwrap().iter().map(|v| v["cause"].as_str().unwrap()).collect();
    assert_eq!(causes, ["approval", "schedule", "schedule"], "[{}] {versions}", t.name);
}

fn health(t: &Target) {
    let r = t.api.client().get(t.api.url("/healthz")).send().unwrap();
    assert_eq!(r.status(), 200, "[{}]", t.name);
    assert_eq!(r.json::<Value>().unwrap(), json!({"status": "ok"}));
}

/// The dashboard component answers `/` and `/ui/…` next to the API: the same built-in files,
/// revalidated by ETag, under a strict Content-Security-Policy.
fn dashboard(t: &Target) {
    let client = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = client.get(t.api.url("/")).send().unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers().get("location").map(|v| v.to_str().unwrap())),
        (302, Some("/ui/")),
        "[{}] /",
        t.name
    );
    let r = client.get(t.api.url("/ui/")).send().unwrap();
    assert_eq!(r.status(), 200, "[{}] /ui/", t.name);
    let header =
        |r: &reqwest::blocking::Response, name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(header(&r, "content-type").as_deref(), Some("text/html; charset=utf-8"), "[{}]", t.name);
    assert!(header(&r, "content-security-policy").unwrap().contains("script-src 'self'"), "[{}]", t.name);
    let etag = header(&r, "etag").unwrap();
    let html = r.text().unwrap();
    let script = html.split('"').find(|s| s.starts_with("assets/") && s.ends_with(".js")).expect("the page's script");
    let r = client.get(t.api.url(&format!("/ui/{script}"))).send().unwrap();
    assert_eq!(r.status(), 200, "[{}] {script}", t.name);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("public, max-age=31536000, immutable"), "[{}]", t.name);
    let r = client.get(t.api.url("/ui/")).header("if-none-match", &etag).send().unwrap();
    assert_eq!(r.status(), 304, "[{}] /ui/ revalidated", t.name);
    let r = client.post(t.api.url("/ui/")).send().unwrap();
    assert_eq!(error_of(r).1, "method_not_allowed", "[{}] POST /ui/", t.name);
}

fn auth_failures(t: &Target) {
    let r = t.api.client().get(t.api.url("/v1/me")).send().unwrap();
    assert_eq!(r.headers().get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer"));
    assert_eq!(error_of(r).1, "unauthorized", "[{}] no token", t.name);
    for header in ["Bearer ble_0000", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not-a-token"] {
        let r = t.api.client().get(t.api.url("/v1/me")).header("authorization", header).send().unwrap();
        assert_eq!(error_of(r).0, 401, "[{}] {header:?}", t.name);
    }
}

fn users_and_roles(t: &Target) {
    let me: Value = t.api.get("/v1/me", &t.admin).send().unwrap().json().unwrap();
    assert_eq!(me["role"], "admin");
    let (id, token) = t.user("conformance-user");
    let me: Value = t.api.get("/v1/me", &token).send().unwrap().json().unwrap();
    assert_eq!((me["role"].as_str(), me["user"]["id"].as_str()), (Some("user"), Some(id.as_str())));
    let r = t.api.post("/v1/users", &token).json(&json!({"name": "x"})).send().unwrap();
    assert_eq!(error_of(r).0, 403, "[{}] a user cannot create users", t.name);
    let (status, code, _) = error_of(t.api.get("/v1/lists", &t.admin).send().unwrap());
    assert_eq!((status, code.as_str()), (403, "forbidden"), "[{}] the admin owns no lists", t.name);
    let r = t.api.post(&format!("/v1/users/{id}/tokens"), &t.admin).send().unwrap();
    assert_eq!(r.status(), 201);
    let second = r.json::<Value>().unwrap()["token"].as_str().unwrap().to_owned();
    assert_eq!(t.api.get("/v1/me", &second).send().unwrap().status(), 200, "[{}] a second token works", t.name);
}

fn list_crud(t: &Target) {
    let (_, token) = t.user("crud");
    let id = t.list(&token, "ads", "||ads.example^\n");
    let v: Value = t.api.get(&format!("/v1/lists/{id}"), &token).send().unwrap().json().unwrap();
    assert_eq!((v["rules"].as_str(), v["revision"].as_u64()), (Some("||ads.example^\n"), Some(1)), "[{}]", t.name);
    let r =
        t.api.put(&format!("/v1/lists/{id}"), &token).json(&json!({"name": "ads 2", "rules": "||b.example^\n"})).send();
    let v: Value = r.unwrap().json().unwrap();
    assert_eq!((v["name"].as_str(), v["revision"].as_u64()), (Some("ads 2"), Some(2)));
    let all: Value = t.api.get("/v1/lists", &token).send().unwrap().json().unwrap();
    assert_eq!(all["lists"].as_array().unwrap().len(), 1);
    let r = t.api.post("/v1/lists", &token).header("content-type", "application/json").body("{oops").send().unwrap();
    assert_eq!(error_of(r).0, 400, "[{}] malformed JSON", t.name);
    let r = t.api.post("/v1/lists", &token).header("content-type", "text/plain").body("{}").send().unwrap();
    assert_eq!(error_of(r).0, 415, "[{}] wrong content type", t.name);
    assert_eq!(t.api.delete(&format!("/v1/lists/{id}"), &token).send().unwrap().status(), 204);
    assert_eq!(error_of(t.api.get(&format!("/v1/lists/{id}"), &token).send().unwrap()).0, 404);
}

fn compile_to_done(t: &Target) {
    let (_, token) = t.user("compiler");
    let id = t.list(&token, "ads", "||ads.example^\n||tracker.example^\n||ads.example^\n");
    let r: Value = t.api.post(&format!("/v1/lists/{id}/compile"), &token).send().unwrap().json().unwrap();
    assert_eq!(r["status"], "queued", "[{}] {r}", t.name);
    let job = r["jobId"].as_str().unwrap().to_owned();
    let done = t.wait_done(&token, &job);
    assert_eq!(done["attempts"], 1, "[{}] {done}", t.name);
    let r = t.api.get(&format!("/v1/lists/{id}/compiled"), &token).send().unwrap();
    assert_eq!(r.status(), 200, "[{}]", t.name);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let body = r.text().unwrap();
    let rules: Vec<&str> = body.lines().filter(|l| !l.starts_with('!') && !l.is_empty()).collect();
    assert_eq!(rules, vec!["||tracker.example^", "||ads.example^"], "[{}] deduplicated: {body}", t.name);
    assert_eq!(etag.trim_matches('"'), done["artifact"]["etag"].as_str().unwrap());
    let r = t.api.get(&format!("/v1/lists/{id}/compiled"), &token).header("if-none-match", &etag).send().unwrap();
    assert_eq!(r.status(), 304, "[{}] If-None-Match", t.name);
    // A new revision compiles to a new artifact.
    let r =
        t.api.put(&format!("/v1/lists/{id}"), &token).json(&json!({"name": "ads", "rules": "||new.example^\n"})).send();
    assert_eq!(r.unwrap().status(), 200);
    let r: Value = t.api.post(&format!("/v1/lists/{id}/compile"), &token).send().unwrap().json().unwrap();
    assert_eq!(r["status"], "queued", "[{}] a new revision is not a duplicate: {r}", t.name);
    let done = t.wait_done(&token, r["jobId"].as_str().unwrap());
    assert_ne!(done["artifact"]["etag"].as_str(), Some(etag.trim_matches('"')));
    let r = t.api.get(&format!("/v1/lists/{id}/compiled"), &token).header("if-none-match", &etag).send().unwrap();
    assert_eq!(r.status(), 200, "[{}] the old tag no longer matches", t.name);
    assert!(r.text().unwrap().contains("\n||new.example^"));
}

/// Is a name blocked, by which rule (the owner's lookup and a subscription token's), and why
/// (explain): the same answers on every host.
fn lookup_and_explain(t: &Target) {
    let (_, token) = t.user("lookup");
    let id = t.list(&token, "ads", "||ads.example^\n@@||ok.ads.example^\n||ads.example^\n");
    let r: Value = t.api.post(&format!("/v1/lists/{id}/compile"), &token).send().unwrap().json().unwrap();
    t.wait_done(&token, r["jobId"].as_str().unwrap());
    let r = t.api.get(&format!("/v1/lists/{id}/lookup?name=X.ads.example."), &token).send().unwrap();
    assert_eq!(r.status(), 200, "[{}] lookup", t.name);
    let v: Value = r.json().unwrap();
    assert_eq!((v["name"].clone(), v["blocked"].clone()), (json!("x.ads.example"), json!(true)), "[{}] {v}", t.name);
    assert_eq!(v["decidedBy"]["text"], "||ads.example^", "[{}] {v}", t.name);
    let v: Value =
        t.api.get(&format!("/v1/lists/{id}/lookup?name=ok.ads.example"), &token).send().unwrap().json().unwrap();
    assert_eq!((v["blocked"].clone(), v["matches"].as_array().unwrap().len()), (json!(false), 2), "[{}] {v}", t.name);

    let r = t
        .api
        .post(&format!("/v1/lists/{id}/subscriptions"), &token)
        .json(&json!({"name": "resolver", "format": "hosts", "lookup": true}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "[{}] subscription with lookups", t.name);
    let path = r.json::<Value>().unwrap()["lookupPath"].as_str().unwrap().to_owned();
    let v: Value = t.api.client().get(t.api.url(&format!("{path}a.ads.example"))).send().unwrap().json().unwrap();
    assert_eq!(v["decidedBy"]["text"], "||ads.example^", "[{}] lookup by subscription token: {v}", t.name);

    let r = t.api.get(&format!("/v1/lists/{id}/explain?name=ads.example"), &token).send().unwrap();
    assert_eq!(r.status(), 200, "[{}] explain", t.name);
    let e: Value = r.json().unwrap();
    assert_eq!(e["verdict"]["decidedBy"]["text"], "||ads.example^", "[{}] {e}", t.name);
    let outputs: Vec<&Value> = e["lines"].as_array().unwrap().iter().map(|l| &l["output"]).collect();
    // The first of the two repeats is removed by Deduplicate; the exception does not mention it.
    assert_eq!(outputs, [&json!([]), &json!(["||ads.example^"])], "[{}] {e}", t.name);
    assert_eq!(e["lines"][0]["steps"][0]["stage"], "Deduplicate", "[{}] {e}", t.name);
}

fn compile_dedupe(t: &Target) {
    let (_, token) = t.user("dedupe");
    let id = t.list(&token, "ads", "||ads.example^\n");
    let answers: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| t.api.post(&format!("/v1/lists/{id}/compile"), &token).send().unwrap().json::<Value>()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
    });
    let queued: Vec<&Value> = answers.iter().filter(|a| a["status"] == "queued").collect();
    assert_eq!(queued.len(), 1, "[{}] exactly one request queues a job: {answers:?}", t.name);
    let job = queued[0]["jobId"].clone();
    assert!(answers.iter().all(|a| a["jobId"] == job), "[{}] duplicates name the queued job", t.name);
    t.wait_done(&token, job.as_str().unwrap());
}

fn rate_limit(t: &Target) {
    let (_, token) = t.user("busy");
    for admitted in 0..RATE_LIMIT + 5 {
        let r = t.api.get("/v1/me", &token).send().unwrap();
        if r.status() == 429 {
            let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            // At most the rest of this window plus the time the previous window's weight takes
            // to drop by one request in the next: under 60 s + 60 s / RATE_LIMIT.
            assert!((1..=61).contains(&retry), "[{}] Retry-After {retry}", t.name);
            assert_eq!(error_of(r).1, "rate_limited");
            assert_eq!(admitted, RATE_LIMIT, "[{}] admitted exactly the limit", t.name);
            // Another user is not limited by this one.
            let (_, other) = t.user("idle");
            assert_eq!(t.api.get("/v1/me", &other).send().unwrap().status(), 200);
            return;
        }
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["ratelimit-limit"].to_str().unwrap(), RATE_LIMIT.to_string());
    }
    panic!("[{}] no 429 after {} requests", t.name, RATE_LIMIT + 5);
}

fn tenant_isolation(t: &Target) {
    let (_, a) = t.user("alice");
    let (_, b) = t.user("mallory");
    let id = t.list(&a, "private", "||a.example^\n");
    let r: Value = t.api.post(&format!("/v1/lists/{id}/compile"), &a).send().unwrap().json().unwrap();
    let job = r["jobId"].as_str().unwrap().to_owned();
    t.wait_done(&a, &job);
    let body = json!({"name": "stolen", "rules": ""});
    let attempts = [
        t.api.get(&format!("/v1/lists/{id}"), &b),
        t.api.put(&format!("/v1/lists/{id}"), &b).json(&body),
        t.api.delete(&format!("/v1/lists/{id}"), &b),
        t.api.post(&format!("/v1/lists/{id}/compile"), &b),
        t.api.get(&format!("/v1/lists/{id}/compiled"), &b),
        t.api.get(&format!("/v1/jobs/{job}"), &b),
        t.api.post(&format!("/v1/jobs/{job}/replay"), &b),
    ];
    for request in attempts {
        assert_eq!(error_of(request.send().unwrap()).0, 404, "[{}] another user's resource", t.name);
    }
    let lists: Value = t.api.get("/v1/lists", &b).send().unwrap().json().unwrap();
    assert_eq!(lists["lists"], json!([]));
    assert_eq!(
        t.api.get(&format!("/v1/lists/{id}/compiled"), &a).send().unwrap().status(),
        200,
        "[{}] untouched",
        t.name
    );
}

/// A subscription URL as a resolver fetches it: no credentials, plain text in its format, the
/// validators and negotiation consumers rely on, and a token that can be rotated and revoked.
fn subscriptions(t: &Target) {
    let (_, token) = t.user("subscriber");
    let id = t.list(&token, "Ads", "||ads.example^\nexact.example\n@@||ok.ads.example^\n/regex/\n");
    let r: Value = t.api.post(&format!("/v1/lists/{id}/compile"), &token).send().unwrap().json().unwrap();
    t.wait_done(&token, r["jobId"].as_str().unwrap());
    let r = t
        .api
        .post(&format!("/v1/lists/{id}/subscriptions"), &token)
        .json(&json!({"name": "Home router", "format": "hosts"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "[{}]", t.name);
    let created: Value = r.json().unwrap();
    let path = created["path"].as_str().unwrap().to_owned();
    assert!(path.starts_with("/s/bls_") && path.ends_with("/home-router.txt"), "[{}] {created}", t.name);
    assert_eq!(created["subscription"]["published"]["omitted"], 1, "[{}] the regex: {created}", t.name);

    let plain = t.api.client();
    let r = plain.get(t.api.url(&path)).send().unwrap();
    assert_eq!(r.status(), 200, "[{}]", t.name);
    let header = |r: &reqwest::blocking::Response, name: &str| {
        r.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    };
    assert!(header(&r, "content-type").starts_with("text/plain"), "[{}]", t.name);
    assert!(header(&r, "cache-control").contains("max-age="), "[{}]", t.name);
    assert_eq!(header(&r, "vary").to_ascii_lowercase(), "accept-encoding");
    assert_eq!(header(&r, "x-blocklist-omitted"), "1");
    let (etag, last_modified) = (header(&r, "etag"), header(&r, "last-modified"));
    let body = r.text().unwrap();
    assert!(body.starts_with("# Title: Ads\n"), "[{}] {body}", t.name);
    let entries: Vec<&str> = body.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
    assert_eq!(entries, vec!["0.0.0.0 ads.example", "0.0.0.0 exact.example"], "[{}] {body}", t.name);
    assert_eq!(
        etag,
        format!("\"{}\"", crate::common::sha256_hex(body.as_bytes())),
        "[{}] strong ETag of the body",
        t.name
    );

    let r = plain.get(t.api.url(&path)).header("if-none-match", &etag).send().unwrap();
    assert_eq!((r.status().as_u16(), r.bytes().unwrap().len()), (304, 0), "[{}] If-None-Match", t.name);
    let r = plain.get(t.api.url(&path)).header("if-modified-since", &last_modified).send().unwrap();
    assert_eq!(r.status(), 304, "[{}] If-Modified-Since", t.name);
    let r = plain.head(t.api.url(&path)).send().unwrap();
    assert_eq!((r.status().as_u16(), header(&r, "etag")), (200, etag.clone()), "[{}] HEAD", t.name);
    let r = plain.get(t.api.url(&path)).header("accept-encoding", "gzip").send().unwrap();
    assert_eq!(header(&r, "content-encoding"), "gzip", "[{}]", t.name);
    let gz_etag = header(&r, "etag");
    assert_ne!(gz_etag, etag, "[{}] each encoding has its own strong ETag", t.name);
    assert_eq!(crate::common::gunzip(&r.bytes().unwrap()), body.as_bytes(), "[{}] gzip of the same body", t.name);
    let r = plain.get(t.api.url(&path)).header("accept-encoding", "gzip").header("if-none-match", &gz_etag).send();
    assert_eq!(r.unwrap().status(), 304, "[{}]", t.name);

    // The secret as HTTP Basic credentials (AdGuard DNS takes user:password@ URLs).
    let secret = created["token"].as_str().unwrap();
    let r = plain.get(t.api.url("/s/list.txt")).basic_auth("me", Some(secret)).send().unwrap();
    assert_eq!((r.status().as_u16(), header(&r, "etag")), (200, etag.clone()), "[{}] Basic", t.name);
    let r = plain.get(t.api.url("/s/list.txt")).send().unwrap();
    assert_eq!(r.status(), 401, "[{}] Basic asked for", t.name);
    assert!(header(&r, "www-authenticate").starts_with("Basic"), "[{}]", t.name);

    // Recompiling the same rules changes nothing a subscriber sees.
    let r = t
        .api
        .put(&format!("/v1/lists/{id}"), &token)
        .json(&json!({"name": "Ads", "rules": "||ads.example^\nexact.example\n@@||ok.ads.example^\n/regex/\n"}))
        .send();
    assert_eq!(r.unwrap().status(), 200);
    let r: Value = t.api.post(&format!("/v1/lists/{id}/compile"), &token).send().unwrap().json().unwrap();
    t.wait_done(&token, r["jobId"].as_str().unwrap());
    let r = plain.get(t.api.url(&path)).send().unwrap();
    assert_eq!(
        (header(&r, "etag"), header(&r, "last-modified")),
        (etag.clone(), last_modified.clone()),
        "[{}] unchanged",
        t.name
    );

    // Rotation: the old URL is a bare 404, the new one serves.
    let sid = created["subscription"]["id"].as_str().unwrap();
    let r = t.api.post(&format!("/v1/lists/{id}/subscriptions/{sid}/rotate"), &token).send().unwrap();
    assert_eq!(r.status(), 200, "[{}]", t.name);
    let rotated = r.json::<Value>().unwrap()["path"].as_str().unwrap().to_owned();
    t.settled("the old URL of a rotated subscription is a 404", &|| {
        plain.get(t.api.url(&path)).send().unwrap().status() == 404
    });
    assert_eq!(error_of(plain.get(t.api.url(&path)).send().unwrap()), (404, "not_found".into(), "not found".into()));
    assert_eq!(plain.get(t.api.url(&rotated)).send().unwrap().status(), 200);
    let all: Value = t.api.get(&format!("/v1/lists/{id}/subscriptions"), &token).send().unwrap().json().unwrap();
    assert_eq!(all["subscriptions"].as_array().unwrap().len(), 1);
    assert!(all.to_string().find("bls_").is_none(), "[{}] the token is shown once only", t.name);
    let r = t.api.delete(&format!("/v1/lists/{id}/subscriptions/{sid}"), &token).send().unwrap();
    assert_eq!(r.status(), 204);
    t.settled("a revoked subscription is a 404", &|| plain.get(t.api.url(&rotated)).send().unwrap().status() == 404);
    assert_eq!(error_of(plain.get(t.api.url(&rotated)).send().unwrap()).0, 404, "[{}] revoked", t.name);
}
