//! The host's edge cache (issue 13) through the real host over a socket: subscription answers
//! are served from memory (`X-Cache: HIT`, `Age`) per `Accept-Encoding` variant, with their own
//! `304`s and `HEAD`s; revoking, rotating, recompiling and deleting purge them at once; answers
//! to requests with credentials are never kept; the subscription limits still count cached
//! answers; the memory stays within `--edge-cache-mib` over many URLs; hits are counted in
//! `/metrics` and logged; and `--edge-cache-mib 0` turns it all off.

mod common;

use common::{Api, Host, error_of, gunzip, sha256_hex};
use reqwest::blocking::Response;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const HITS: &str = "blocklist_edge_cache_requests_total{result=\"hit\"}";
const MISSES: &str = "blocklist_edge_cache_requests_total{result=\"miss\"}";
const PASSES: &str = "blocklist_edge_cache_requests_total{result=\"pass\"}";
const STORES: &str = "blocklist_edge_cache_stores_total";
const EVICTIONS: &str = "blocklist_edge_cache_evictions_total";
const PURGES: &str = "blocklist_edge_cache_purges_total";
const PURGED: &str = "blocklist_edge_cache_purged_total";
const REFUSALS: &str = "blocklist_edge_cache_refusals_total";
const ENTRIES: &str = "blocklist_edge_cache_entries";
const BYTES_USED: &str = "blocklist_edge_cache_bytes{state=\"used\"}";
const BYTES_MAX: &str = "blocklist_edge_cache_bytes{state=\"max\"}";
const MIB: f64 = 1_048_576.0;
/// Requests that entered a component instance (the instantiation histogram's count).
const INSTANTIATIONS: &str = "blocklist_edge_instantiation_seconds_count";

/// `n` rules for hosts `{prefix}-{i}.example`: enough of them that gzip is smaller.
fn rules(prefix: &str, n: usize) -> String {
    (0..n).map(|i| format!("||{prefix}-{i}.example^\n")).collect()
}

fn header(r: &Response, name: &str) -> String {
    r.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// The `X-Cache` header ("" when absent), after checking that the headers between the
/// components and the cache did not reach the client.
fn x_cache(r: &Response) -> String {
    for internal in ["surrogate-key", "surrogate-control", "edge-rate-limit"] {
        assert!(r.headers().get(internal).is_none(), "{internal} reached the client: {:?}", r.headers());
    }
    header(r, "x-cache")
}

/// A user with a compiled list of `rules`: (token, list id).
fn compiled_list(h: &Host, name: &str, rules: &str) -> (String, String) {
    let (_, token) = h.create_user("owner");
    let id = h.create_list(&token, name, rules);
    h.wait_job(&token, &h.request_compile(&token, &id), "done");
    (token, id)
}

/// Replaces the list's rules and publishes them.
fn republish(h: &Host, token: &str, id: &str, name: &str, rules: &str) {
    let r = h.put(&format!("/v1/lists/{id}"), token).json(&json!({"name": name, "rules": rules})).send().unwrap();
    assert_eq!(r.status(), 200, "updating list {id}");
    h.wait_job(token, &h.request_compile(token, id), "done");
}

/// A new subscription in `format`: (its id, its path `/s/{token}/{file}`, its token).
fn subscribe(h: &Host, token: &str, id: &str, name: &str, format: &str) -> (String, String, String) {
    let v = h.subscribe(token, id, name, format);
    let s = |v: &Value| v.as_str().unwrap().to_owned();
    (s(&v["subscription"]["id"]), s(&v["path"]), s(&v["token"]))
}

/// A GET of `path` with no credentials and the given headers.
fn get(h: &Api, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = h.client().get(h.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().unwrap()
}

fn fetch(h: &Api, path: &str) -> Response {
    get(h, path, &[])
}

const GZIP: &[(&str, &str)] = &[("accept-encoding", "gzip")];

#[test]
fn revoke_and_rotate_take_effect_at_once() {
    let h = Host::start(&[]);
    assert_eq!(h.metric(BYTES_MAX), 64.0 * MIB, "64 MiB by default");
    let (token, id) = compiled_list(&h, "Revocable", &rules("ads", 50));

    // Revoke: both variants are cached, then gone the moment the DELETE answers.
    let (sid, path, _) = subscribe(&h, &token, &id, "home", "hosts");
    let r = fetch(&h, &path);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "MISS".into()), "first fetch");
    let r = fetch(&h, &path);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".into()), "second fetch");
    assert!(header(&r, "age").parse::<u64>().is_ok(), "a hit has an Age: {:?}", r.headers());
    let r = get(&h, &path, GZIP);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "MISS".into()), "first gzip fetch");
    let r = get(&h, &path, GZIP);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".into()), "second gzip fetch");
    let (purges, purged) = (h.metric(PURGES), h.metric(PURGED));

    let r = h.delete(&format!("/v1/lists/{id}/subscriptions/{sid}"), &token).send().unwrap();
    assert_eq!(r.status(), 204, "revoking");
    let r = fetch(&h, &path);
    assert_ne!(x_cache(&r), "HIT", "a revoked subscription's answer came from the cache");
    assert_eq!(error_of(r), (404, "not_found".into(), "not found".into()), "revoked URL, at once");
    let r = get(&h, &path, GZIP);
    assert_ne!(x_cache(&r), "HIT", "a revoked subscription's gzip answer came from the cache");
    assert_eq!(r.status(), 404, "revoked URL (gzip), at once");
    assert!(h.metric(PURGES) > purges, "the revocation counted as a purge");
    assert!(h.metric(PURGED) > purged, "the purge removed cached answers");

    // Rotate: the old URL is gone the moment the rotation answers; the new one serves.
    let (sid, old, _) = subscribe(&h, &token, &id, "office", "domains");
    let r = fetch(&h, &old);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "MISS".into()));
    let etag = header(&r, "etag");
    let body = r.bytes().unwrap();
    let r = fetch(&h, &old);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".into()));
    let r = h.post(&format!("/v1/lists/{id}/subscriptions/{sid}/rotate"), &token).send().unwrap();
    assert_eq!(r.status(), 200, "rotating");
    let rotated: Value = r.json().unwrap();
    let new = rotated["path"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let r = fetch(&h, &old);
    assert_ne!(x_cache(&r), "HIT", "a rotated-away URL's answer came from the cache");
    assert_eq!(error_of(r), (404, "not_found".into(), "not found".into()), "old URL after rotation, at once");
    let r = fetch(&h, &new);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "MISS".into()), "new URL");
    assert_eq!(header(&r, "etag"), etag, "same content under the new URL");
    assert_eq!(r.bytes().unwrap(), body);
    let r = fetch(&h, &new);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".into()), "new URL, again");
    assert_eq!(r.bytes().unwrap(), body);
}

#[test]
fn publishing_shows_the_new_version_at_once() {
    let h = Host::start(&[]);
    let (token, id) = compiled_list(&h, "Versions", &rules("first", 50));
    let (_, path, _) = subscribe(&h, &token, &id, "pihole", "hosts");

    let r = fetch(&h, &path);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "MISS".into()));
    let old_etag = header(&r, "etag");
    let old_version = header(&r, "x-blocklist-version");
    let r = fetch(&h, &path);
    assert_eq!((r.status().as_u16(), x_cache(&r), header(&r, "etag")), (200, "HIT".into(), old_etag.clone()));
    let r = get(&h, &path, GZIP);
    assert_eq!(x_cache(&r), "MISS");
    let old_gzip_etag = header(&r, "etag");
    let r = get(&h, &path, GZIP);
    assert_eq!((x_cache(&r), header(&r, "etag")), ("HIT".into(), old_gzip_etag.clone()));

    republish(&h, &token, &id, "Versions", &rules("second", 50));

    let r = fetch(&h, &path);
    assert_eq!(r.status(), 200);
    assert_eq!(x_cache(&r), "MISS", "the first fetch after publishing comes from the component");
    let etag = header(&r, "etag");
    assert_ne!(etag, old_etag, "a new ETag at once");
    assert_ne!(header(&r, "x-blocklist-version"), old_version);
    let body = r.text().unwrap();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(body.as_bytes())));
    assert!(body.contains("0.0.0.0 second-0.example\n") && !body.contains("first-0.example"), "{body}");

    let r = fetch(&h, &path);
    assert_eq!((r.status().as_u16(), x_cache(&r), header(&r, "etag")), (200, "HIT".into(), etag.clone()));
    assert_eq!(r.text().unwrap(), body);
    let r = get(&h, &path, &[("if-none-match", &old_etag)]);
    assert_eq!(r.status(), 200, "the old ETag no longer matches");
    assert_eq!(header(&r, "etag"), etag);
    assert_eq!(r.text().unwrap(), body);
    let r = get(&h, &path, GZIP);
    assert_eq!(x_cache(&r), "MISS", "the gzip variant was purged too");
    assert_eq!(header(&r, "etag"), format!("\"{}-gzip\"", sha256_hex(body.as_bytes())));
    assert_eq!(gunzip(&r.bytes().unwrap()), body.as_bytes());

    // Deleting the list revokes its subscriptions, cached or not.
    let r = fetch(&h, &path);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".into()));
    assert_eq!(h.delete(&format!("/v1/lists/{id}"), &token).send().unwrap().status(), 204);
    let r = fetch(&h, &path);
    assert_ne!(x_cache(&r), "HIT", "a deleted list's subscription came from the cache");
    assert_eq!(error_of(r), (404, "not_found".into(), "not found".into()), "deleted list, at once");
    let r = get(&h, &path, GZIP);
    assert_ne!(x_cache(&r), "HIT");
    assert_eq!(r.status(), 404, "deleted list (gzip), at once");
}

#[test]
fn vary_accept_encoding_is_respected() {
    let h = Host::start(&[]);
    let (token, id) = compiled_list(&h, "Variants", &rules("vary", 200));
    let (_, path, _) = subscribe(&h, &token, &id, "blocky", "domains");

    let r = fetch(&h, &path);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "MISS".into()), "identity");
    let etag = header(&r, "etag");
    let body = r.bytes().unwrap().to_vec();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(&body)));
    assert!(body.starts_with(b"# Title: Variants\n"));

    let r = get(&h, &path, GZIP);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "MISS".into()), "gzip is another variant");
    assert_eq!(header(&r, "content-encoding"), "gzip");
    let gzip_etag = header(&r, "etag");
    assert_eq!(gzip_etag, format!("\"{}-gzip\"", sha256_hex(&body)));
    let gz = r.bytes().unwrap().to_vec();
    assert_eq!(gunzip(&gz), body);

    for round in 0..2 {
        let r = get(&h, &path, GZIP);
        assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".into()), "gzip hit {round}");
        assert_eq!((header(&r, "content-encoding"), header(&r, "etag")), ("gzip".into(), gzip_etag.clone()));
        assert!(header(&r, "vary").to_ascii_lowercase().contains("accept-encoding"), "{:?}", r.headers());
        assert_eq!(header(&r, "content-length"), gz.len().to_string());
        assert_eq!(r.bytes().unwrap().to_vec(), gz, "the gzip hit's bytes");

        let r = fetch(&h, &path);
        assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".into()), "identity hit {round}");
        assert_eq!((header(&r, "content-encoding"), header(&r, "etag")), (String::new(), etag.clone()));
        assert_eq!(header(&r, "content-length"), body.len().to_string());
        assert_eq!(r.bytes().unwrap().to_vec(), body, "the identity hit's bytes");

        // Other spellings that accept gzip, or not, pick the same variants.
        let r = get(&h, &path, &[("accept-encoding", "br;q=1.0, gzip;q=0.8")]);
        assert_eq!((x_cache(&r), header(&r, "etag")), ("HIT".into(), gzip_etag.clone()));
        assert_eq!(gunzip(&r.bytes().unwrap()), body);
        for refuses in ["identity", "gzip;q=0, deflate"] {
            let r = get(&h, &path, &[("accept-encoding", refuses)]);
            assert_eq!((x_cache(&r), header(&r, "etag")), ("HIT".into(), etag.clone()), "{refuses}");
            assert_eq!(header(&r, "content-encoding"), "", "{refuses}");
            assert_eq!(r.bytes().unwrap().to_vec(), body, "{refuses}");
        }
    }

    // 304 from the cache, for the variant the request selects.
    let r = get(&h, &path, &[("accept-encoding", "gzip"), ("if-none-match", &gzip_etag)]);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (304, "HIT".into()), "If-None-Match of the gzip tag");
    assert_eq!(header(&r, "etag"), gzip_etag);
    assert!(r.bytes().unwrap().is_empty());
    let r = get(&h, &path, &[("if-none-match", &etag)]);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (304, "HIT".into()), "If-None-Match of the identity tag");
    assert_eq!(header(&r, "etag"), etag);

    // HEAD from the cache: the headers of the GET, no body.
    let r = h.client().head(h.url(&path)).send().unwrap();
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".into()), "HEAD");
    assert_eq!((header(&r, "etag"), header(&r, "content-length")), (etag.clone(), body.len().to_string()));
    assert!(r.bytes().unwrap().is_empty(), "HEAD has no body");
    let r = h.client().head(h.url(&path)).header("accept-encoding", "gzip").send().unwrap();
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".into()), "HEAD gzip");
    assert_eq!((header(&r, "etag"), header(&r, "content-length")), (gzip_etag.clone(), gz.len().to_string()));
    assert_eq!(header(&r, "content-encoding"), "gzip");
    assert!(r.bytes().unwrap().is_empty(), "HEAD has no body");

    // A HEAD miss is asked as a GET: the whole answer is stored, and a GET then hits.
    let other = format!("{}/head-first.txt", path.rsplit_once('/').unwrap().0);
    let r = h.client().head(h.url(&other)).send().unwrap();
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "MISS".into()), "HEAD miss");
    assert_eq!(header(&r, "content-length"), body.len().to_string());
    assert!(r.bytes().unwrap().is_empty(), "HEAD has no body");
    let r = fetch(&h, &other);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".into()), "GET after a HEAD miss");
    assert_eq!(r.bytes().unwrap().to_vec(), body);
}

#[test]
fn credentials_are_never_cached() {
    let h = Host::start(&[]);
    let (token, id) = compiled_list(&h, "Private", &rules("secret", 20));
    let (_, path, secret) = subscribe(&h, &token, &id, "adguard", "adblock");
    let (hits, stores) = (h.metric(HITS), h.metric(STORES));

    // Bearer API calls.
    let compiled = format!("/v1/lists/{id}/compiled");
    for round in 0..2 {
        let r = h.get(&compiled, &token).send().unwrap();
        assert_eq!(r.status(), 200, "compiled list {round}");
        assert_eq!(x_cache(&r), "", "a bearer call carries no X-Cache");
    }
    // (A GET without credentials is a request the cache could answer: it carries X-Cache.)
    let r = fetch(&h, &compiled);
    assert_ne!(x_cache(&r), "HIT");
    assert_eq!(r.status(), 401, "without the token, the compiled list is not served (from the cache or not)");

    // The subscription's secret as HTTP Basic password.
    let mut etag = String::new();
    for round in 0..2 {
        let r = h.client().get(h.url("/s/list.txt")).basic_auth("me", Some(&secret)).send().unwrap();
        assert_eq!(r.status(), 200, "Basic fetch {round}");
        assert_eq!(x_cache(&r), "", "a fetch with credentials carries no X-Cache");
        etag = header(&r, "etag");
    }
    assert!(!etag.is_empty());
    let r = fetch(&h, "/s/list.txt");
    assert_ne!(x_cache(&r), "HIT");
    assert_eq!(r.status(), 401, "without the credentials, the file is not served (from the cache or not)");
    assert!(header(&r, "www-authenticate").starts_with("Basic"));
    let r = h.client().get(h.url("/s/list.txt")).basic_auth("me", Some("bls_wrong")).send().unwrap();
    assert_eq!(x_cache(&r), "", "wrong credentials");
    assert_ne!(r.status(), 200, "wrong credentials");

    // Nothing else carries X-Cache either.
    let r = h.client().post(h.url(&path)).send().unwrap();
    assert_eq!(x_cache(&r), "", "a POST carries no X-Cache");
    assert_eq!(error_of(r).0, 405);

    assert_eq!(h.metric(HITS), hits, "no hits");
    assert_eq!(h.metric(STORES), stores, "nothing stored");

    // The same file by its URL is cached (so the above did test something).
    let r = fetch(&h, &path);
    assert_eq!((r.status().as_u16(), x_cache(&r), header(&r, "etag")), (200, "MISS".into(), etag.clone()));
    let r = fetch(&h, &path);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".into()));
    assert_eq!(h.metric(HITS), hits + 1.0);
    // ...and a Basic fetch after it still is not served from the cache.
    let r = h.client().get(h.url(&path)).basic_auth("me", Some(&secret)).send().unwrap();
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, String::new()), "Basic fetch of a cached URL");
    assert_eq!(h.metric(HITS), hits + 1.0);
}

#[test]
fn conditional_requests_fill_the_cache() {
    let h = Host::start(&[]);
    let (token, id) = compiled_list(&h, "Conditional", &rules("cond", 20));
    let (_, path, secret) = subscribe(&h, &token, &id, "unbound", "unbound");

    let r = fetch(&h, &path);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "MISS".into()));
    let (etag, last_modified) = (header(&r, "etag"), header(&r, "last-modified"));
    let body = r.bytes().unwrap();
    let stores = h.metric(STORES);

    // Any file name after the token is the same file, and another URL for the cache.
    let other = format!("/s/{secret}/other.txt");
    let r = get(&h, &other, &[("if-none-match", &etag)]);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (304, "MISS".into()), "a matching If-None-Match, first");
    assert_eq!(header(&r, "etag"), etag);
    assert!(r.bytes().unwrap().is_empty());
    assert_eq!(h.metric(STORES), stores + 1.0, "the component's whole answer was stored");
    let r = get(&h, &other, &[("if-none-match", &etag)]);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (304, "HIT".into()), "a matching If-None-Match, again");
    assert_eq!(header(&r, "etag"), etag);
    assert!(r.bytes().unwrap().is_empty());
    let r = get(&h, &other, &[("if-none-match", "\"something-else\"")]);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".into()), "a tag that does not match");
    assert_eq!(r.bytes().unwrap(), body, "the stored answer is whole");
    let r = fetch(&h, &other);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".into()), "unconditional");
    assert_eq!(r.bytes().unwrap(), body);

    // The same with If-Modified-Since.
    let third = format!("/s/{secret}/third.txt");
    let r = get(&h, &third, &[("if-modified-since", &last_modified)]);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (304, "MISS".into()), "If-Modified-Since, first");
    let r = get(&h, &third, &[("if-modified-since", &last_modified)]);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (304, "HIT".into()), "If-Modified-Since, again");
    let r = get(&h, &third, &[("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT")]);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".into()), "modified since 1970");
    assert_eq!(r.bytes().unwrap(), body);
}

#[test]
fn cached_answers_count_against_the_limits() {
    // One subscription's budget.
    let h = Host::start(&["--subscription-rate-limit", "3", "--subscription-address-limit", "0"]);
    let (token, id) = compiled_list(&h, "Limited", &rules("lim", 20));
    let (_, one, _) = subscribe(&h, &token, &id, "one", "domains");
    let (_, two, _) = subscribe(&h, &token, &id, "two", "domains");
    let refusals = h.metric(REFUSALS);
    let r = fetch(&h, &one);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "MISS".into()), "fetch 1");
    for n in 2..=3 {
        let r = fetch(&h, &one);
        assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".into()), "fetch {n}");
    }
    let r = fetch(&h, &one);
    x_cache(&r); // the internal headers are not sent on a refusal either
    assert!(header(&r, "retry-after").parse::<u64>().unwrap_or(0) >= 1, "Retry-After: {:?}", r.headers());
    let (status, code, _) = error_of(r);
    assert_eq!((status, code.as_str()), (429, "rate_limited"), "the fourth fetch of one subscription");
    assert!(h.metric(REFUSALS) >= refusals + 1.0, "the refusal of a cached answer is counted");
    let r = fetch(&h, &two);
    assert_eq!(r.status(), 200, "another subscription has its own budget");
    drop(h);

    // One address's budget, across subscriptions.
    let h = Host::start(&["--subscription-rate-limit", "0", "--subscription-address-limit", "3"]);
    let (token, id) = compiled_list(&h, "Limited", &rules("lim", 20));
    let (_, one, _) = subscribe(&h, &token, &id, "one", "domains");
    let (_, two, _) = subscribe(&h, &token, &id, "two", "domains");
    let refusals = h.metric(REFUSALS);
    let r = fetch(&h, &two);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "MISS".into()), "address fetch 1 (two)");
    let r = fetch(&h, &one);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "MISS".into()), "address fetch 2 (one)");
    let r = fetch(&h, &one);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".into()), "address fetch 3 (one)");
    let r = fetch(&h, &two);
    assert!(header(&r, "retry-after").parse::<u64>().unwrap_or(0) >= 1, "Retry-After: {:?}", r.headers());
    let (status, code, _) = error_of(r);
    assert_eq!((status, code.as_str()), (429, "rate_limited"), "the fourth fetch from one address (two, cached)");
    assert!(h.metric(REFUSALS) >= refusals + 1.0, "the refusal of a cached answer is counted");
}

#[test]
fn memory_stays_bounded_over_ten_thousand_urls() {
    const URLS: usize = 10_000;
    let h = Host::start(&[
        "--edge-cache-mib",
        "1",
        "--subscription-rate-limit",
        "0",
        "--subscription-address-limit",
        "0",
        "--auth-failure-limit",
        "0",
    ]);
    assert_eq!(h.metric(BYTES_MAX), MIB);
    let rules: String = (0..250).map(|i| format!("||host-{i}.tracker.example^\n")).collect();
    let (token, id) = compiled_list(&h, "Many", &rules);
    let (_, _, secret) = subscribe(&h, &token, &id, "many", "domains");
    let r = fetch(&h, &format!("/s/{secret}/probe.txt"));
    assert_eq!(r.status(), 200);
    let body = r.bytes().unwrap();
    assert!((4000..=8192).contains(&body.len()), "a body of 4-8 KB, not {}", body.len());
    let (stores, misses) = (h.metric(STORES), h.metric(MISSES));

    const THREADS: usize = 4;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (client, base, secret, body) = (h.client().clone(), h.url(""), &secret, &body);
            s.spawn(move || {
                for i in (t..URLS).step_by(THREADS) {
                    let r = client.get(format!("{base}/s/{secret}/f{i}.txt")).send().unwrap();
                    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "MISS".into()), "f{i}.txt");
                    assert_eq!(&r.bytes().unwrap(), body, "f{i}.txt");
                }
            });
        }
    });

    let used = h.metric(BYTES_USED);
    let entries = h.metric(ENTRIES);
    assert!(used <= MIB, "{used} bytes used of 1 MiB");
    assert!(entries > 0.0 && entries < URLS as f64, "{entries} entries");
    assert!(h.metric(EVICTIONS) > 0.0, "evictions made room");
    let stored = h.metric(STORES) - stores;
    assert!(stored >= (URLS - 10) as f64, "{stored} of {URLS} answers stored");
    assert!(h.metric(MISSES) - misses >= URLS as f64, "every distinct URL was a miss");
    assert_eq!(h.metric(BYTES_MAX), MIB);

    // The least recently used go first: the first URL is gone, a new one stays. (Which of the
    // threads' URLs came last is not known: the threads do not keep pace.)
    let r = fetch(&h, &format!("/s/{secret}/last.txt"));
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "MISS".into()), "a new URL");
    let r = fetch(&h, &format!("/s/{secret}/last.txt"));
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".into()), "the most recent URL");
    assert_eq!(r.bytes().unwrap(), body);
    let r = fetch(&h, &format!("/s/{secret}/f0.txt"));
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "MISS".into()), "the oldest URL was evicted");
    assert!(h.metric(BYTES_USED) <= MIB);

    // An answer larger than an eighth of the cache (128 KiB here) passes through, uncached.
    let rules: String = (0..8000).map(|i| format!("||big-{i}.tracker.example^\n")).collect();
    let id = h.create_list(&token, "Big", &rules);
    h.wait_job(&token, &h.request_compile(&token, &id), "done");
    let (_, path, _) = subscribe(&h, &token, &id, "big", "domains");
    let (stores, passes) = (h.metric(STORES), h.metric(PASSES));
    let mut first = None;
    for round in 0..2 {
        let r = fetch(&h, &path);
        assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "MISS".into()), "a large answer, fetch {round}");
        let etag = header(&r, "etag");
        let body = r.bytes().unwrap();
        assert!(body.len() > 131_072, "the large answer has {} bytes", body.len());
        assert_eq!(etag, format!("\"{}\"", sha256_hex(&body)), "the large answer is whole");
        assert!(first.as_ref().is_none_or(|f| *f == body));
        first = Some(body);
    }
    assert_eq!(h.metric(STORES), stores, "the large answer was not stored");
    assert_eq!(h.metric(PASSES), passes + 2.0, "both fetches passed the cache");
    assert!(h.metric(BYTES_USED) <= MIB);
}

fn is_hit_line(line: &str) -> bool {
    line.contains("cache=\"hit\"") || line.contains("cache=hit")
}

#[test]
fn a_hit_is_logged_and_counted() {
    let host = Host::start_logging(&[]);
    let h = &host;
    let (_, token) = h.create_user("logger");
    let id = h.create_list(&token, "Logged", &rules("log", 20));
    h.wait_job(&token, &h.request_compile(&token, &id), "done");
    let secret = h.subscribe(&token, &id, "logged", "hosts")["token"].as_str().unwrap().to_owned();
    let path = format!("/s/{secret}/log-probe-7f3a.txt");

    let r = fetch(h, &path);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "MISS".into()), "the miss");
    let hits = h.metric(HITS);
    let instantiations = h.metric(INSTANTIATIONS);
    let r = fetch(h, &path);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, "HIT".into()), "the hit");
    assert_eq!(h.metric(HITS), hits + 1.0, "the hit is counted once");
    assert_eq!(h.metric(INSTANTIATIONS), instantiations, "a hit instantiates no component");
    // A request the cache cannot answer does (so the count above could have moved).
    assert_eq!(h.client().get(h.url("/healthz")).send().unwrap().status(), 200);
    assert_eq!(h.metric(INSTANTIATIONS), instantiations + 1.0, "/healthz runs the gateway");

    let lines = host.log_lines_with("log-probe-7f3a.txt", 2);
    assert_eq!(lines.len(), 2, "one log line per request: {lines:#?}");
    assert!(!is_hit_line(&lines[0]), "the miss is not logged as a hit: {}", lines[0]);
    assert!(is_hit_line(&lines[1]), "the hit is logged as one: {}", lines[1]);
}

#[test]
fn the_cache_can_be_turned_off() {
    let h = Host::start(&["--edge-cache-mib", "0"]);
    let (token, id) = compiled_list(&h, "Uncached", &rules("off", 50));
    let (sid, path, _) = subscribe(&h, &token, &id, "home", "hosts");
    let r = fetch(&h, &path);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, String::new()), "first fetch");
    let etag = header(&r, "etag");
    let body = r.bytes().unwrap();
    let r = fetch(&h, &path);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, String::new()), "second fetch");
    assert_eq!(r.bytes().unwrap(), body);
    let r = get(&h, &path, GZIP);
    assert_eq!((r.status().as_u16(), x_cache(&r), header(&r, "content-encoding")), (200, String::new(), "gzip".into()));
    assert_eq!(gunzip(&r.bytes().unwrap()), body.to_vec());
    let r = get(&h, &path, &[("if-none-match", &etag)]);
    assert_eq!((r.status().as_u16(), x_cache(&r)), (304, String::new()), "304 without a cache");
    let r = h.client().head(h.url(&path)).send().unwrap();
    assert_eq!((r.status().as_u16(), x_cache(&r)), (200, String::new()), "HEAD without a cache");
    assert_eq!(header(&r, "content-length"), body.len().to_string());

    let r = h.delete(&format!("/v1/lists/{id}/subscriptions/{sid}"), &token).send().unwrap();
    assert_eq!(r.status(), 204);
    let r = fetch(&h, &path);
    assert_eq!(x_cache(&r), "");
    assert_eq!(error_of(r), (404, "not_found".into(), "not found".into()), "revoked");
}

/// A subscription file's copy lives as long as the node-local cache's entries
/// (`--cache-ttl-secs`, through `Surrogate-Control`), not the hour clients are told.
#[test]
fn a_copy_lives_as_long_as_the_node_cache() {
    let h = Host::start(&["--cache-ttl-secs", "1"]);
    let (token, id) = compiled_list(&h, "Short", &rules("ttl", 20));
    let (_, path, _) = subscribe(&h, &token, &id, "home", "hosts");
    // Before the copy is stored: it cannot expire sooner than a second from here.
    let started = Instant::now();
    let r = fetch(&h, &path);
    assert_eq!((x_cache(&r), header(&r, "cache-control")), ("MISS".into(), "public, max-age=3600".into()));
    assert_eq!(x_cache(&fetch(&h, &path)), "HIT");
    // Polled: the copy must be gone within a few seconds of its one-second lifetime.
    let mut sources = Vec::new();
    while started.elapsed() < Duration::from_secs(10) {
        let source = x_cache(&fetch(&h, &path));
        sources.push(source.clone());
        if source == "MISS" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(sources.last().map(String::as_str), Some("MISS"), "still cached after 10 s: {} hits", sources.len());
    assert!(started.elapsed() >= Duration::from_secs(1), "expired early: {:?}", started.elapsed());
}
