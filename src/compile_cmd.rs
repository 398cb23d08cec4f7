//! `blocklist-edge compile`: HostlistCompiler's command line (`-c config.json -o out.txt`, or
//! `-i FILE|URL … [-t hosts|adblock]`), natively.

use anyhow::{Context, Result, bail};
use hostlist::{Configuration, Fetch, Stamp};
use std::io::Write;
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
    /// Compile inside the compiler component (on wasmtime) instead of natively; local sources are
    /// read here and passed to it inline, URL sources it fetches itself.
    #[arg(long)]
    component: bool,
    /// With --component: the compiler component (.wasm); default: the built-in one.
    #[arg(long, requires = "component")]
    compiler_wasm: Option<PathBuf>,
    /// With --component: the instance's memory cap, in MiB.
    #[arg(long, default_value_t = 2048, requires = "component")]
    memory_mib: usize,
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
    fn read_local_lines(&self, path: &str) -> Result<Vec<String>, String> {
        hostlist::download::read_file_lines(path, MAX_SOURCE_BYTES)
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

/// The transformations of the configuration `-i` builds, as the reference's CLI does.
const CLI_TRANSFORMATIONS: [&str; 6] =
    ["RemoveComments", "Deduplicate", "Compress", "Validate", "TrimLines", "InsertFinalNewLine"];

/// The configuration `-i` builds, as the reference's CLI does.
fn config_for_inputs(inputs: &[String], input_type: &str) -> Result<Configuration> {
    let sources: Vec<serde_json::Value> =
        inputs.iter().map(|i| serde_json::json!({"source": i, "type": input_type})).collect();
    let value = serde_json::json!({"name": "Blocklist", "sources": sources, "transformations": CLI_TRANSFORMATIONS});
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
    let stamp = stamp(SystemTime::now());
    if args.component {
        return compile_in_component(&args, &stamp);
    }
    let lines = hostlist::compile(&config, &NativeFetch::new(), &stamp)?;
    // Written line by line: no second copy of the list as one string.
    let write = || -> std::io::Result<()> {
        let mut out =
            std::io::BufWriter::with_capacity(hostlist::download::READ_PIECE, std::fs::File::create(&args.output)?);
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                out.write_all(b"\n")?;
            }
            out.write_all(line.as_bytes())?;
        }
        out.flush()
    };
    write().with_context(|| format!("writing {}", args.output.display()))?;
    Ok(())
}

/// Compiles in the compiler component: it reads the sources from the working directory and
/// writes the list itself (through wasi:filesystem), so neither crosses the boundary whole.
fn compile_in_component(args: &CompileArgs, stamp: &Stamp) -> Result<()> {
    let wasm: std::borrow::Cow<'static, [u8]> = match &args.compiler_wasm {
        Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?.into(),
        None => crate::embedded::COMPILER.into(),
    };
    let runner = crate::compiler::Runner::new(&wasm, args.memory_mib * 1024 * 1024)?;
    let configuration = config_json(args)?;
    let workdir = std::env::current_dir()?;
    let out_name = args.output.file_name().and_then(|n| n.to_str()).context("--output must name a file")?;
    let outdir = match args.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => workdir.clone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result = runtime.block_on(runner.compile_files(
        &configuration,
        &workdir,
        &outdir,
        out_name,
        &stamp.last_modified,
        Duration::from_secs(3600),
    ))?;
    match result {
        Ok(_rules) => Ok(()),
        Err(crate::compiler::CompileError::InvalidConfiguration(m))
        | Err(crate::compiler::CompileError::Source(m))
        | Err(crate::compiler::CompileError::Pattern(m)) => {
            // A failed compile leaves no partial list behind.
            let _ = std::fs::remove_file(&args.output);
            bail!("{m}")
        }
    }
}

/// The configuration's JSON text, as given or as `-i` builds it.
fn config_json(args: &CompileArgs) -> Result<String> {
    match &args.config {
        Some(path) => Ok(std::fs::read_to_string(path)?),
        None => Ok(serde_json::json!({
            "name": "Blocklist",
            "sources": args.input.iter().map(|i| serde_json::json!({"source": i, "type": args.input_type})).collect::<Vec<_>>(),
            "transformations": CLI_TRANSFORMATIONS,
        })
        .to_string()),
    }
}
