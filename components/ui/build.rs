//! Builds the dashboard's files (`site/`) into the component: each file but `index.html` is
//! served under a name with its content's hash (`app.3f9c0e12ab45.js`, cached for a year, never
//! revalidated); `index.html` and the scripts' `import`s refer to those names, and `index.html`
//! is revalidated by its `ETag`. Files are
//! gzipped here once (kept only when smaller). Writes `$OUT_DIR/site.rs`: the table
//! `src/lib.rs` serves from.

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The content type of a file by its extension.
fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => panic!("site/{name}: no content type known for this extension (add one in build.rs)"),
    }
}

/// The modules a script imports: `from './x.js'` (the dashboard's scripts import only each
/// other, by relative name).
fn imports(script: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(script).expect("scripts are UTF-8");
    text.match_indices("from './")
        .filter_map(|(at, from)| {
            let rest = &text[at + from.len()..];
            rest.find('\'').map(|end| rest[..end].to_owned())
        })
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn main() {
    let site = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("site");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed={}", site.display());
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&site)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_str().unwrap().to_owned(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    for (name, _) in &files {
        println!("cargo:rerun-if-changed={}", site.join(name).display());
    }
    let hash = |bytes: &[u8]| hex::encode(&Sha256::digest(bytes)[..6]);
    // Hashed names, a file once the modules it imports have theirs: its imports are rewritten to
    // those names first, so its own hash covers them (a change anywhere renames every importer).
    let mut named: BTreeMap<String, (String, Vec<u8>)> = BTreeMap::new();
    let assets: Vec<&(String, Vec<u8>)> = files.iter().filter(|(name, _)| name != "index.html").collect();
    while named.len() < assets.len() {
        let before = named.len();
        for (name, bytes) in &assets {
            let deps = if name.ends_with(".js") { imports(bytes) } else { Vec::new() };
            if named.contains_key(name) || !deps.iter().all(|d| named.contains_key(d)) {
                continue;
            }
            let mut body = bytes.clone();
            if !deps.is_empty() {
                let mut text = String::from_utf8(body).unwrap();
                for d in &deps {
                    text = text.replace(&format!("from './{d}'"), &format!("from './{}'", named[d].0));
                }
                body = text.into_bytes();
            }
            let (stem, ext) = name.rsplit_once('.').expect("site files have an extension");
            named.insert(name.clone(), (format!("{stem}.{}.{ext}", hash(&body)), body));
        }
        let stuck: Vec<&String> = assets.iter().map(|(n, _)| n).filter(|n| !named.contains_key(*n)).collect();
        assert!(named.len() > before, "site/: {stuck:?} import each other in a cycle, or a file that is not in site/");
    }
    let mut table =
        String::from("/// The dashboard's files: (path, content type, body, gzipped body, ETag, immutable).\n");
    table.push_str("pub static FILES: &[File] = &[\n");
    for (n, (name, bytes)) in files.iter().enumerate() {
        let (path, body, immutable) = if name == "index.html" {
            let mut html = String::from_utf8(bytes.clone()).expect("index.html is UTF-8");
            for (from, (to, _)) in &named {
                html = html.replace(&format!("assets/{from}\""), &format!("assets/{to}\""));
            }
            ("/ui/".to_owned(), html.into_bytes(), false)
        } else {
            let (to, body) = &named[name];
            (format!("/ui/assets/{to}"), body.clone(), true)
        };
        let (plain, gz) = (out.join(format!("site-{n}")), out.join(format!("site-{n}.gz")));
        std::fs::write(&plain, &body).unwrap();
        let zipped = gzip(&body);
        let gzip_expr = if zipped.len() < body.len() {
            std::fs::write(&gz, &zipped).unwrap();
            format!("Some(include_bytes!({:?}))", gz.display().to_string())
        } else {
            "None".to_owned()
        };
        table.push_str(&format!(
            "    File {{ path: {path:?}, content_type: {:?}, body: include_bytes!({:?}), gzip: {gzip_expr}, etag: \"\\\"{}\\\"\", immutable: {immutable} }},\n",
            content_type(name),
            plain.display().to_string(),
            hash(&body),
        ));
    }
    table.push_str("];\n");
    std::fs::write(out.join("site.rs"), table).unwrap();
}
