//! Outbound safety (issue 15, part 10): webhook URLs name their host (IP addresses are refused
//! by the API), and the host's requests — URL sources and webhooks alike — never reach a
//! loopback, private, link-local or other non-public address unless the operator named that
//! host in `--allowed-outbound-hosts`; `*` opens the public internet only.

mod common;

use common::http_server::{Reply, Server};
use common::{Host, error_of};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A test server that answers a small hosts file and counts the requests it got.
fn counting_server() -> (Server, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let server = Server::start(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        Reply::text(200, "0.0.0.0 reached.example.org\n")
    });
    (server, count)
}

fn preview(h: &Host, token: &str, source: &str) -> reqwest::blocking::Response {
    let body = json!({"config": {"name": "p", "sources": [{"source": source}]}});
    h.post("/v1/preview", token).json(&body).send().unwrap()
}

/// The job's `notification`, once the consumer has recorded the outcome of an attempt.
fn notification(h: &Host, token: &str, job: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = h.job(token, job)["notification"].clone();
        if !n["status"].is_null() || !n["error"].is_null() {
            return n;
        }
        assert!(Instant::now() < deadline, "no notification recorded for job {job}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn webhook_urls_with_an_ip_address_as_host_answer_400() {
    let h = Host::start(&["--allowed-outbound-hosts", "*"]);
    let (_, t) = h.create_user("alice");
    let urls = [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:6379/",
        "http://[::1]:6379/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "https://10.0.0.1/hook",
    ];
    for url in urls {
        let r = h.post("/v1/lists", &t).json(&json!({"name": "x", "rules": "", "webhookUrl": url})).send().unwrap();
        let (status, code, message) = error_of(r);
        assert_eq!((status, code.as_str()), (400, "bad_request"), "{url}: {message}");
        assert!(message.contains("webhookUrl") && message.contains("IP address"), "{url}: {message}");
    }
    let lists: Value = h.get("/v1/lists", &t).send().unwrap().json().unwrap();
    assert_eq!(lists["lists"], json!([]), "nothing was stored");

    // An update is checked the same; the list keeps its webhook.
    let body = json!({"name": "x", "rules": "", "webhookUrl": "https://hooks.example/x"});
    let r = h.post("/v1/lists", &t).json(&body).send().unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned();
    for url in urls {
        let body = json!({"name": "x", "rules": "", "webhookUrl": url});
        let (status, _, message) = error_of(h.put(&format!("/v1/lists/{id}"), &t).json(&body).send().unwrap());
        assert_eq!(status, 400, "{url}: {message}");
    }
    let v: Value = h.get(&format!("/v1/lists/{id}"), &t).send().unwrap().json().unwrap();
    assert_eq!(v["webhook"]["url"], "https://hooks.example/x");
}

/// With `*`, a source or webhook whose name resolves to loopback is not reached, and the
/// refusal is reported: by the preview, in the job, in the host's log.
#[test]
fn star_does_not_open_internal_addresses() {
    let (server, requests) = counting_server();
    let h = Host::start_logging(&["--allowed-outbound-hosts", "*", "--job-max-attempts", "1"]);
    let (_, t) = h.create_user("alice");

    // Sources: by name, and by IP literal (a configuration's sources may be any URL).
    let port = server.addr.rsplit_once(':').unwrap().1;
    for source in [
        server.named_url("/hosts.txt"),
        server.url("/hosts.txt"),
        format!("http://[::1]:{port}/hosts.txt"),
        format!("http://[::ffff:127.0.0.1]:{port}/hosts.txt"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let started = Instant::now();
        let (status, code, message) = error_of(preview(&h, &t, &source));
        assert_eq!((status, code.as_str()), (422, "source_failed"), "{source}: {message}");
        assert!(message.contains(&source) || message.contains(source.trim_end_matches("/hosts.txt")), "{message}");
        assert!(message.contains("DestinationIpProhibited"), "{source}: {message}");
        assert!(started.elapsed() < Duration::from_secs(5), "refused without trying to connect: {source}");
    }

    // A compile job: its source is refused (the job is dead with that error), and so is its
    // webhook (the notification records it).
    let body = json!({
        "name": "internal",
        "config": {"name": "internal", "sources": [{"source": server.named_url("/hosts.txt")}]},
        "webhookUrl": server.named_url("/hook"),
    });
    let r = h.post("/v1/lists", &t).json(&body).send().unwrap();
    assert_eq!(r.status(), 201, "a webhook URL that names its host is accepted");
    let list = r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned();
    let job = h.request_compile(&t, &list);
    let dead = h.wait_job(&t, &job, "dead");
    let error = dead["lastError"].as_str().unwrap_or_default();
    assert!(error.contains("DestinationIpProhibited"), "{dead}");
    let n = notification(&h, &t, &job);
    assert_eq!(n["event"], "job.dead", "{n}");
    assert!(n["status"].is_null(), "{n}");
    assert!(n["error"].as_str().unwrap_or_default().contains("DestinationIpProhibited"), "{n}");

    assert_eq!(requests.load(Ordering::SeqCst), 0, "the server on loopback got no request");
    let logged = h.log_lines_with("outbound request refused", 1);
    assert!(
        logged.iter().any(|l| l.contains(&format!("host=localhost port={port}")) && l.contains("127.0.0.1 (loopback)")),
        "the log names the host and the address: {logged:?}"
    );
}

/// A host named exactly in `--allowed-outbound-hosts` is reached on its internal address,
/// next to `*`, which still does not open another port of the same name.
#[test]
fn a_host_named_explicitly_is_reached() {
    let (named, named_requests) = counting_server();
    let (other, other_requests) = counting_server();
    let allowed = format!("*,{}", named.named_addr());
    let h = Host::start(&["--allowed-outbound-hosts", &allowed, "--job-max-attempts", "1"]);
    let (_, t) = h.create_user("alice");

    let r = preview(&h, &t, &named.named_url("/hosts.txt"));
    let status = r.status();
    let text = r.text().unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("reached.example.org"), "{text}");
    assert_eq!(named_requests.load(Ordering::SeqCst), 1);

    let (status, code, message) = error_of(preview(&h, &t, &other.named_url("/hosts.txt")));
    assert_eq!((status, code.as_str()), (422, "source_failed"), "{message}");
    assert!(message.contains("DestinationIpProhibited"), "{message}");

    // A webhook on the named host is delivered; one on the other port is not.
    let mut jobs = Vec::new();
    for (name, receiver) in [("named", &named), ("other", &other)] {
        let body = json!({"name": name, "rules": "||a.example^\n", "webhookUrl": receiver.named_url("/hook")});
        let r = h.post("/v1/lists", &t).json(&body).send().unwrap();
        assert_eq!(r.status(), 201);
        let list = r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned();
        jobs.push(h.request_compile(&t, &list));
    }
    for job in &jobs {
        h.wait_job(&t, job, "done");
    }
    let delivered = notification(&h, &t, &jobs[0]);
    assert_eq!(delivered["status"], 200, "{delivered}");
    let refused = notification(&h, &t, &jobs[1]);
    assert!(refused["error"].as_str().unwrap_or_default().contains("DestinationIpProhibited"), "{refused}");
    assert_eq!(named_requests.load(Ordering::SeqCst), 2, "the source and the webhook");
    assert_eq!(other_requests.load(Ordering::SeqCst), 0, "the other port of localhost got no request");
}
