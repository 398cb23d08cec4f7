use super::*;
use crate::download::split_lines;

/// Sources given by location.
struct Files(HashMap<String, String>);

impl Fetch for Files {
    fn read_local_lines(&self, path: &str) -> Result<Vec<String>, String> {
        self.0.get(path).map(|t| split_lines(t)).ok_or_else(|| format!("no file {path}"))
    }

    fn get_url(&self, url: &str) -> Result<String, String> {
        self.0.get(url).cloned().ok_or_else(|| format!("no url {url}"))
    }
}

fn run(config: serde_json::Value, files: &[(&str, &str)], name: &str) -> Explanation {
    let config = Configuration::parse(&config).unwrap();
    let files = Files(files.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    explain(&config, &files, name).unwrap()
}

fn traced<'a>(e: &'a Explanation, text: &str) -> &'a TracedLine {
    e.lines.iter().find(|l| l.text == text).unwrap_or_else(|| panic!("{text:?} not traced in {e:#?}"))
}

#[test]
fn an_adblock_exclusion_does_not_remove_a_hosts_line_and_the_explanation_says_so() {
    let e = run(
        serde_json::json!({
            "name": "l",
            "sources": [{"source": "hosts.txt"}],
            "exclusions": ["||ads.example.com^"],
            "transformations": ["Compress"],
        }),
        &[("hosts.txt", "0.0.0.0 ads.example.com\n0.0.0.0 other.example\n")],
        "Ads.Example.com.",
    );
    assert_eq!(e.name, "ads.example.com");
    assert!(e.verdict.blocked);
    let line = traced(&e, "0.0.0.0 ads.example.com");
    assert_eq!((line.source.as_str(), line.line), ("hosts.txt", 1));
    assert_eq!(line.steps.len(), 1, "{:?}", line.steps);
    assert_eq!(line.steps[0].stage, "Compress");
    assert_eq!(line.steps[0].scope, Scope::List);
    assert_eq!(line.output, ["||ads.example.com^"]);
    assert_eq!(e.verdict.decided_by.as_ref().unwrap().text, "||ads.example.com^");
    assert_eq!(e.hints.len(), 1, "{:?}", e.hints);
    assert!(e.hints[0].contains("\"||ads.example.com^\" does not match \"0.0.0.0 ads.example.com\""), "{}", e.hints[0]);
    assert!(e.lines.iter().all(|l| l.text != "0.0.0.0 other.example"));
}

#[test]
fn a_plain_exclusion_removes_the_line_before_transformations_and_names_the_pattern() {
    let e = run(
        serde_json::json!({
            "name": "l",
            "sources": [{"source": "hosts.txt", "exclusions": ["ads.example.com"]}],
            "transformations": ["Compress"],
        }),
        &[("hosts.txt", "0.0.0.0 ads.example.com\n0.0.0.0 other.example\n")],
        "ads.example.com",
    );
    assert!(!e.verdict.blocked);
    assert!(e.verdict.matches.is_empty());
    let line = traced(&e, "0.0.0.0 ads.example.com");
    assert_eq!(line.steps.len(), 1);
    let s = &line.steps[0];
    assert_eq!((s.stage.as_str(), s.scope, s.result.is_empty()), ("exclusions", Scope::Source, true));
    assert_eq!(s.why.as_deref(), Some("matches the exclusion pattern \"ads.example.com\""));
    assert!(line.output.is_empty());
    assert!(e.hints.is_empty());
}

#[test]
fn compress_drops_a_subdomain_for_its_parent_and_names_the_rule_kept() {
    let e = run(
        serde_json::json!({
            "name": "l",
            "sources": [{"source": "a.txt"}, {"source": "b.txt"}],
            "transformations": ["Compress", "Deduplicate"],
        }),
        &[("a.txt", "0.0.0.0 ads.example.com\n"), ("b.txt", "||example.com^\n||example.com^\n")],
        "ads.example.com",
    );
    let sub = traced(&e, "0.0.0.0 ads.example.com");
    assert!(sub.output.is_empty());
    let why = sub.steps.last().unwrap().why.as_deref().unwrap();
    assert!(why.contains("\"||example.com^\""), "{why}");
    assert!(e.verdict.blocked);
    assert_eq!(e.verdict.decided_by.as_ref().unwrap().text, "||example.com^");
    // The parent's two lines: Compress keeps the first of one host.
    let parents: Vec<&TracedLine> = e.lines.iter().filter(|l| l.text == "||example.com^").collect();
    assert_eq!(parents.len(), 2);
    assert_eq!(parents[0].output, ["||example.com^"]);
    assert!(parents[1].output.is_empty());
}

#[test]
fn deduplicate_keeps_the_last_repeat_and_validate_removes_what_a_dns_blocker_cannot_use() {
    let e = run(
        serde_json::json!({
            "name": "l",
            "sources": [{"source": "a.txt"}, {"source": "b.txt"}],
            "transformations": ["Validate", "Deduplicate"],
        }),
        &[("a.txt", "||ads.example.com^\n||ads.example.com^$popup\n"), ("b.txt", "||ads.example.com^\n")],
        "ads.example.com",
    );
    let lines: Vec<&TracedLine> = e.lines.iter().filter(|l| l.text == "||ads.example.com^").collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].output.is_empty());
    assert_eq!(lines[0].steps[0].stage, "Deduplicate");
    assert!(lines[0].steps[0].why.as_deref().unwrap().contains("line 1 of source 2"), "{:?}", lines[0].steps);
    assert_eq!(lines[1].output, ["||ads.example.com^"]);
    let popup = traced(&e, "||ads.example.com^$popup");
    assert_eq!(popup.steps[0].stage, "Validate");
    assert!(popup.output.is_empty());
}

#[test]
fn rewrites_are_followed_exceptions_and_regular_expressions_found() {
    let e = run(
        serde_json::json!({
            "name": "l",
            "sources": [{"source": "a.txt", "transformations": ["RemoveModifiers", "TrimLines"]}],
        }),
        &[("a.txt", "  ||example.com^$third-party\n@@||ads.example.com^\n/^ad[s]?\\./\n")],
        "ads.example.com",
    );
    // Reading a source trims its lines already.
    let third = traced(&e, "||example.com^$third-party");
    assert_eq!(third.steps.iter().map(|s| s.stage.as_str()).collect::<Vec<_>>(), ["RemoveModifiers"]);
    assert_eq!(third.output, ["||example.com^"]);
    traced(&e, "@@||ads.example.com^");
    traced(&e, "/^ad[s]?\\./");
    assert!(!e.verdict.blocked, "the exception wins: {:?}", e.verdict);
    assert_eq!(e.verdict.decided_by.as_ref().unwrap().text, "@@||ads.example.com^");
}

#[test]
fn a_name_that_is_not_a_dns_name_is_an_error() {
    let config = Configuration::parse(&serde_json::json!({"name": "l", "sources": [{"source": "a.txt"}]})).unwrap();
    let files = Files(HashMap::from([("a.txt".to_owned(), "x.example\n".to_owned())]));
    assert!(matches!(explain(&config, &files, "not a name"), Err(ExplainError::Name(_))));
}

/// On generated lists, for every name of the vocabulary: what the trace says each line becomes
/// is in the real output, and every output line that matches the name comes from a traced line.
#[test]
fn the_trace_agrees_with_the_real_compile_on_generated_lists() {
    let names = ["example.com", "ads.example.com", "x.ads.example.com", "example.org", "tracker.example.org", "com"];
    let forms: [&dyn Fn(&str) -> String; 8] = [
        &|d| format!("0.0.0.0 {d}"),
        &|d| format!("||{d}^"),
        &|d| format!("@@||{d}^"),
        &|d| d.to_owned(),
        &|d| format!("||{d}^$important"),
        &|d| format!("||{d}^$third-party"),
        &|d| format!("127.0.0.1 {d} www.{d}"),
        &|d| format!("! about {d}"),
    ];
    let transformations =
        ["Compress", "Deduplicate", "Validate", "RemoveModifiers", "InvertAllow", "TrimLines", "InsertFinalNewLine"];
    let mut seed: u64 = 0x5eed;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for _ in 0..200 {
        let mut files = Vec::new();
        let mut sources = Vec::new();
        for s in 0..1 + next(2) {
            let lines: Vec<String> = (0..next(8)).map(|_| forms[next(forms.len())](names[next(names.len())])).collect();
            files.push((format!("s{s}.txt"), lines.join("\n")));
            let ts: Vec<&str> = transformations.iter().copied().filter(|_| next(3) == 0).collect();
            sources.push(serde_json::json!({"source": format!("s{s}.txt"), "transformations": ts}));
        }
        let ts: Vec<&str> = transformations.iter().copied().filter(|_| next(2) == 0).collect();
        let exclusions: Vec<String> = (0..next(2)).map(|_| forms[next(2)](names[next(names.len())])).collect();
        let config =
            serde_json::json!({"name": "l", "sources": sources, "transformations": ts, "exclusions": exclusions});
        let files: Vec<(&str, &str)> = files.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let parsed = Configuration::parse(&config).unwrap();
        let fetch = Files(files.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        let stamp = Stamp { last_modified: String::new(), compiled_by: String::new() };
        let output = compile::compile(&parsed, &fetch, &stamp).unwrap();
        for name in names {
            let e = run(config.clone(), &files, name);
            for line in &e.lines {
                assert!(line.output.len() <= 2, "{name}: {line:?}");
                for t in &line.output {
                    assert!(!t.is_empty(), "{name}: an empty line from {line:?}");
                    assert!(output.contains(t), "{name}: {t:?} from {line:?} is not in {output:?} ({config})");
                }
            }
            for m in &e.verdict.matches {
                assert!(
                    e.lines.iter().any(|l| l.output.contains(&m.text)),
                    "{name}: the output's {:?} comes from no traced line ({config}, {files:?}): {e:#?}",
                    m.text
                );
            }
        }
    }
}
