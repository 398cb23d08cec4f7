//! `blocklist-edge compile`: HostlistCompiler's command line (`-c config.json -o out.txt`, or
//! `-i FILE|URL … [-t hosts|adblock]`), natively.

use anyhow::{Context, Result, bail};
use hostlist::{Configuration, Fetch, Stamp};
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Largest source read, in bytes (a file or an HTTP body).
pub const MAX_SOURCE_BYTES: u64 = 256 * 1024 * 1024;
/// Time allowed for one HTTP fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

/// The arguments, as hostlist-compiler names them.
#[derive(clap::Args)]
pub struct CompileArgs {
    /// Path to the compiler configuration file.
    #[arg(short, long, conflicts_with = "input")]
    config: Option<PathBuf>,
    /// URL (or path to a file) to convert to an AdGuard-syntax blocklist; repeatable.
    #[arg(short, long, num_args = 1)]
    input: Vec<String>,
    /// Type of the input files: hosts (default) or adblock.
    #[arg(short = 't', long = "input-type", value_parser = ["hosts", "adblock"], default_value = "hosts")]
    input_type: String,
    /// Path to the output file.
    #[arg(short, long)]
    output: PathBuf,
}

/// Reads sources from the file system (relative to the working directory) and over HTTP(S),
/// with the reference's checks on responses (status 200, a text content type).
pub struct NativeFetch {
    agent: ureq::Agent,
}

impl NativeFetch {
    pub fn new() -> NativeFetch {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(FETCH_TIMEOUT))
            .http_status_as_error(false)
            .user_agent(concat!("blocklist-edge/", env!("CARGO_PKG_VERSION")))
            .build();
        NativeFetch { agent: config.into() }
    }
}

fn decode(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

impl Fetch for NativeFetch {
    fn read_local(&self, path: &str) -> Result<String, String> {
        let file = std::fs::File::open(path).map_err(|e| format!("cannot open {path:?}: {e}"))?;
        let mut bytes = Vec::new();
        file.take(MAX_SOURCE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read {path:?}: {e}"))?;
        if bytes.len() as u64 > MAX_SOURCE_BYTES {
            return Err(format!("{path:?} is larger than {MAX_SOURCE_BYTES} bytes"));
        }
        Ok(decode(bytes))
    }

    fn get_url(&self, url: &str) -> Result<String, String> {
        let mut resp = self.agent.get(url).call().map_err(|e| format!("Failed to request url '{url}': {e}"))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(format!("Response status for url {url} is invalid: {status}"));
        }
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !["text/plain", "text/html", "application/octet-stream"].iter().any(|t| ct.contains(t)) {
            return Err(
                "Response content type should be one of: \"text/plain, text/html, application/octet-stream\"".into()
            );
        }
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_SOURCE_BYTES)
            .read_to_vec()
            .map_err(|e| format!("Failed to request url '{url}': {e}"))?;
        let text = decode(bytes);
        Ok(text.strip_prefix('\u{feff}').map(str::to_owned).unwrap_or(text))
    }
}

/// The configuration `-i` builds, as the reference's CLI does.
fn config_for_inputs(inputs: &[String], input_type: &str) -> Result<Configuration> {
    let sources: Vec<serde_json::Value> =
        inputs.iter().map(|i| serde_json::json!({"source": i, "type": input_type})).collect();
    let value = serde_json::json!({
        "name": "Blocklist",
        "sources": sources,
        "transformations": ["RemoveComments", "Deduplicate", "Compress", "Validate", "TrimLines", "InsertFinalNewLine"],
    });
    Ok(Configuration::from_value(&value)?)
}

/// The header stamp: now, and this program.
pub fn stamp(now: SystemTime) -> Stamp {
    Stamp {
        last_modified: humantime::format_rfc3339_millis(now).to_string(),
        compiled_by: concat!("blocklist-edge v", env!("CARGO_PKG_VERSION")).to_owned(),
    }
}

/// Runs `blocklist-edge compile`.
pub fn run(args: CompileArgs) -> Result<()> {
    let config = match (&args.config, args.input.is_empty()) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Configuration::from_json(&text).with_context(|| format!("in {}", path.display()))?
        }
        (None, false) => config_for_inputs(&args.input, &args.input_type)?,
        (None, true) => bail!("either --input or --config must be specified"),
    };
    let text = hostlist::compile_to_string(&config, &NativeFetch::new(), &stamp(SystemTime::now()))?;
    std::fs::write(&args.output, text).with_context(|| format!("writing {}", args.output.display()))?;
    Ok(())
}
