//! The gateway's request parsing (`components/gateway-api`, natively): requests built from the
//! input (methods, routes with well-formed and malformed ids, headers, JSON bodies shaped like
//! the API's and raw bytes) go through `gateway_api::fuzzing::parse_request`, which checks each
//! pure step (see that module).

#![no_main]

mod generate;

use arbitrary::{Arbitrary, Result, Unstructured};
use generate::{or_wrong, word};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

const ROUTES: [&str; 16] = [
    "/healthz",
    "/v1/health",
    "/v1/me",
    "/v1/users",
    "/v1/users/{u}/tokens",
    "/v1/lists",
    "/v1/lists/{l}",
    "/v1/lists/{l}/compile",
    "/v1/lists/{l}/compiled",
    "/v1/preview",
    "/v1/jobs",
    "/v1/jobs/{j}",
    "/v1/jobs/{j}/replay",
    "//v1/lists/{l}",
    "/v1/lists/{l}/",
    "/v2/lists",
];

const HEADER_NAMES: [&str; 6] =
    ["authorization", "Authorization", "content-type", "Content-Type", "if-none-match", "content-length"];

const HEADER_VALUES: [&str; 12] = [
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "text/plain",
    "Bearer ble_0123456789abcdef",
    "bearer  ble_x ",
    "Basic dXNlcjpwYXNz",
    "Bearer",
    "\"0123456789abcdef\"",
    "W/\"0123456789abcdef\", \"x\"",
    "*",
    "12",
];

const WEBHOOKS: [&str; 10] = [
    "https://example.org/hook",
    "http://user:pw@example.org/",
    "ftp://example.org/",
    "http://",
    "https://[::1]:8080/a?b#c",
    "http://EXAMPLE.org/%zz/../x",
    "http://xn--e1afmkfd.xn--p1ai/",
    "http://2130706433/",
    "http://0x7f.1:6379/",
    "not a url",
];

#[derive(Arbitrary, Debug)]
enum IdKind {
    /// The route's prefix and 24 hex digits.
    Valid([u8; 12]),
    /// The right length, upper-case hex.
    Upper([u8; 12]),
    Raw(String),
}

fn id(u: &mut Unstructured<'_>, prefix: &str) -> Result<String> {
    Ok(match u.arbitrary::<IdKind>()? {
        IdKind::Valid(b) => format!("{prefix}{}", hex(&b)),
        IdKind::Upper(b) => format!("{prefix}{}", hex(&b).to_ascii_uppercase()),
        IdKind::Raw(s) => s,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn config(u: &mut Unstructured<'_>) -> Result<Value> {
    let mut c = Map::new();
    if u.ratio(7, 8)? {
        c.insert("name".into(), or_wrong(json!(word(u, &["List", "", "  "])?), u)?);
    }
    if u.ratio(7, 8)? {
        let n = u.int_in_range(0..=3)?;
        // Now and then at or over the gateway's limit of 100 sources.
        let mut sources = if u.ratio(1, 16)? {
            vec![json!({"source": "a.txt"}); if u.arbitrary()? { 101 } else { 99 }]
        } else {
            Vec::new()
        };
        for _ in 0..n {
            let mut s = Map::new();
            if u.ratio(7, 8)? {
                s.insert("source".into(), or_wrong(json!(word(u, &["a.txt", "https://h/l.txt", " "])?), u)?);
            }
            if u.ratio(1, 4)? {
                s.insert("type".into(), json!(word(u, &["adblock", "hosts", "json"])?));
            }
            if u.ratio(1, 4)? {
                s.insert("transformations".into(), json!([word(u, &["Compress", "Validate", "Nope"])?]));
            }
            sources.push(or_wrong(Value::Object(s), u)?);
        }
        c.insert("sources".into(), or_wrong(Value::Array(sources), u)?);
    }
    if u.ratio(1, 8)? {
        c.insert(word(u, &["transformations", "unknown"])?, json!(["Deduplicate", "ValidateAllowIp"]));
    }
    if u.ratio(1, 16)? {
        let n = if u.arbitrary()? { 101 } else { 100 };
        c.insert(word(u, &["exclusions_sources", "inclusions_sources"])?, json!(vec!["x.txt"; n]));
    }
    or_wrong(Value::Object(c), u)
}

fn body(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let mut o = Map::new();
    match u.int_in_range(0..=3)? {
        // Raw bytes.
        0 => return u.arbitrary(),
        // A list (POST /v1/lists, PUT /v1/lists/{id}).
        1 => {
            if u.ratio(15, 16)? {
                o.insert("name".into(), or_wrong(json!(word(u, &["my list", " padded ", "", "a\u{7}b"])?), u)?);
            }
            if u.ratio(1, 4)? {
                let d = if u.ratio(1, 8)? { "d".repeat(2001) } else { u.arbitrary()? };
                o.insert("description".into(), or_wrong(json!(d), u)?);
            }
            if u.arbitrary()? {
                o.insert("rules".into(), or_wrong(json!(u.arbitrary::<String>()?), u)?);
            }
            if u.arbitrary()? {
                o.insert("config".into(), config(u)?);
            }
            if u.ratio(1, 3)? {
                o.insert("webhookUrl".into(), or_wrong(json!(word(u, &WEBHOOKS)?), u)?);
            }
        }
        // A user (POST /v1/users).
        2 => {
            o.insert("name".into(), or_wrong(json!(word(u, &["alice", "", " \t", "x".repeat(201).as_str()])?), u)?);
        }
        // A preview (POST /v1/preview).
        _ => {
            o.insert("config".into(), config(u)?);
            if u.arbitrary()? {
                let mut s = Map::new();
                s.insert(word(u, &["a.txt"])?, or_wrong(json!(u.arbitrary::<String>()?), u)?);
                o.insert("sources".into(), Value::Object(s));
            }
        }
    }
    if u.ratio(1, 16)? {
        o.insert(u.arbitrary()?, Value::Null);
    }
    Ok(Value::Object(o).to_string().into_bytes())
}

/// A request: method, path with query, headers, body.
type Request = (String, String, Vec<(String, Vec<u8>)>, Vec<u8>);

fn request(u: &mut Unstructured<'_>) -> Result<Request> {
    let method = word(u, &METHODS)?;
    let mut path = if u.ratio(15, 16)? {
        let route = word(u, &ROUTES)?;
        let route = if route.contains("{u}") { route.replace("{u}", &id(u, "u_")?) } else { route };
        let route = if route.contains("{l}") { route.replace("{l}", &id(u, "l_")?) } else { route };
        if route.contains("{j}") { route.replace("{j}", &id(u, "j_")?) } else { route }
    } else {
        u.arbitrary()?
    };
    if u.ratio(1, 4)? {
        path.push('?');
        path.push_str(&word(u, &["status=dead", "status=live", "x", "&&status=dead&"])?);
    }
    let n = u.int_in_range(0..=4)?;
    let mut headers = Vec::with_capacity(n);
    for _ in 0..n {
        let name = word(u, &HEADER_NAMES)?;
        let value = if u.ratio(7, 8)? { word(u, &HEADER_VALUES)?.into_bytes() } else { u.arbitrary()? };
        headers.push((name, value));
    }
    Ok((method, path, headers, body(u)?))
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok((method, path, headers, body)) = request(&mut u) else { return };
    let outcome = gateway_api::fuzzing::parse_request(&method, &path, &headers, &body);
    let bare = path.split_once('?').map_or(path.as_str(), |(p, _)| p);
    if bare == "/healthz" || bare == "/v1/health" {
        assert_eq!(outcome, gateway_api::fuzzing::Outcome::Health);
    }
});
