//! The gateway for Fastly Compute under Viceroy, Fastly's local runtime: it serves what our
//! host serves, byte for byte.
//!
//! A real host compiles a list and makes subscriptions to it; `blocklist-edge export-fastly`
//! writes its `lists` store as the KV store entries of a `fastly.toml`; `blocklist-edge compose
//! --fastly` builds the gateway for Fastly (the Fastly shell of the gateway composed with the
//! storage adapter, the limiter, `edge-cache-none` and `fastly-unavailable`); and `viceroy serve`
//! runs it. The same requests to both then get the same answers: compiled lists and
//! subscription files with the same bytes and `ETag`s, the same `304`s, the same errors; the
//! limiter counts through the storage adapter; what the read-only edge cannot do answers 501.
//!
//! Needs Viceroy (`cargo install viceroy@0.22.0 --locked`, which `scripts/test` runs when it is
//! missing): `BLOCKLIST_EDGE_VICEROY` names the binary, else `viceroy` on `PATH`.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{ADMIN_TOKEN, Api, Host, error_of, sha256_hex};
use reqwest::blocking::Response;
use serde_json::{Value, json};

/// The rate limit the Fastly build is configured with, per user and window.
const FASTLY_RATE_LIMIT: u32 = 40;

fn viceroy() -> PathBuf {
    if let Some(path) = std::env::var_os("BLOCKLIST_EDGE_VICEROY") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join("viceroy")).find(|p| p.is_file()));
    on_path.unwrap_or_else(|| {
        panic!("no Viceroy: set BLOCKLIST_EDGE_VICEROY or put viceroy on PATH (cargo install viceroy@0.22.0 --locked)")
    })
}

/// `viceroy serve`, stopped in `Drop`.
struct Viceroy {
    child: Child,
    api: Api,
}

impl Drop for Viceroy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Viceroy {
    fn serve(wasm: &Path, manifest: &Path) -> Viceroy {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(viceroy())
            .args(["serve", "--addr", &addr, "-C"])
            .arg(manifest)
            .arg(wasm)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting viceroy");
        let mut viceroy = Viceroy { child, api: Api::new(&format!("http://{addr}")) };
        // Viceroy compiles the component first: wait for its answer to the health check.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = viceroy.child.try_wait().unwrap() {
                panic!("viceroy exited ({status}) before serving");
            }
            match viceroy.api.client().get(viceroy.api.url("/healthz")).send() {
                Ok(r) if r.status() == 200 => return viceroy,
                Ok(r) => panic!("viceroy answered the health check {}: {:?}", r.status(), r.text()),
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => panic!("viceroy did not serve within 120 s: {e}"),
            }
        }
    }
}

/// A request: method, path (with query), headers.
type Ask = (&'static str, String, Vec<(&'static str, String)>);

/// What a client sees of an answer: status, the headers that matter to it, body.
#[derive(PartialEq)]
struct Seen {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = String::from_utf8_lossy(&self.body);
        let shown: String = body.chars().take(400).collect();
        write!(f, "{} {:?} {} bytes: {shown:?}", self.status, self.headers, self.body.len())
    }
}

/// The headers compared. `content-length` is compared on `HEAD` answers (where it is the
/// gateway's); elsewhere it is framing, and the bodies are compared whole: this host streams a
/// JSON answer chunked where Fastly gives its length.
const COMPARED_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "etag",
    "last-modified",
    "cache-control",
    "vary",
    "allow",
    "www-authenticate",
];

fn seen(r: Response, head: bool) -> Seen {
    let status = r.status().as_u16();
    let length: &[&str] = if head { &["content-length"] } else { &[] };
    let headers = COMPARED_HEADERS
        .iter()
        .chain(length)
        .filter_map(|name| r.headers().get(*name).map(|v| (name.to_string(), v.to_str().unwrap().to_owned())))
        .collect();
    Seen { status, headers, body: r.bytes().unwrap().to_vec() }
}

fn run(bin: &[&str], dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_blocklist-edge")).args(bin).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "blocklist-edge {bin:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
#[ignore = "needs Viceroy (cargo install viceroy@0.22.0 --locked; scripts/test installs it and runs this)"]
fn viceroy_serves_what_the_host_serves() {
    let _ = viceroy(); // fail first, and clearly, without Viceroy
    let host = Host::start(&[]);
    let (_, alice) = host.create_user("alice");
    let (_, bob) = host.create_user("bob");
    // Carol makes no request before the limiter's check below.
    let (_, carol) = host.create_user("carol");
    let list = host.create_list(&alice, "ads", "||ads.example^\n||tracker.example^\n@@||good.ads.example^\n");
    let job = host.request_compile(&alice, &list);
    host.wait_job(&alice, &job, "done");
    let hosts = host.subscribe(&alice, &list, "pihole", "hosts");
    let adblock = host.subscribe(&alice, &list, "ublock", "adblock");
    // Never fetched on the host before the export: the edge makes this rendition itself and
    // stores it through the storage adapter.
    let rpz = host.subscribe(&alice, &list, "bind", "rpz");
    let hosts_path = hosts["path"].as_str().unwrap().to_owned();
    let adblock_path = adblock["path"].as_str().unwrap().to_owned();

    // The requests both must answer alike. The host answers first, so that what it makes on
    // first use (a subscription's rendition) is in the store the edge gets.
    let compiled = format!("/v1/lists/{list}/compiled");
    let unknown_subscription = hosts_path.replace(&hosts["token"].as_str().unwrap()[..8], "00000000");
    assert_ne!(unknown_subscription, hosts_path);
    let requests: Vec<Ask> = vec![
        ("GET", compiled.clone(), vec![("authorization", format!("Bearer {alice}"))]),
        ("HEAD", compiled.clone(), vec![("authorization", format!("Bearer {alice}"))]),
        (
            "GET",
            compiled.clone(),
            vec![("authorization", format!("Bearer {alice}")), ("accept-encoding", "gzip".into())],
        ),
        ("GET", format!("/v1/lists/{list}"), vec![("authorization", format!("Bearer {alice}"))]),
        (
            "GET",
            format!("/v1/lists/{list}/lookup?name=x.ads.example"),
            vec![("authorization", format!("Bearer {alice}"))],
        ),
        (
            "GET",
            format!("/v1/lists/{list}/lookup?name=good.ads.example"),
            vec![("authorization", format!("Bearer {alice}"))],
        ),
        ("GET", hosts_path.clone(), vec![]),
        ("GET", hosts_path.clone(), vec![("accept-encoding", "gzip".into())]),
        ("GET", adblock_path.clone(), vec![]),
        ("HEAD", adblock_path.clone(), vec![]),
        // Errors: someone else's list, a wrong token, a token that is no subscription's, a
        // malformed id, a method the route does not take.
        ("GET", compiled.clone(), vec![("authorization", format!("Bearer {bob}"))]),
        ("GET", compiled.clone(), vec![("authorization", "Bearer not-a-token".into())]),
        ("GET", compiled.clone(), vec![]),
        ("GET", unknown_subscription.clone(), vec![]),
        ("GET", "/v1/lists/not-an-id/compiled".into(), vec![("authorization", format!("Bearer {alice}"))]),
        ("DELETE", compiled.clone(), vec![("authorization", format!("Bearer {alice}"))]),
    ];
    let ask = |api: &Api, (method, path, headers): &Ask| {
        let mut r = api.client().request(method.parse().unwrap(), api.url(path));
        for (name, value) in headers {
            r = r.header(*name, value);
        }
        seen(r.send().unwrap(), *method == "HEAD")
    };
    let on_host: Vec<Seen> = requests.iter().map(|r| ask(&host, r)).collect();
    // Conditional requests, with the validators the host gave.
    let etag = |s: &Seen| s.headers.iter().find(|(n, _)| n == "etag").map(|(_, v)| v.clone()).unwrap();
    let conditional: Vec<Ask> = vec![
        (
            "GET",
            compiled.clone(),
            vec![("authorization", format!("Bearer {alice}")), ("if-none-match", etag(&on_host[0]))],
        ),
        ("GET", hosts_path.clone(), vec![("if-none-match", etag(&on_host[6]))]),
        ("GET", adblock_path.clone(), vec![("if-none-match", etag(&on_host[8]))]),
    ];
    let conditional_on_host: Vec<Seen> = conditional.iter().map(|r| ask(&host, r)).collect();
    for s in &conditional_on_host {
        assert_eq!(s.status, 304, "{s:?}");
    }
    assert_eq!(on_host[0].status, 200);
    assert!(String::from_utf8_lossy(&on_host[0].body).contains("||ads.example^"));
    assert_eq!(on_host[13].status, 404, "an unknown subscription token");

    // The host's store, as Fastly KV entries; the gateway for Fastly.
    let work = tempfile::tempdir().unwrap();
    let export = work.path().join("export");
    let data_dir = host.data_dir.to_string_lossy().into_owned();
    run(
        &[
            "export-fastly",
            "--data-dir",
            &data_dir,
            "-o",
            &export.to_string_lossy(),
            "--set",
            &format!("admin_token_sha256={}", sha256_hex(ADMIN_TOKEN.as_bytes())),
            "--set",
            &format!("rate_limit_requests={FASTLY_RATE_LIMIT}"),
        ],
        work.path(),
    );
    let wasm = work.path().join("gateway-fastly.wasm");
    run(&["compose", "--fastly", "-o", &wasm.to_string_lossy()], work.path());
    let edge = Viceroy::serve(&wasm, &export.join("fastly.toml"));

    for ((request, host_saw), i) in requests.iter().zip(&on_host).zip(0..) {
        let edge_saw = ask(&edge.api, request);
        assert_eq!(&edge_saw, host_saw, "request {i}: {} {}", request.0, request.1);
    }
    for (request, host_saw) in conditional.iter().zip(&conditional_on_host) {
        assert_eq!(&ask(&edge.api, request), host_saw, "conditional {} {}", request.0, request.1);
    }

    // A rendition the edge made and stored itself (written through the adapter), then served
    // from its store, is the host's, byte for byte.
    let rpz_request: Ask = ("GET", rpz["path"].as_str().unwrap().to_owned(), vec![]);
    let made_at_the_edge = ask(&edge.api, &rpz_request);
    assert_eq!(made_at_the_edge.status, 200, "{made_at_the_edge:?}");
    assert!(String::from_utf8_lossy(&made_at_the_edge.body).contains("ads.example CNAME ."), "{made_at_the_edge:?}");
    assert_eq!(ask(&edge.api, &rpz_request), made_at_the_edge, "the stored rendition");
    assert_eq!(ask(&host, &rpz_request), made_at_the_edge, "the host's rendition");

    // The edge is read-only, and runs no compiler: clear 501s, and nothing changes.
    let r = edge.api.post("/v1/lists", &alice).json(&json!({"name": "new", "rules": "||x.example^\n"})).send().unwrap();
    let (status, code, message) = error_of(r);
    assert_eq!((status, code.as_str()), (501, "read_only"), "{message}");
    assert!(message.contains("Fastly Compute"), "{message}");
    let r = edge.api.post(&format!("/v1/lists/{list}/compile"), &alice).send().unwrap();
    assert_eq!(error_of(r).1, "read_only");
    let r = edge.api.get(&format!("/v1/lists/{list}/explain?name=ads.example"), &alice).send().unwrap();
    let (status, code, message) = error_of(r);
    assert_eq!((status, code.as_str()), (501, "no_compiler"), "{message}");
    let lists: Value = edge.api.get("/v1/lists", &alice).send().unwrap().json().unwrap();
    assert_eq!(lists["lists"].as_array().map(Vec::len), Some(1), "{lists}");

    // The limiter, its counters in a Fastly KV store through the adapter: a fresh user's
    // budget (carol's: she has made no request) is spent by exactly FASTLY_RATE_LIMIT
    // sequential requests.
    for n in 1..=FASTLY_RATE_LIMIT {
        let r = edge.api.get("/v1/me", &carol).send().unwrap();
        assert_eq!(r.status(), 200, "request {n} of {FASTLY_RATE_LIMIT}");
        let remaining: u32 = r.headers()["ratelimit-remaining"].to_str().unwrap().parse().unwrap();
        assert!(remaining <= FASTLY_RATE_LIMIT - n, "request {n}: {remaining} remaining");
    }
    let r = edge.api.get("/v1/me", &carol).send().unwrap();
    let retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let (status, code, _) = error_of(r);
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1)), "retry-after");
    // Alice's budget is her own.
    assert_eq!(edge.api.get("/v1/me", &alice).send().unwrap().status(), 200);
}
