//! Real consumers of subscription files, against the real host: `dnsmasq`, `unbound` and BIND 9
//! (`named`, as a response-policy zone) load the file fetched with `curl` from a subscription
//! URL, and `dig` then gets a block for the listed names and their subdomains and a normal
//! answer for names the list does not cover; and `curl` run exactly as Pi-hole's gravity runs
//! it gets the list, then `304 Not Modified`, by date and by entity tag. The programs come from
//! Debian packages (dnsmasq-base, unbound, bind9, bind9-utils, dnsutils, curl): a missing one
//! fails the test, naming its package.

mod common;

use common::Host;
use common::consumers::{Dnsmasq, Named, Unbound, assert_blocked, assert_resolves, require};
use serde_json::{Value, json};
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

/// The list: subtree blocks, an exact name, a hosts line, and an exception inside a blocked
/// subtree (which only RPZ can express; the other formats leave it out and keep the block).
const RULES: &str = "||ads.example^\n\
                     ||tracker.example^\n\
                     exact.example\n\
                     0.0.0.0 hosts-line.example\n\
                     @@||ok.ads.example^\n";

/// Names every format blocks: the subtree rules' names and their subdomains, the exact name,
/// the hosts line's name.
const BLOCKED: &[&str] = &[
    "ads.example",
    "deep.sub.ads.example",
    "tracker.example",
    "x.tracker.example",
    "exact.example",
    "hosts-line.example",
];

/// Names no rule covers (`notads.example` ends with `ads.example` but not at a label).
const NOT_BLOCKED: &[&str] = &["ok.example", "notads.example", "www.ok.example"];

/// A host with a compiled list of [`RULES`] and a subscription to it in `format`: the host
/// (kept running) and the subscription's URL.
fn subscribed(format: &str) -> (Host, String) {
    let h = Host::start(&["--rate-limit", "100000"]);
    let (_, token) = h.create_user("consumer");
    let list = h.create_list(&token, "Consumer test", RULES);
    let job = h.request_compile(&token, &list);
    h.wait_job(&token, &job, "done");
    let r = h
        .post(&format!("/v1/lists/{list}/subscriptions"), &token)
        .json(&json!({"name": format!("{format} resolver"), "format": format}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "subscribing in {format}");
    let v: Value = r.json().unwrap();
    let path = v["path"].as_str().expect("path").to_owned();
    let url = v["url"].as_str().expect("url").to_owned();
    assert_eq!(url, h.url(&path), "the subscription URL is the path on this host: {v}");
    (h, url)
}

/// Downloads `url` to `dest` with curl, as a cron job feeding a resolver would; fails on any
/// HTTP error.
fn curl_download(url: &str, dest: &Path) {
    let curl = require("curl", "curl");
    let out = Command::new(curl).args(["-sS", "-f", "-L", "-o"]).arg(dest).arg(url).output().expect("running curl");
    assert!(out.status.success(), "curl {url} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
}

/// Downloads the subscription file at `url` to `dir`/`file`.
fn fetch_to(dir: &Path, file: &str, url: &str) -> std::path::PathBuf {
    let path = dir.join(file);
    curl_download(url, &path);
    assert!(fs::metadata(&path).unwrap().len() > 0, "{url} gave an empty file");
    path
}

/// What every format blocks and leaves alone, asked of the resolver at `port`.
fn assert_list_applies(who: &str, port: u16) {
    for name in BLOCKED {
        assert_blocked(who, port, name);
    }
    for name in NOT_BLOCKED {
        assert_resolves(who, port, name);
    }
}

fn dnsmasq_loads(format: &str) {
    let (_host, url) = subscribed(format);
    let dir = tempfile::tempdir().unwrap();
    let file = fetch_to(dir.path(), "blocklist.conf", &url);
    let dnsmasq = Dnsmasq::start(&file);
    let who = format!("dnsmasq with the {format} file");
    assert_list_applies(&who, dnsmasq.port);
    // The format widens an exact-name rule to its subtree, as its description says.
    assert_blocked(&who, dnsmasq.port, "sub.exact.example");
}

#[test]
fn dnsmasq_loads_the_dnsmasq_subscription() {
    dnsmasq_loads("dnsmasq");
}

#[test]
fn dnsmasq_loads_the_dnsmasq_legacy_subscription() {
    dnsmasq_loads("dnsmasq-legacy");
}

#[test]
fn unbound_loads_the_unbound_subscription() {
    let (_host, url) = subscribed("unbound");
    let dir = tempfile::tempdir().unwrap();
    let file = fetch_to(dir.path(), "blocklist.conf", &url);
    let unbound = Unbound::start(&file);
    let who = "unbound with the unbound file";
    assert_list_applies(who, unbound.port);
    // The format widens an exact-name rule to its subtree, as its description says.
    assert_blocked(who, unbound.port, "sub.exact.example");
}

#[test]
fn named_loads_the_rpz_subscription_as_a_response_policy_zone() {
    let (_host, url) = subscribed("rpz");
    let dir = tempfile::tempdir().unwrap();
    let file = fetch_to(dir.path(), "blocklist.rpz", &url);
    let named = Named::start_rpz(&file);
    let who = "named with the rpz file as response-policy zone";
    assert_list_applies(who, named.port);
    // RPZ expresses what the other formats cannot: an exact name without its subdomains, and
    // an exception (rpz-passthru) inside a blocked subtree, whose other names stay blocked.
    assert_resolves(who, named.port, "sub.exact.example");
    assert_resolves(who, named.port, "ok.ads.example");
    assert_blocked(who, named.port, "not-ok.ads.example");
}

/// The user agent Pi-hole's gravity.sh sends.
const GRAVITY_AGENT: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/41.0.2227.0 Safari/537.36";

/// Runs curl with `args` and `url`; returns what `-w %{http_code}` printed.
fn curl_code(args: &[&str], url: &str) -> String {
    let curl = require("curl", "curl");
    let out = Command::new(curl).args(args).args(["-w", "%{http_code}", url]).output().expect("running curl");
    assert!(
        out.status.success(),
        "curl {args:?} {url} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// gravity.sh's download of one adlist (`gravity_DownloadBlocklistFromUrl`): into a fresh
/// buffer file, with `-z` on the previously saved list when there is one.
fn gravity_download(url: &str, saved: &Path, buffer: &Path) -> String {
    fs::write(buffer, b"").unwrap(); // gravity's mktemp
    let saved_arg = saved.display().to_string();
    let buffer_arg = buffer.display().to_string();
    let mut args = vec!["--connect-timeout", "10", "-s", "-L", "--compressed"];
    if saved.exists() {
        args.extend(["-z", &saved_arg]);
    }
    args.extend(["-A", GRAVITY_AGENT, "-o", &buffer_arg]);
    curl_code(&args, url)
}

fn mtime(path: &Path) -> SystemTime {
    fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn pihole_gravity_curl_gets_the_list_then_304_by_date_and_by_etag() {
    let (host, url) = subscribed("hosts");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // The list as an uncompressed GET gives it (reqwest here sends no Accept-Encoding).
    let r = host.client().get(&url).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-encoding").is_none(), "an identity GET was encoded: {:?}", r.headers());
    let etag = r.headers().get("etag").expect("an ETag").to_str().unwrap().to_owned();
    let identity = r.bytes().unwrap().to_vec();
    assert!(String::from_utf8_lossy(&identity).contains("0.0.0.0 ads.example"), "the hosts file lists ads.example");

    // gravity.sh exactly: the first download (no saved list yet) gets the list...
    let saved = d.join("list.1.127.0.0.1.domains");
    let buffer = d.join("tmp.phgpb");
    assert_eq!(gravity_download(&url, &saved, &buffer), "200", "gravity's first download");
    assert_eq!(fs::read(&buffer).unwrap(), identity, "gravity's --compressed download differs from the identity body");
    fs::rename(&buffer, &saved).unwrap(); // gravity keeps it (it writes the parsed list there)
    // ...and the next one sends If-Modified-Since from the saved file's time: 304, no body.
    assert_eq!(gravity_download(&url, &saved, &buffer), "304", "gravity's second download (-z on the saved list)");
    assert_eq!(fs::metadata(&buffer).unwrap().len(), 0, "a 304 wrote a body into gravity's buffer");
    // A saved list older than the compile is not current: the list again.
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(946_684_800); // 2000-01-01
    fs::File::options().write(true).open(&saved).unwrap().set_modified(old).unwrap();
    assert_eq!(gravity_download(&url, &saved, &buffer), "200", "-z with a file from 2000");
    assert_eq!(fs::read(&buffer).unwrap(), identity);

    // `curl -R` dates the file with Last-Modified: -z on it asks If-Modified-Since exactly
    // Last-Modified, which is not modified either.
    let dated = d.join("dated.txt");
    let dated_arg = dated.display().to_string();
    assert_eq!(curl_code(&["-sS", "-R", "-o", &dated_arg], &url), "200");
    assert!(mtime(&dated) > old, "curl -R set no date from Last-Modified");
    assert_eq!(curl_code(&["-sS", "-z", &dated_arg, "-o", "/dev/null"], &url), "304", "-z at Last-Modified");

    // Entity tags with gzip: --etag-save/--etag-compare and -z on the same file.
    let f = d.join("F");
    let f_etag = d.join("F.etag");
    let headers = d.join("headers");
    let (f_arg, etag_arg, headers_arg) =
        (f.display().to_string(), f_etag.display().to_string(), headers.display().to_string());
    let etags = ["--etag-save", &etag_arg, "--etag-compare", &etag_arg];
    let full = [&["-sS", "-L", "--compressed"][..], &etags, &["-z", &f_arg, "-o", &f_arg, "-D", &headers_arg]].concat();
    assert_eq!(curl_code(&full, &url), "200", "the first --etag-compare download");
    assert_eq!(fs::read(&f).unwrap(), identity, "the --compressed download differs from the identity body");
    let head = fs::read_to_string(&headers).unwrap().to_ascii_lowercase();
    assert!(head.lines().any(|l| l.trim_end() == "content-encoding: gzip"), "curl --compressed got no gzip:\n{head}");
    // The gzip representation has an entity tag of its own (the identity one is `etag`).
    let gzip_etag = head.lines().find_map(|l| l.strip_prefix("etag:")).expect("an ETag on the gzip answer").trim();
    assert!(gzip_etag.starts_with(etag.trim_end_matches('"')), "gzip ETag {gzip_etag} vs identity ETag {etag}");
    assert_eq!(fs::read_to_string(&f_etag).unwrap().trim().to_ascii_lowercase(), gzip_etag, "the ETag curl saved");
    let (before, before_time) = (fs::read(&f).unwrap(), mtime(&f));
    assert_eq!(curl_code(&full, &url), "304", "the second --etag-compare download");
    assert_eq!((fs::read(&f).unwrap(), mtime(&f)), (before, before_time), "a 304 changed the file");
    // The entity tag alone gives the 304 (If-None-Match); another tag gives the list.
    let by_etag = ["-sS", "--compressed", "--etag-compare", &etag_arg, "-o", "/dev/null"];
    assert_eq!(curl_code(&by_etag, &url), "304", "--etag-compare alone");
    fs::write(&f_etag, "\"0000\"\n").unwrap();
    assert_eq!(curl_code(&by_etag, &url), "200", "--etag-compare with another tag");
}
