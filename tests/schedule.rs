//! Scheduled refreshes (issue 16, part 1 and 5): a list with URL sources and a refresh
//! interval is compiled again on its schedule through the job pipeline, follows its upstream,
//! announces the schedule in its subscription files' `! Expires:`, is spread over the interval
//! with other lists, and can be driven by `POST /v1/admin/refresh` where no timer runs. The
//! real host over a socket, a local upstream server whose content the test changes.

mod common;

use common::http_server::Upstream;
use common::{ADMIN_TOKEN, Host, error_of};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A list of `upstream`'s file with a refresh interval of `interval` (JSON, as sent).
fn scheduled_list(upstream: &Upstream, name: &str, interval: Value) -> Value {
    json!({
        "name": name,
        "config": {"name": name, "sources": [{"source": upstream.server.url("/list.txt")}]},
        "refreshIntervalSecs": interval,
    })
}

/// A host that may fetch from `upstream`, with refresh intervals of 1 s allowed and a sweep
/// every `sweep_ms`.
fn host_with_schedules(upstream: &Upstream, sweep_ms: &str) -> Host {
    Host::start(&[
        "--refresh-min-interval-secs",
        "1",
        "--sweep-interval-ms",
        sweep_ms,
        "--allowed-outbound-hosts",
        upstream.addr(),
    ])
}

fn create(h: &Host, token: &str, body: &Value) -> Value {
    let r = h.post("/v1/lists", token).json(body).send().unwrap();
    assert_eq!(r.status(), 201, "creating {body}");
    r.json().unwrap()
}

/// Polls the compiled list until it contains `rule`; fails after 30 s.
fn wait_compiled_with(h: &Host, token: &str, list: &str, rule: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = h.get(&format!("/v1/lists/{list}/compiled"), token).send().unwrap();
        if r.status() == 200 {
            let body = r.text().unwrap();
            if body.contains(rule) {
                return body;
            }
        }
        assert!(Instant::now() < deadline, "list {list} was not compiled with {rule} within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The causes of the jobs of `list` in the store.
fn job_causes(h: &Host, list: &str) -> Vec<String> {
    let store = common::data_store(&h.data_dir);
    store
        .all_keys("lists")
        .unwrap()
        .iter()
        .filter(|k| k.starts_with("job/"))
        .filter_map(|k| serde_json::from_slice::<Value>(&store.get("lists", k).unwrap()?).ok())
        .filter(|j| j["listId"] == list)
        .map(|j| j["cause"].as_str().unwrap_or("manual").to_owned())
        .collect()
}

#[test]
fn a_scheduled_list_follows_its_upstream_without_being_asked() {
    let upstream = Upstream::start("||one.example^\n");
    let h = host_with_schedules(&upstream, "100");
    let (_, token) = h.create_user("owner");
    let created = create(&h, &token, &scheduled_list(&upstream, "remote", json!(2)));
    let list = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["refreshIntervalSecs"], 2, "{created}");
    assert!(created["nextRefreshAt"].is_string(), "{created}");

    // Nobody asks for a compile: the schedule does, and again after the upstream changes.
    wait_compiled_with(&h, &token, &list, "||one.example^");
    upstream.set("||two.example^\n");
    let body = wait_compiled_with(&h, &token, &list, "||two.example^");
    assert!(!body.contains("||one.example^"), "{body}");
    let causes = job_causes(&h, &list);
    assert!(causes.len() >= 2 && causes.iter().all(|c| c == "schedule"), "{causes:?}");

    // Subscription files announce the schedule (2 s, rounded up to an hour) in `! Expires:`.
    let sub = h.subscribe(&token, &list, "blocker", "adblock");
    let file = h.client().get(sub["url"].as_str().unwrap()).send().unwrap().text().unwrap();
    assert!(file.contains("! Expires: 1 hour\n"), "{file}");

    // Off the schedule: the sweeper and the admin endpoint find nothing to refresh.
    let r = h
        .put(&format!("/v1/lists/{list}"), &token)
        .json(&scheduled_list(&upstream, "remote", json!(0)))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let updated: Value = r.json().unwrap();
    assert!(updated["refreshIntervalSecs"].is_null() && updated.get("nextRefreshAt").is_none(), "{updated}");
    let report: Value = h.post("/v1/admin/refresh", ADMIN_TOKEN).send().unwrap().json().unwrap();
    assert_eq!(report["scheduled"], 0, "{report}");
}

#[test]
fn refresh_intervals_are_checked() {
    let upstream = Upstream::start("||one.example^\n");
    let h = Host::start(&["--allowed-outbound-hosts", upstream.addr()]);
    let (_, token) = h.create_user("owner");
    for (body, why) in [
        (json!({"name": "r", "rules": "||a.example^\n", "refreshIntervalSecs": 600}), "needs a list with a `config`"),
        (scheduled_list(&upstream, "short", json!(60)), "between 300 and 2592000"),
        (scheduled_list(&upstream, "long", json!(31 * 86_400)), "between 300 and 2592000"),
    ] {
        let (status, code, message) = error_of(h.post("/v1/lists", &token).json(&body).send().unwrap());
        assert_eq!((status, code.as_str()), (400, "bad_request"), "{body}");
        assert!(message.contains(why), "{message}");
    }
    let (status, _, _) =
        error_of(h.post("/v1/lists", &token).json(&scheduled_list(&upstream, "text", json!("daily"))).send().unwrap());
    assert_eq!(status, 400);
    let none = create(&h, &token, &scheduled_list(&upstream, "zero", json!(0)));
    assert!(none["refreshIntervalSecs"].is_null(), "{none}");
    let rules = create(&h, &token, &json!({"name": "r", "rules": "||a.example^\n", "refreshIntervalSecs": 0}));
    assert!(rules["refreshIntervalSecs"].is_null(), "{rules}");
}

#[test]
fn lists_with_the_same_interval_are_spread_over_it() {
    let upstream = Upstream::start("||one.example^\n");
    let h = Host::start(&["--allowed-outbound-hosts", upstream.addr(), "--rate-limit", "1000000"]);
    let (_, token) = h.create_user("owner");
    let before = std::time::SystemTime::now();
    let due: std::collections::BTreeSet<String> = (0..30)
        .map(|i| {
            create(&h, &token, &scheduled_list(&upstream, &format!("l{i}"), json!(600)))["nextRefreshAt"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    // 30 lists made within a second or two, due at 30 different moments of the next 10 minutes.
    assert_eq!(due.len(), 30, "{due:?}");
    let seconds: std::collections::BTreeSet<&str> = due.iter().map(|t| &t[..19]).collect();
    assert!(seconds.len() >= 25, "due in only {} distinct seconds: {due:?}", seconds.len());
    let first = due.iter().next().unwrap();
    let last = due.iter().last().unwrap();
    let ms = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let start = blocklist_model::time::rfc3339(ms(before));
    assert!(first.as_str() > start.as_str(), "{first} is before {start}");
    let end = blocklist_model::time::rfc3339(ms(before) + 602_000);
    assert!(last.as_str() <= end.as_str(), "{last} is after {end}");
}

#[test]
fn an_external_scheduler_drives_refreshes_where_no_timer_runs() {
    let upstream = Upstream::start("||one.example^\n");
    // The sweeper's timer is as good as off (it ticks once at the start).
    let h = host_with_schedules(&upstream, "3600000");
    let (_, token) = h.create_user("owner");
    let list = create(&h, &token, &scheduled_list(&upstream, "remote", json!(1)))["id"].as_str().unwrap().to_owned();
    assert_eq!(error_of(h.post("/v1/admin/refresh", &token).send().unwrap()).0, 403, "admins only");
    // Called as a cron line would, until the list is due (within its 1 s interval).
    let deadline = Instant::now() + Duration::from_secs(10);
    let job = loop {
        let report: Value = h.post("/v1/admin/refresh", ADMIN_TOKEN).send().unwrap().json().unwrap();
        assert_eq!(report["scheduled"], 1, "{report}");
        if let Some(job) = report["queued"].as_array().and_then(|q| q.first()) {
            break job.as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "the list never came due");
        std::thread::sleep(Duration::from_millis(100));
    };
    let done = h.wait_job(&token, &job, "done");
    assert_eq!(done["cause"], "schedule", "{done}");
    wait_compiled_with(&h, &token, &list, "||one.example^");
}
