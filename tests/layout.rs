//! The host's module graph (`src/`): modules depend one way, with no cycle. Each module is a
//! file `src/{name}.rs` (with its submodules under `src/{name}/`); an edge is a `crate::{name}`
//! path in its code (comments are not code). `main.rs` is the root: it declares every module
//! and uses any; its inline modules (`bindings`, generated from `wit/`, and `embedded`, the
//! component bytes) are leaves.
//!
//! `cargo test --test layout -- --nocapture` prints the graph and each file's size.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The modules a piece of code names as `crate::{module}`.
fn referenced_modules(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in code.lines().map(str::trim_start).filter(|l| !l.starts_with("//")) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// Module → the modules it uses, from the files under `src/`; and each file's line count.
fn module_graph(src: &Path) -> (BTreeMap<String, BTreeSet<String>>, BTreeMap<String, usize>) {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut sizes = BTreeMap::new();
    let mut visit = |path: &Path, module: &str| {
        let code = std::fs::read_to_string(path).unwrap();
        sizes.insert(path.strip_prefix(src).unwrap().display().to_string(), code.lines().count());
        let uses = graph.entry(module.to_owned()).or_default();
        uses.extend(referenced_modules(&code).into_iter().filter(|m| m != module));
        if module == "main" {
            // `mod x;` declarations: the root reaches its modules by their plain names.
            let declared = code.lines().filter_map(|l| l.strip_prefix("mod ")?.strip_suffix(';').map(str::to_owned));
            uses.extend(declared);
        }
    };
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let module = path.file_stem().unwrap().to_str().unwrap().to_owned();
            visit(&path, &module);
        } else if path.is_dir() {
            let module = path.file_name().unwrap().to_str().unwrap().to_owned();
            for sub in std::fs::read_dir(&path).unwrap() {
                visit(&sub.unwrap().path(), &module);
            }
        }
    }
    (graph, sizes)
}

/// A cycle in `graph`, if there is one (depth-first search).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn host_modules_depend_one_way() {
    let (graph, sizes) = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    for (module, uses) in &graph {
        println!("{module} -> {}", uses.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    for (file, lines) in &sizes {
        println!("{lines:5} src/{file}");
    }
    assert!(graph.contains_key("server") && graph["main"].contains("server"), "the graph was read: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("an import cycle between host modules: {}", cycle.join(" -> "));
    }
}

#[test]
fn a_cycle_is_found() {
    let graph: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a")]
        .into_iter()
        .map(|(from, to)| (from.to_owned(), BTreeSet::from([to.to_owned()])))
        .collect();
    assert_eq!(find_cycle(&graph).unwrap().join(" -> "), "a -> b -> c -> a");
    let code = "use crate::state::HostState;\n// see crate::server\nlet x = crate::engine::deadline_ticks(d);";
    assert_eq!(referenced_modules(code), BTreeSet::from(["state".to_owned(), "engine".to_owned()]));
}
