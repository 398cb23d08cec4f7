//! The configuration variables have one list of names (`blocklist_model::variables`): spin.toml declares
//! and hands the gateway exactly those, hands the compile consumer only those, and the host
//! sets every one from its flags.

use std::collections::BTreeSet;
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
