//! The configuration variables have one list of names (`blocklist_model::variables`): spin.toml declares
//! and hands the gateway exactly those, hands the compile consumer only those, and the host
//! sets every one from its flags.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The keys of table `[name]` in a TOML file's text (`key = value` lines up to the next table).
fn table_keys(toml: &str, name: &str) -> BTreeSet<String> {
    let header = format!("[{name}]");
    toml.lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter_map(|l| {
            let l = l.trim();
            (!l.starts_with('#')).then(|| l.split_once('=')).flatten().map(|(k, _)| k.trim().to_owned())
        })
        .collect()
}

#[test]
fn spin_toml_and_the_host_use_the_same_names() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let all: BTreeSet<String> = blocklist_model::variables::ALL.iter().map(|s| s.to_string()).collect();
    assert_eq!(all.len(), blocklist_model::variables::ALL.len(), "a name is listed twice");
    let spin = std::fs::read_to_string(root.join("spin.toml")).unwrap();

    let gateway = table_keys(&spin, "component.gateway.variables");
    assert_eq!(gateway, all, "the gateway's variables in spin.toml");
    let compile = table_keys(&spin, "component.compile-consumer.variables");
    assert!(!compile.is_empty() && compile.is_subset(&all), "unknown: {:?}", compile.difference(&all));

    // Every `{{ x }}` the file refers to is an application variable it declares.
    let declared = table_keys(&spin, "variables");
    for reference in spin.split("{{").skip(1).filter_map(|r| r.split_once("}}")).map(|(name, _)| name.trim()) {
        assert!(declared.contains(reference), "spin.toml refers to {{{{ {reference} }}}}, which it does not declare");
    }

    let up = std::fs::read_to_string(root.join("src/up.rs")).unwrap();
    for name in blocklist_model::variables::ALL {
        let constant = format!("variables::{}", name.to_uppercase());
        assert!(up.contains(&constant), "the host does not set {name} ({constant} is not in src/up.rs)");
    }
}

/// A TOML file's tables in order, each as its header line and its `key = value` lines (value
/// text as written; comments and blank lines left out). Enough for spin.toml's one-line values.
fn tables(toml: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut tables = vec![(String::new(), BTreeMap::new())];
    for line in toml.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if line.starts_with('[') {
            tables.push((line.to_owned(), BTreeMap::new()));
        } else if let Some((k, v)) = line.split_once('=') {
            tables.last_mut().unwrap().1.insert(k.trim().to_owned(), v.trim().to_owned());
        }
    }
    tables
}

/// spin-http.toml (no Redis trigger; issue 17, part 5) is spin.toml with exactly these
/// differences: no Redis trigger and no Redis variables, `job_runner = "http"`, the compile
/// consumer's runner route on the HTTP trigger, the gateway allowed to call the application
/// itself. Anything added to one manifest must be added to the other.
#[test]
fn spin_http_toml_is_spin_toml_without_redis() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spin = std::fs::read_to_string(root.join("spin.toml")).unwrap();
    let http = std::fs::read_to_string(root.join("spin-http.toml")).unwrap();
    let mut expected: Vec<(String, BTreeMap<String, String>)> = tables(&spin)
        .into_iter()
        .filter(|(header, _)| header != "[application.trigger.redis]" && header != "[[trigger.redis]]")
        .map(|(header, mut keys)| {
            match header.as_str() {
                "[variables]" => {
                    assert!(keys.remove("redis_address").is_some() && keys.remove("job_channel").is_some());
                    keys.insert("job_runner".into(), r#"{ default = "http" }"#.into());
                }
                "[component.gateway]" => {
                    keys.insert("allowed_outbound_hosts".into(), r#"["http://self"]"#.into());
                }
                "[component.compile-consumer]" => {
                    keys.insert("allowed_outbound_hosts".into(), "[]".into());
                }
                h if h.ends_with(".variables]") => {
                    assert!(keys.remove("job_queue_address").is_some() && keys.remove("job_queue_channel").is_some());
                }
                _ => {}
            }
            (header, keys)
        })
        .collect();
    let runner_route = BTreeMap::from([
        ("route".to_owned(), r#""/internal/jobs/run""#.to_owned()),
        ("component".to_owned(), r#""compile-consumer""#.to_owned()),
    ]);
    expected.push(("[[trigger.http]]".into(), runner_route));
    let mut actual = tables(&http);
    expected.sort();
    actual.sort();
    assert_eq!(actual, expected, "spin-http.toml drifted from spin.toml");

    let declared = table_keys(&http, "variables");
    for reference in http.split("{{").skip(1).filter_map(|r| r.split_once("}}")).map(|(name, _)| name.trim()) {
        assert!(
            declared.contains(reference),
            "spin-http.toml refers to {{{{ {reference} }}}}, which it does not declare"
        );
    }
}
