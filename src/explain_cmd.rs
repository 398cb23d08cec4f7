//! `blocklist-edge explain -c config.json NAME`: what compiling a configuration does with a
//! name, natively (`hostlist::explain`): the source lines that mention it, what each step did
//! to each, and which lines of the compiled list decide a DNS query for it.

use crate::compile_cmd::NativeFetch;
use anyhow::{Context, Result};
use hostlist::Configuration;
use hostlist::explain::{Explanation, Scope};
use std::fmt::Write;
use std::path::PathBuf;

/// The arguments.
#[derive(clap::Args)]
pub struct ExplainArgs {
    /// Path to the compiler configuration file (HostlistCompiler's JSON).
    #[arg(short, long)]
    config: PathBuf,
    /// The name to explain (e.g. ads.example.com).
    name: String,
    /// Print the explanation as JSON (the shape of `GET /v1/lists/{id}/explain`).
    #[arg(long)]
    json: bool,
}

/// Runs `blocklist-edge explain`.
pub fn run(args: ExplainArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.config).with_context(|| format!("reading {}", args.config.display()))?;
    let config = Configuration::from_json(&text).with_context(|| format!("in {}", args.config.display()))?;
    let explanation = hostlist::explain::explain(&config, &NativeFetch::new(), &args.name)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&explanation)?);
    } else {
        print!("{}", render(&explanation));
    }
    Ok(())
}

/// The explanation as text, for a person.
pub fn render(e: &Explanation) -> String {
    let mut out = String::new();
    let v = &e.verdict;
    let verdict = match (&v.decided_by, v.blocked) {
        (Some(m), true) => format!("blocked by line {} of the compiled list: {}", m.line, m.text),
        (Some(m), false) => {
            format!("not blocked: the exception on line {} of the compiled list wins: {}", m.line, m.text)
        }
        (None, _) => "not blocked: no line of the compiled list matches it".to_owned(),
    };
    let _ = writeln!(out, "{}: {verdict}", e.name);
    for m in &v.matches {
        let _ = writeln!(out, "  line {} ({:?}): {}", m.line, m.role, m.text);
    }
    if e.lines.is_empty() {
        let _ = writeln!(out, "\nNo source line mentions {}.", e.name);
    }
    for line in &e.lines {
        let _ = writeln!(out, "\n{}, line {}: {}", line.source, line.line, line.text);
        for s in &line.steps {
            let scope = match s.scope {
                Scope::Source => "the source's",
                Scope::List => "the list's",
            };
            let what = if s.result.is_empty() { "removed".to_owned() } else { format!("now {}", s.result.join(" + ")) };
            let why = s.why.as_deref().map(|w| format!(": {w}")).unwrap_or_default();
            let _ = writeln!(out, "  {} ({scope}): {what}{why}", s.stage);
        }
        if line.output.is_empty() {
            let _ = writeln!(out, "  not in the compiled list");
        }
        for t in &line.output {
            match v.matches.iter().find(|m| &m.text == t) {
                Some(m) => {
                    let _ = writeln!(out, "  in the compiled list as line {} ({:?}): {t}", m.line, m.role);
                }
                None => {
                    let _ = writeln!(out, "  in the compiled list: {t}");
                }
            }
        }
    }
    for hint in &e.hints {
        let _ = writeln!(out, "\nhint: {hint}");
    }
    out
}
