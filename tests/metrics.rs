//! `GET /metrics`: the host's Prometheus metrics, for the admin token only.

mod common;

use common::{ADMIN_TOKEN, Host, error_of};

/// The value of the sample `name` (with its labels, exactly as printed).
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.parse().ok()))
}

#[test]
fn metrics_count_requests_instantiations_and_jobs() {
    let h = Host::start(&[]);
    let (status, code, _) = error_of(h.client().get(h.url("/metrics")).send().unwrap());
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    let (_, t) = h.create_user("alice");
    assert_eq!(error_of(h.get("/metrics", &t).send().unwrap()).0, 401, "a user's token is not enough");
    for _ in 0..5 {
        assert_eq!(h.client().get(h.url("/healthz")).send().unwrap().status(), 200);
    }
    assert_eq!(h.get("/v1/lists/l_0123456789abcdef01234567", &t).send().unwrap().status(), 404);
    let list = h.create_list(&t, "ads", "||ads.example^\n");
    let job = h.post(&format!("/v1/lists/{list}/compile"), &t).send().unwrap().json::<serde_json::Value>().unwrap();
    // Polled here (not with wait_job) to count the requests this test makes.
    let mut polls = 0;
    loop {
        polls += 1;
        if h.job(&t, job["jobId"].as_str().unwrap())["status"] == "done" {
            break;
        }
        assert!(polls < 2_000, "the job did not finish");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The requests that reached the gateway: 5 /healthz, the 404, the user, the list, the
    // compile request, the polls. (`/metrics` is the host's own, not counted as one.)
    let made = 5 + 1 + 1 + 1 + 1 + polls;

    let r = h.get("/metrics", ADMIN_TOKEN).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = r.text().unwrap();
    let count = |name: &str| sample(&text, name).unwrap_or_else(|| panic!("no {name} in:\n{text}"));
    assert!(count("blocklist_edge_http_responses_total{status=\"200\"}") >= 5.0);
    assert_eq!(count("blocklist_edge_http_responses_total{status=\"404\"}"), 1.0);
    assert_eq!(count("blocklist_edge_http_responses_total{status=\"201\"}"), 2.0, "a user and a list");
    let requests = count("blocklist_edge_http_request_duration_seconds_count");
    assert_eq!(requests, f64::from(made), "every request this test made is counted, once");
    assert_eq!(requests, count("blocklist_edge_http_request_duration_seconds_bucket{le=\"+Inf\"}"));
    assert_eq!(count("blocklist_edge_instantiation_seconds_count"), requests, "one instantiation per request");
    let p50 = count("blocklist_edge_instantiation_quantile_seconds{quantile=\"0.5\"}");
    let p99 = count("blocklist_edge_instantiation_quantile_seconds{quantile=\"0.99\"}");
    assert!(p50 > 0.0 && p50 <= p99, "p50 {p50} p99 {p99}");
    // The job is `done` in its ledger before the trigger acknowledges its message: the
    // delivery's count follows a moment later.
    let acked = "blocklist_edge_job_deliveries_total{outcome=\"acked\"}";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while h.metric(acked) < 1.0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(h.metric(acked), 1.0, "one delivery, acknowledged");
    assert_eq!(count("blocklist_edge_job_queue_messages{state=\"dead\"}"), 0.0);
}
