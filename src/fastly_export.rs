//! `blocklist-edge export-fastly`: a data directory's `lists` store as Fastly KV store entries,
//! and a `fastly.toml` with which Viceroy (Fastly's local runtime) serves them through the
//! gateway for Fastly Compute (`compose --fastly`).
//!
//! The output directory holds:
//!
//! - `kv/lists/{n}`: each value, as its bytes (values are binary: gzip chunks, indexes);
//! - `kv/lists.json`: `{key: {"file": path}}`, the JSON form Viceroy loads a KV store from;
//! - `fastly.toml`: Viceroy's `[local_server]`: the `lists` store from that file, empty `cache`
//!   and `default` stores (the node cache and the limiter's counters), and the config store
//!   `blocklist_edge` with the values given with `--set`.
//!
//! Only `lists` is exported: `cache` is a node's cache of it, `default` holds rate-limit
//! counters. Export from a backup (`blocklist-edge backup`) or a quiet host: the values are
//! read one by one, not as one snapshot.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The bucket exported.
const BUCKET: &str = "lists";

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The data directory to export (a host's, or a backup).
    #[arg(long, env = "BLOCKLIST_EDGE_DATA_DIR", default_value = ".blocklist-edge")]
    pub data_dir: PathBuf,
    /// The directory to write to; it must not exist.
    #[arg(short, long)]
    pub output: PathBuf,
    /// A configuration value for the config store (`name=value`, e.g.
    /// `admin_token_sha256=…`); repeatable. Names are the Spin variables' (spin.toml).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
}

pub fn run(args: &ExportArgs) -> Result<()> {
    let config = parse_settings(&args.set)?;
    let data = args.data_dir.join(crate::datadir::DATA);
    if !data.is_file() {
        bail!("{} has no {}: not a blocklist-edge data directory", args.data_dir.display(), crate::datadir::DATA);
    }
    if args.output.exists() {
        bail!("{} exists already; name a new directory", args.output.display());
    }
    let store = keyvalue_sqlite::Store::open(&data).with_context(|| format!("opening {}", data.display()))?;
    let values_dir = args.output.join("kv").join(BUCKET);
    std::fs::create_dir_all(&values_dir).with_context(|| format!("creating {}", values_dir.display()))?;
    let out = std::fs::canonicalize(&args.output)?;
    let mut entries = serde_json::Map::new();
    let mut bytes = 0u64;
    for (n, key) in store.all_keys(BUCKET).with_context(|| format!("listing {BUCKET}"))?.into_iter().enumerate() {
        // A key deleted since the listing is skipped.
        let Some(value) = store.get(BUCKET, &key).with_context(|| format!("reading {key:?}"))? else { continue };
        let file = out.join("kv").join(BUCKET).join(format!("{n:06}"));
        std::fs::write(&file, &value).with_context(|| format!("writing {}", file.display()))?;
        bytes += value.len() as u64;
        entries.insert(key, serde_json::json!({ "file": file.to_string_lossy() }));
    }
    let count = entries.len();
    let index = out.join("kv").join(format!("{BUCKET}.json"));
    std::fs::write(&index, serde_json::to_vec_pretty(&entries)?)
        .with_context(|| format!("writing {}", index.display()))?;
    let manifest = out.join("fastly.toml");
    std::fs::write(&manifest, fastly_toml(&args.data_dir, &index, &config))
        .with_context(|| format!("writing {}", manifest.display()))?;
    println!("wrote {count} entries ({bytes} bytes) of {BUCKET:?} and {}", manifest.display());
    Ok(())
}

/// `--set` values, checked against the known configuration names.
fn parse_settings(set: &[String]) -> Result<Vec<(String, String)>> {
    set.iter()
        .map(|pair| {
            let Some((name, value)) = pair.split_once('=') else {
                bail!("--set {pair:?}: expected NAME=VALUE");
            };
            if !blocklist_model::variables::ALL.contains(&name) {
                bail!("--set {pair:?}: {name:?} is not a configuration value (see spin.toml's [variables])");
            }
            Ok((name.to_owned(), value.to_owned()))
        })
        .collect()
}

/// A TOML basic string (JSON's escapes are TOML's).
fn toml_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn fastly_toml(data_dir: &Path, index: &Path, config: &[(String, String)]) -> String {
    let mut toml = format!(
        "# Written by `blocklist-edge export-fastly` from {}: the stores with which Viceroy runs the\n\
         # gateway for Fastly Compute (`blocklist-edge compose --fastly`):\n\
         #   viceroy serve -C fastly.toml gateway-fastly.wasm\n\
         manifest_version = 3\n\
         name = \"blocklist-edge\"\n\
         language = \"other\"\n\n\
         [local_server.kv_stores]\n\
         {BUCKET} = {{ file = {}, format = \"json\" }}\n\
         cache = []\n\
         default = []\n\n\
         [local_server.config_stores.blocklist_edge]\n\
         format = \"inline-toml\"\n\n\
         [local_server.config_stores.blocklist_edge.contents]\n",
        data_dir.display(),
        toml_string(&index.to_string_lossy()),
    );
    for (name, value) in config {
        toml.push_str(&format!("{name} = {}\n", toml_string(value)));
    }
    toml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        assert_eq!(
            parse_settings(&["rate_limit_requests=5".into()]).unwrap(),
            [("rate_limit_requests".into(), "5".into())]
        );
        assert!(parse_settings(&["rate_limit_requests".into()]).is_err());
        assert!(parse_settings(&["no_such_value=1".into()]).is_err());
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(toml_string("a\"b\\c\n"), r#""a\"b\\c\n""#);
    }
}
