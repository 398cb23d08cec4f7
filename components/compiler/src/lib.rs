//! The compiler component: the `hostlist` crate behind `blocklist:compiler/compiler`.
//!
//! Sources come inline (by location) or, for `http(s)` URLs not given inline, through
//! `wasi:http/outgoing-handler` — which hosts may be reached is the host's decision (Spin's
//! `allowed_outbound_hosts`, the blocklist-edge host's allow-list).

wit_bindgen::generate!({
    world: "compiler-component",
    path: "../../wit",
    generate_all,
});

use exports::blocklist::compiler::compiler::{
    CompileError, Compiled, ExplainError, ExplainScope, ExplainStep, Explanation, FetchError, FetchOutcome,
    FetchedSource, Guest, RuleMatch, RuleRole, SourceFile, TracedLine, Validators,
};
use std::collections::HashMap;
use std::time::Duration;

/// Largest local source file read.
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Largest body fetched for one URL source.
const MAX_FETCH_BYTES: usize = 64 * 1024 * 1024;

/// Time to connect to a source's server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Time a source's server may take to start answering, and may then pause between bytes.
/// Under a request's default deadline (10 s), so that a preview whose source stalls answers
/// that the source failed (422) rather than running out of time.
const STALL_TIMEOUT: Duration = Duration::from_secs(8);

struct Component;

struct Sources {
    files: HashMap<String, String>,
}

impl hostlist::Fetch for Sources {
    fn read_local_lines(&self, path: &str) -> Result<Vec<String>, String> {
        self.files
            .get(path)
            .map(|text| hostlist::download::split_lines(text))
            .ok_or_else(|| format!("source {path:?} was not given (local sources must be passed inline)"))
    }

    fn get_url(&self, url: &str) -> Result<String, String> {
        if let Some(c) = self.files.get(url) {
            return Ok(c.clone());
        }
        fetch(url)
    }
}

/// GET `url` through wasi:http (wstd's client), with the reference's checks (status 200, a
/// text content type).
fn fetch(url: &str) -> Result<String, String> {
    match fetch_conditional(url, &Validators { etag: None, last_modified: None }) {
        Ok(FetchOutcome::Modified(body)) => Ok(body.content),
        Ok(FetchOutcome::NotModified) => Err(format!("Response status for url {url} is invalid: 304")),
        Err(e) => Err(e.message),
    }
}

/// GET `url`, with `If-None-Match` / `If-Modified-Since` from `validators`: `304` is
/// [`FetchOutcome::NotModified`] when any was sent.
fn fetch_conditional(url: &str, validators: &Validators) -> Result<FetchOutcome, FetchError> {
    let failed = |why: String| FetchError { status: None, message: format!("Failed to request url '{url}': {why}") };
    let parsed = url::Url::parse(url).map_err(|e| failed(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(failed(format!("unsupported scheme {:?}", parsed.scheme())));
    }
    let mut request = wstd::http::Request::get(parsed.as_str());
    let conditional = validators.etag.is_some() || validators.last_modified.is_some();
    if let Some(etag) = &validators.etag {
        request = request.header("if-none-match", etag.as_str());
    }
    if let Some(date) = &validators.last_modified {
        request = request.header("if-modified-since", date.as_str());
    }
    let request = request.body(()).map_err(|e| failed(e.to_string()))?;
    let mut client = wstd::http::Client::new();
    client.set_connect_timeout(CONNECT_TIMEOUT);
    client.set_first_byte_timeout(STALL_TIMEOUT);
    client.set_between_bytes_timeout(STALL_TIMEOUT);
    wstd::runtime::block_on(async {
        let response = client.send(request).await.map_err(|e| failed(format!("{e:#}")))?;
        let status = response.status().as_u16();
        if status == 304 && conditional {
            return Ok(FetchOutcome::NotModified);
        }
        if status != 200 {
            return Err(FetchError {
                status: Some(status),
                message: format!("Response status for url {url} is invalid: {status}"),
            });
        }
        let header = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned).filter(|v| !v.is_empty())
        };
        let (etag, last_modified) = (header("etag"), header("last-modified"));
        let text_like = response.headers().get_all("content-type").iter().any(|v| {
            let v = String::from_utf8_lossy(v.as_bytes());
            ["text/plain", "text/html", "application/octet-stream"].iter().any(|t| v.contains(t))
        });
        if !text_like {
            return Err(FetchError {
                status: Some(status),
                message: "Response content type should be one of: \"text/plain, text/html, application/octet-stream\""
                    .into(),
            });
        }
        let body = http_body_util::Limited::new(response.into_body().into_boxed_body(), MAX_FETCH_BYTES);
        let bytes = match http_body_util::BodyExt::collect(body).await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(FetchError {
                    status: Some(status),
                    ..failed(format!("the body is larger than {MAX_FETCH_BYTES} bytes"))
                });
            }
            Err(e) => return Err(FetchError { status: Some(status), ..failed(e.to_string()) }),
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let content = text.strip_prefix('\u{feff}').map(str::to_owned).unwrap_or(text);
        Ok(FetchOutcome::Modified(FetchedSource { content, etag, last_modified }))
    })
}

/// Sources read through wasi:filesystem (and wasi:http for URLs).
struct FileSources;

impl hostlist::Fetch for FileSources {
    fn read_local_lines(&self, path: &str) -> Result<Vec<String>, String> {
        hostlist::download::read_file_lines(path, MAX_FILE_BYTES)
    }

    fn get_url(&self, url: &str) -> Result<String, String> {
        fetch(url)
    }
}

fn stamp(last_modified: String) -> hostlist::Stamp {
    hostlist::Stamp { last_modified, compiled_by: concat!("blocklist-edge v", env!("CARGO_PKG_VERSION")).to_owned() }
}

fn configuration(json: &str) -> Result<hostlist::Configuration, CompileError> {
    hostlist::Configuration::from_json(json).map_err(|e| CompileError::InvalidConfiguration(e.to_string()))
}

fn compile_error(e: hostlist::CompileError) -> CompileError {
    match e {
        hostlist::CompileError::Config(c) => CompileError::InvalidConfiguration(c.to_string()),
        hostlist::CompileError::Download { .. } => CompileError::Source(e.to_string()),
        hostlist::CompileError::Pattern(p) => CompileError::Pattern(p.to_string()),
    }
}

fn run(
    configuration_json: &str,
    fetch: &dyn hostlist::Fetch,
    last_modified: String,
) -> Result<Vec<String>, CompileError> {
    hostlist::compile(&configuration(configuration_json)?, fetch, &stamp(last_modified)).map_err(compile_error)
}

/// A matching line of the compiled list, as the interface gives it.
fn rule_match(m: dns_filter::Match) -> RuleMatch {
    let role = match m.role {
        dns_filter::Role::Block => RuleRole::Block,
        dns_filter::Role::Exception => RuleRole::Exception,
        dns_filter::Role::ImportantBlock => RuleRole::ImportantBlock,
        dns_filter::Role::ImportantException => RuleRole::ImportantException,
        dns_filter::Role::Badfiltered => RuleRole::Badfiltered,
        dns_filter::Role::Badfilter => RuleRole::Badfilter,
    };
    RuleMatch { text: m.text, line: m.line, role, hosts: m.hosts }
}

/// An explanation, as the interface gives it.
fn explanation(e: hostlist::explain::Explanation) -> Explanation {
    let lines = e
        .lines
        .into_iter()
        .map(|l| TracedLine {
            source: l.source,
            line: l.line,
            text: l.text,
            steps: l
                .steps
                .into_iter()
                .map(|s| ExplainStep {
                    stage: s.stage,
                    scope: match s.scope {
                        hostlist::explain::Scope::Source => ExplainScope::Source,
                        hostlist::explain::Scope::List => ExplainScope::List,
                    },
                    result: s.result,
                    why: s.why,
                })
                .collect(),
            output: l.output,
        })
        .collect();
    Explanation {
        name: e.name,
        blocked: e.verdict.blocked,
        decided_by: e.verdict.decided_by.map(rule_match),
        matches: e.verdict.matches.into_iter().map(rule_match).collect(),
        lines,
        hints: e.hints,
    }
}

fn count_rules(lines: &[String]) -> u32 {
    lines.iter().filter(|l| !l.is_empty() && !hostlist::rule::is_comment(l)).count() as u32
}

impl Guest for Component {
    fn fetch_source(url: String, validators: Validators) -> Result<FetchOutcome, FetchError> {
        fetch_conditional(&url, &validators)
    }

    fn compile_files(configuration: String, output: String, last_modified: String) -> Result<u32, CompileError> {
        use std::io::Write;
        let lines = run(&configuration, &FileSources, last_modified)?;
        let write = || -> std::io::Result<()> {
            let mut out =
                std::io::BufWriter::with_capacity(hostlist::download::READ_PIECE, std::fs::File::create(&output)?);
            for (i, line) in lines.iter().enumerate() {
                if i > 0 {
                    out.write_all(b"\n")?;
                }
                out.write_all(line.as_bytes())?;
            }
            out.flush()
        };
        write().map_err(|e| CompileError::Source(format!("writing {output:?}: {e}")))?;
        Ok(count_rules(&lines))
    }

    fn compile(configuration: String, files: Vec<SourceFile>, last_modified: String) -> Result<Compiled, CompileError> {
        let sources = Sources { files: files.into_iter().map(|f| (f.location, f.content)).collect() };
        let lines = run(&configuration, &sources, last_modified)?;
        Ok(Compiled { rules: count_rules(&lines), text: lines.join("\n") })
    }

    fn explain(configuration_json: String, files: Vec<SourceFile>, name: String) -> Result<Explanation, ExplainError> {
        let config = configuration(&configuration_json).map_err(ExplainError::Compile)?;
        let sources = Sources { files: files.into_iter().map(|f| (f.location, f.content)).collect() };
        match hostlist::explain::explain(&config, &sources, &name) {
            Ok(e) => Ok(explanation(e)),
            Err(hostlist::explain::ExplainError::Name(e)) => Err(ExplainError::InvalidName(e.to_string())),
            Err(hostlist::explain::ExplainError::Compile(e)) => Err(ExplainError::Compile(compile_error(e))),
        }
    }
}

#[cfg(target_arch = "wasm32")]
export!(Component);
