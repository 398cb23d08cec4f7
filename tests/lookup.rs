//! `GET /v1/lists/{id}/lookup`: whether a DNS query for a name is blocked by the published list,
//! by which rule, and every rule that matches it — through the real host.

mod common;

use common::{Host, error_of};
use serde_json::{Value, json};

fn lookup(h: &Host, token: &str, list: &str, query: &str) -> Value {
    let r = h.get(&format!("/v1/lists/{list}/lookup?{query}"), token).send().unwrap();
    assert_eq!(r.status(), 200, "lookup {query}");
    r.json().unwrap()
}

fn texts(v: &Value) -> Vec<(String, String)> {
    v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["text"].as_str().unwrap().to_owned(), m["role"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn a_lookup_names_the_deciding_rule_and_every_match() {
    let h = Host::start(&["--rate-limit", "100000"]);
    let (_, token) = h.create_user("alice");
    let rules = "||ads.example^\n||tracker.example^\n@@||ok.tracker.example^\n||ok.tracker.example^$important\n||cdn.example^\n@@||cdn.example^$important\n";
    let list = h.create_list(&token, "ads", rules);
    let r = h.get(&format!("/v1/lists/{list}/lookup?name=ads.example"), &token).send().unwrap();
    assert_eq!(error_of(r).1, "not_compiled");
    h.wait_job(&token, &h.request_compile(&token, &list), "done");

    // A subdomain of a blocked domain, upper case and with a trailing dot.
    let v = lookup(&h, &token, &list, "name=X.Ads.Example.");
    assert_eq!((v["blocked"].clone(), v["name"].clone()), (json!(true), json!("x.ads.example")), "{v}");
    assert_eq!(v["decidedBy"]["text"], "||ads.example^");
    assert_eq!(v["list"], json!(list));
    assert!(v["etag"].is_string() && v["version"].is_u64(), "{v}");

    // An exception, beaten by an $important rule: both are listed.
    let v = lookup(&h, &token, &list, "name=ok.tracker.example");
    assert_eq!(v["blocked"], true, "{v}");
    assert_eq!(v["decidedBy"]["text"], "||ok.tracker.example^$important");
    let m = texts(&v);
    for want in ["||tracker.example^", "@@||ok.tracker.example^", "||ok.tracker.example^$important"] {
        assert!(m.iter().any(|(t, _)| t == want), "{want} in {m:?}");
    }
    // An important exception beats everything.
    let v = lookup(&h, &token, &list, "name=img.cdn.example&type=AAAA");
    assert_eq!((v["blocked"].clone(), v["qtype"].clone()), (json!(false), json!("AAAA")), "{v}");
    assert_eq!(v["decidedBy"]["text"], "@@||cdn.example^$important");
    // Nothing matches.
    let v = lookup(&h, &token, &list, "name=example.org");
    assert_eq!(
        (v["blocked"].clone(), v["matches"].clone(), v["decidedBy"].clone()),
        (json!(false), json!([]), Value::Null)
    );
    // Again, from the node's index.
    assert_eq!(lookup(&h, &token, &list, "name=ads.example")["blocked"], true);

    // A new compile of other rules: the lookup follows the published artifact.
    let update = json!({"name": "ads", "rules": "||other.example^\n"});
    assert_eq!(h.put(&format!("/v1/lists/{list}"), &token).json(&update).send().unwrap().status(), 200);
    h.wait_job(&token, &h.request_compile(&token, &list), "done");
    assert_eq!(lookup(&h, &token, &list, "name=ads.example")["blocked"], false);
    assert_eq!(lookup(&h, &token, &list, "name=a.other.example")["blocked"], true);
}

#[test]
fn bad_lookups_are_4xx_with_a_reason() {
    let h = Host::start(&["--rate-limit", "100000"]);
    let (_, token) = h.create_user("alice");
    let (_, other) = h.create_user("bob");
    let list = h.create_list(&token, "ads", "||ads.example^\n");
    h.wait_job(&token, &h.request_compile(&token, &list), "done");
    for (query, code) in [
        ("", "bad_request"),
        ("type=A", "bad_request"),
        ("name=ads.example&type=A;B", "bad_request"),
        ("name=ads.example&color=red", "bad_request"),
        ("name=bad%20name", "invalid_name"),
        ("name=..", "invalid_name"),
        (&format!("name={}", "a".repeat(300)), "invalid_name"),
    ] {
        let r = h.get(&format!("/v1/lists/{list}/lookup?{query}"), &token).send().unwrap();
        let (status, got, message) = error_of(r);
        assert_eq!((status, got.as_str()), (400, code), "{query}: {message}");
        assert!(!message.is_empty(), "{query}");
    }
    let r = h.get(&format!("/v1/lists/{list}/lookup?name=ads.example"), &other).send().unwrap();
    assert_eq!(error_of(r).0, 404, "another user's list");
    let r = h.post(&format!("/v1/lists/{list}/lookup?name=ads.example"), &token).send().unwrap();
    assert_eq!(error_of(r).0, 405);
}

#[test]
fn the_compile_stores_the_lookup_index_and_a_version_without_one_is_indexed_by_its_first_lookup() {
    let h = Host::start(&["--rate-limit", "100000"]);
    let (_, token) = h.create_user("alice");
    let rules: String = (0..5_000).map(|i| format!("||d{i}.example^\n")).collect();
    let list = h.create_list(&token, "big", &rules);
    h.wait_job(&token, &h.request_compile(&token, &list), "done");
    let etag = lookup(&h, &token, &list, "name=d1.example")["etag"].as_str().unwrap().to_owned();
    let prefix = format!("lookup/{list}/{etag}/");
    let pieces = |h: &Host| -> Vec<String> {
        common::stored_keys(&h.data_dir, "lists").into_iter().filter(|k| k.starts_with(&prefix)).collect()
    };
    let stored = pieces(&h);
    assert!(stored.contains(&format!("{prefix}0")) && stored.len() >= 2, "the compile stored the index: {stored:?}");

    // The time inside the component comes with the answer.
    let r = h.get(&format!("/v1/lists/{list}/lookup?name=x.d42.example"), &token).send().unwrap();
    let timing = r.headers()["server-timing"].to_str().unwrap().to_owned();
    let metrics: Vec<(&str, f64)> = timing
        .split(", ")
        .map(|m| {
            let (name, dur) = m.split_once(";dur=").unwrap();
            (name, dur.parse::<f64>().unwrap())
        })
        .collect();
    assert_eq!(metrics.iter().map(|m| m.0).collect::<Vec<_>>(), ["lookup", "store"], "{timing}");
    assert!(metrics[1].1 <= metrics[0].1, "the store calls are part of the lookup: {timing}");
    assert_eq!(r.json::<Value>().unwrap()["decidedBy"]["text"], "||d42.example^");

    // As if compiled before indexes were stored: the first lookup indexes it, for every node
    // (on a second host on the same data directory, whose node cache is empty).
    let store = common::data_store(&h.data_dir);
    for key in &stored {
        store.delete("lists", key).unwrap();
    }
    assert!(pieces(&h).is_empty());
    let h2 = Host::start_in(&h.data_dir, &["--rate-limit", "100000"]);
    let v = lookup(&h2, &token, &list, "name=d4999.example");
    assert_eq!(v["decidedBy"]["text"], "||d4999.example^", "{v}");
    assert_eq!(pieces(&h).len(), stored.len(), "indexed again, the same way");
    // Damaged chunks are indexed again too, never answered from (a third host).
    for key in pieces(&h).iter().filter(|k| !k.ends_with("/0")) {
        store.set("lists", key, b"damaged").unwrap();
    }
    let h3 = Host::start_in(&h.data_dir, &["--rate-limit", "100000"]);
    for n in [1, 7, 4999] {
        let v = lookup(&h3, &token, &list, &format!("name=d{n}.example"));
        assert_eq!(v["decidedBy"]["text"], format!("||d{n}.example^"), "{v}");
    }
    assert!(pieces(&h).iter().all(|k| store.get("lists", k).unwrap().unwrap() != b"damaged"));
}

#[test]
fn a_subscription_token_answers_lookups_only_where_its_owner_allowed_them() {
    let h = Host::start(&["--rate-limit", "100000"]);
    let (_, token) = h.create_user("alice");
    let list = h.create_list(&token, "ads", "||ads.example^\n@@||ok.ads.example^\n");
    h.wait_job(&token, &h.request_compile(&token, &list), "done");
    let with = h
        .post(&format!("/v1/lists/{list}/subscriptions"), &token)
        .json(&json!({"name": "resolver", "format": "hosts", "lookup": true}))
        .send()
        .unwrap();
    assert_eq!(with.status(), 201);
    let with: Value = with.json().unwrap();
    assert_eq!(with["subscription"]["lookup"], true);
    let base = with["lookupPath"].as_str().unwrap().to_owned();
    let without = h.subscribe(&token, &list, "plain", "hosts");
    assert_eq!(without["subscription"]["lookup"], false);
    assert!(without.get("lookupPath").is_none(), "{without}");
    let get = |path: &str| h.client().get(h.url(path)).send().unwrap();

    let r = get(&format!("{base}x.ads.example"));
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!((v["blocked"].clone(), v["decidedBy"]["text"].clone()), (json!(true), json!("||ads.example^")));
    assert_eq!(v["list"], json!(list));
    let v: Value = get(&format!("{base}ok.ads.example?type=AAAA")).json().unwrap();
    assert_eq!((v["blocked"].clone(), v["qtype"].clone()), (json!(false), json!("AAAA")), "{v}");
    // The subscription file is still what the token's plain URL serves.
    assert!(get(with["path"].as_str().unwrap()).text().unwrap().contains("ads.example"));

    let plain = without["token"].as_str().unwrap();
    let (status, code, _) = error_of(get(&format!("/s/{plain}/lookup/ads.example")));
    assert_eq!((status, code.as_str()), (403, "lookup_not_allowed"));
    let (status, code, _) = error_of(get(&format!("{base}not_a..name")));
    assert_eq!((status, code.as_str()), (400, "invalid_name"));
    let (status, code, _) = error_of(get(&format!("{base}ads.example?nope=1")));
    assert_eq!((status, code.as_str()), (400, "bad_request"));
    let (status, code, message) = error_of(get(&format!("{base}ads.example?name=other.example")));
    assert_eq!((status, code.as_str()), (400, "bad_request"), "{message}");
    let unknown = format!("/s/bls_{}/lookup/ads.example", "0".repeat(64));
    assert_eq!(get(&unknown).status(), 404);
    let r = h.client().post(h.url(&format!("{base}ads.example"))).send().unwrap();
    assert_eq!(r.status(), 405);
}
