use super::*;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode, Uri};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(HeaderName::from_bytes(n.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
    }
    h
}

/// A subscription-like answer: gzip or identity, tagged, with a budget.
fn answer(etag: &str, body: &str, gzip: bool) -> (HeaderMap, Bytes) {
    let mut h = headers(&[
        ("cache-control", "public, max-age=3600"),
        ("vary", "accept-encoding"),
        ("etag", etag),
        ("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("content-type", "text/plain"),
        ("surrogate-key", "list/l1 sub/s1"),
        ("edge-rate-limit", "sub:s1;limit=3;window-ms=60000;of=\"this subscription\""),
    ]);
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    (h, Bytes::from(body.to_owned()))
}

fn store(cache: &EdgeCache, key: &str, request: &HeaderMap, etag: &str, body: &str, now: Instant) -> bool {
    let gzip = http_semantics::accepts_gzip(request.get("accept-encoding").and_then(|v| v.to_str().ok()));
    let (h, b) = answer(etag, body, gzip);
    let admission = admit(StatusCode::OK, &h).unwrap();
    cache.insert(key, cache.generation(), Arc::new(Stored::new(admission, h, b, request, now)))
}

#[test]
fn only_get_and_head_without_credentials_are_looked_up() {
    let uri: Uri = "/s/bls_x/list.txt?v=1".parse().unwrap();
    let h = headers(&[("host", "Lists.Example:3000")]);
    assert_eq!(request_key(&Method::GET, &uri, &h).as_deref(), Some("lists.example:3000/s/bls_x/list.txt?v=1"));
    assert!(request_key(&Method::HEAD, &uri, &h).is_some());
    assert_eq!(request_key(&Method::POST, &uri, &h), None);
    let with_auth = headers(&[("host", "a"), ("authorization", "Basic dXNlcjpibHNfeA==")]);
    assert_eq!(request_key(&Method::GET, &uri, &with_auth), None);
}

#[test]
fn admission_needs_a_stated_shared_lifetime() {
    let ok = |cc: &str| admit(StatusCode::OK, &headers(&[("cache-control", cc)])).map(|a| a.lifetime.as_secs());
    assert_eq!(ok("public, max-age=60"), Some(60));
    assert_eq!(ok("max-age=60, s-maxage=5"), Some(5));
    assert_eq!(ok("Max-Age=\"7\""), Some(7));
    for refused in ["private, max-age=60", "no-store", "max-age=60, no-cache", "public", "max-age=0", ""] {
        assert_eq!(ok(refused), None, "{refused:?}");
    }
    let edge = |sc: &str| {
        admit(StatusCode::OK, &headers(&[("cache-control", "public, max-age=3600"), ("surrogate-control", sc)]))
            .map(|a| a.lifetime.as_secs())
    };
    assert_eq!(edge("max-age=300"), Some(300), "Surrogate-Control sets this cache's lifetime");
    assert_eq!(edge("no-store"), None);
    assert_eq!(edge("other"), Some(3600));
    let mut stripped = headers(&[("surrogate-control", "max-age=1"), ("surrogate-key", "a"), ("etag", "\"e\"")]);
    strip_internal(&mut stripped);
    assert_eq!(stripped.len(), 1, "{stripped:?}");
    let h = headers(&[("cache-control", "max-age=60"), ("vary", "*")]);
    assert_eq!(admit(StatusCode::OK, &h), None, "Vary: *");
    let h = headers(&[("cache-control", "max-age=60"), ("set-cookie", "a=b")]);
    assert_eq!(admit(StatusCode::OK, &h), None, "Set-Cookie");
    let h = headers(&[("cache-control", "max-age=60")]);
    assert_eq!(admit(StatusCode::NOT_FOUND, &h), None, "only 200s");
    let (h, _) = answer("\"e\"", "", false);
    let a = admit(StatusCode::OK, &h).unwrap();
    assert_eq!(a.vary, vec![header::ACCEPT_ENCODING]);
    assert_eq!(a.surrogate_keys, vec!["list/l1", "sub/s1"]);
    assert_eq!(
        a.budgets,
        vec![Budget { key: "sub:s1".into(), limit: 3, window_ms: 60_000, of: "this subscription".into() }]
    );
}

#[test]
fn budgets_parse_and_name_the_client() {
    let b = Budget::parse_header(
        "sub:a;limit=600;window-ms=60000, sub-addr:{client-ip};limit=300;window-ms=60000;of=\"this address\", broken;limit=x, ;limit=1",
    );
    assert_eq!(b.len(), 2, "{b:?}");
    assert_eq!(b[1].key_for("192.0.2.1"), "sub-addr:192.0.2.1");
    assert_eq!((b[0].of.as_str(), b[1].of.as_str()), ("this client", "this address"));
}

#[test]
fn variants_follow_accept_encoding_and_answers_are_conditional() {
    let cache = EdgeCache::new(1 << 20);
    let now = Instant::now();
    let gzip = headers(&[("accept-encoding", "gzip, deflate")]);
    let plain = HeaderMap::new();
    assert!(cache.lookup("k", &gzip, now).is_none());
    assert!(store(&cache, "k", &gzip, "\"e-gzip\"", "GZ", now));
    assert!(cache.lookup("k", &plain, now).is_none(), "the identity variant is another");
    assert!(store(&cache, "k", &plain, "\"e\"", "PLAIN", now));

    let later = now + Duration::from_secs(5);
    let hit = cache.lookup("k", &headers(&[("accept-encoding", "br, gzip;q=0.5")]), later).unwrap();
    let r = hit.answer(&HeaderMap::new(), false, later, "HIT");
    assert_eq!((r.status(), r.body().as_ref()), (StatusCode::OK, b"GZ".as_ref()));
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert_eq!(r.headers()["content-length"], "2");
    assert_eq!(r.headers()["age"], "5");
    assert_eq!(r.headers()["x-cache"], "HIT");
    assert!(!r.headers().contains_key("surrogate-key") && !r.headers().contains_key("edge-rate-limit"));

    let hit = cache.lookup("k", &headers(&[("accept-encoding", "gzip;q=0")]), later).unwrap();
    assert_eq!(hit.body().as_ref(), b"PLAIN");
    let head = hit.answer(&HeaderMap::new(), true, later, "HIT");
    assert_eq!((head.body().len(), &head.headers()["content-length"]), (0, &HeaderValue::from(5)));
    let r = hit.answer(&headers(&[("if-none-match", "W/\"e\"")]), false, later, "HIT");
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert!(r.body().is_empty() && !r.headers().contains_key("content-length"));
    assert_eq!(r.headers()["etag"], "\"e\"");
    let r = hit.answer(&headers(&[("if-none-match", "\"other\"")]), false, later, "HIT");
    assert_eq!(r.status(), StatusCode::OK, "If-None-Match decides when present");
    let r = hit.answer(&headers(&[("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT")]), false, later, "HIT");
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = hit.answer(&headers(&[("if-modified-since", "Sun, 06 Nov 1994 08:49:36 GMT")]), false, later, "HIT");
    assert_eq!(r.status(), StatusCode::OK);

    assert!(cache.lookup("k", &plain, now + Duration::from_secs(3600)).is_none(), "expired");
    let s = cache.stats();
    assert_eq!((s.hits, s.stores, s.entries), (2, 2, 0));
}

#[test]
fn purges_remove_tagged_answers_and_keep_out_answers_made_meanwhile() {
    let cache = EdgeCache::new(1 << 20);
    let now = Instant::now();
    let req = HeaderMap::new();
    assert!(store(&cache, "a", &req, "\"1\"", "x", now));
    assert!(store(&cache, "b", &req, "\"1\"", "x", now));
    assert_eq!(cache.purge("sub/other"), 0);
    // An answer being made when the purge runs: its generation predates the purge.
    let before = cache.generation();
    assert_eq!(cache.purge("list/l1"), 2);
    assert!(cache.lookup("a", &req, now).is_none() && cache.lookup("b", &req, now).is_none());
    let (h, b) = answer("\"old\"", "stale", false);
    let stored = Arc::new(Stored::new(admit(StatusCode::OK, &h).unwrap(), h, b, &req, now));
    assert!(!cache.insert("a", before, stored), "made while the purge ran");
    assert!(cache.lookup("a", &req, now).is_none());
    assert!(store(&cache, "a", &req, "\"2\"", "new", now));
    assert_eq!(cache.lookup("a", &req, now).unwrap().body().as_ref(), b"new");
    let s = cache.stats();
    assert_eq!((s.purges, s.purged, s.discarded, s.entries), (2, 2, 1, 1));
}

#[test]
fn a_suspended_cache_neither_answers_nor_keeps_and_resumes_empty() {
    let cache = EdgeCache::new(1 << 20);
    let now = Instant::now();
    let req = HeaderMap::new();
    assert!(store(&cache, "a", &req, "\"1\"", "x", now));
    // An answer being made when the cache is suspended, one made while it is, one after.
    let before = cache.generation();
    cache.suspend();
    assert!(cache.is_suspended());
    assert!(cache.lookup("a", &req, now).is_none(), "emptied");
    assert!(!store(&cache, "b", &req, "\"1\"", "x", now), "nothing kept while suspended");
    let during = cache.generation();
    cache.resume();
    assert!(!cache.is_suspended());
    let (h, b) = answer("\"old\"", "stale", false);
    let stale = Arc::new(Stored::new(admit(StatusCode::OK, &h).unwrap(), h, b, &req, now));
    assert!(!cache.insert("a", before, stale.clone()), "made before the suspension");
    assert!(!cache.insert("a", during, stale), "made while suspended");
    assert!(cache.lookup("a", &req, now).is_none() && cache.stats().entries == 0);
    assert!(store(&cache, "a", &req, "\"2\"", "new", now));
    assert_eq!(cache.lookup("a", &req, now).unwrap().body().as_ref(), b"new");
    assert!(store(&cache, "b", &req, "\"2\"", "new", now));
    assert_eq!(cache.purge_all(), 2);
    assert_eq!(cache.stats().entries, 0);
    assert!(cache.stats().bytes == 0 && cache.lookup("a", &req, now).is_none());
}

#[test]
fn memory_stays_bounded_over_ten_thousand_urls() {
    let max = 256 * 1024;
    let cache = EdgeCache::new(max);
    let now = Instant::now();
    let body = "r".repeat(1500);
    for i in 0..10_000 {
        assert!(store(&cache, &format!("host/s/t/{i}.txt"), &HeaderMap::new(), "\"e\"", &body, now));
        assert!(cache.stats().bytes <= max as u64);
    }
    let s = cache.stats();
    assert!(s.entries > 50 && s.entries < 200, "{s:?}");
    assert_eq!(s.evictions + s.entries, 10_000);
    // The newest stay, the oldest went; purging by tag empties the index with them.
    assert!(cache.lookup("host/s/t/9999.txt", &HeaderMap::new(), now).is_some());
    assert!(cache.lookup("host/s/t/0.txt", &HeaderMap::new(), now).is_none());
    assert_eq!(cache.purge("sub/s1") as u64, s.entries);
    assert_eq!(cache.stats().bytes, 0);
    assert!(cache.state().by_surrogate_key.is_empty());
    let (h, _) = answer("\"e\"", "", false);
    let huge = Bytes::from(vec![b'x'; max / 8 + 1]);
    let stored = Arc::new(Stored::new(admit(StatusCode::OK, &h).unwrap(), h, huge, &HeaderMap::new(), now));
    assert!(!cache.insert("big", cache.generation(), stored), "over the largest entry");
}

#[test]
fn other_vary_headers_select_by_value() {
    let cache = EdgeCache::new(1 << 20);
    let now = Instant::now();
    let h = headers(&[("cache-control", "max-age=60"), ("vary", "X-Other")]);
    for (value, body) in [("a", "A"), ("b", "B")] {
        let request = headers(&[("x-other", value)]);
        let stored = Stored::new(admit(StatusCode::OK, &h).unwrap(), h.clone(), Bytes::from(body), &request, now);
        assert!(cache.insert("k", cache.generation(), Arc::new(stored)));
    }
    let body = |r: &HeaderMap| cache.lookup("k", r, now).map(|s| s.body().clone());
    assert_eq!(body(&headers(&[("x-other", "a")])).as_deref(), Some(b"A".as_ref()));
    assert_eq!(body(&headers(&[("x-other", "b")])).as_deref(), Some(b"B".as_ref()));
    assert_eq!(body(&HeaderMap::new()), None, "no value is another variant");
    assert_eq!(body(&headers(&[("x-other", "a"), ("x-other", "b")])), None, "lines joined: `a, b`");
}
