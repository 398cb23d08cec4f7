//! Explaining a compile for one name: which source lines mention it, what each step of the
//! compile did to each of them (an exclusion or inclusion dropped it, a transformation rewrote
//! or removed it), what the compiled list holds from each, and which of its lines decide a DNS
//! query for the name.
//!
//! [`compile()`](crate::compile()) is untouched, so normal compiles pay nothing for this.
//! [`explain`] follows a group of lines through the same steps, in the same order, with the
//! same code: at each step it runs the step on the group as a whole (what the list gets) and on
//! each line alone (what the line becomes by itself), and lines up the two. A line present
//! alone but missing from the group's result was removed by its context: a repeat kept below
//! (`Deduplicate`), or a broader rule kept elsewhere (`Compress`).
//!
//! The group is every line that could matter: a line with a host-name token equal to the name
//! or to one of its parent domains, or a line AdGuard's DNS semantics ([`dns_filter`]) say
//! matches the name. The steps that look at other lines (`Deduplicate`, `Compress`, the
//! comments `Validate` drops above an invalid rule) only ever compare a line with repeats of it
//! and with rules for its parent domains, which are in the group too, so the group's fate is
//! the list's. The verdict comes from the real compile's output; a traced line's predicted
//! output that the real output does not hold would be a bug, and the tests check there is none.

use crate::compile::{self, CompileError, Stamp};
use crate::config::{Configuration, Filters};
use crate::download::Fetch;
use crate::transform::{self, Transformation};
use crate::wildcard::Matcher;
use crate::{js, rule};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

/// What a compile does with a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// The name (normalised: lower case, ASCII, no trailing dot).
    pub name: String,
    /// Whether a DNS query for the name is blocked by the compiled list, and by which of its
    /// lines (AdGuard's DNS filtering semantics, every matching line).
    pub verdict: dns_filter::Lookup,
    /// The source lines that mention the name, in source order, and what became of each.
    pub lines: Vec<TracedLine>,
    /// Exclusion patterns written for the name that removed none of the lines above, and why
    /// (exclusions match source lines as written, before any transformation).
    pub hints: Vec<String>,
}

/// A source line that mentions the name, and what the compile did with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TracedLine {
    /// The source, as the configuration names it.
    pub source: String,
    /// Its 1-based line number in the source as read (after `!#include` and `!#if`).
    pub line: u32,
    /// The line as written.
    pub text: String,
    /// Each step that removed or changed it, in order.
    pub steps: Vec<Step>,
    /// What the compiled list holds from it (empty: it was removed).
    pub output: Vec<String>,
}

/// What one step of the compile did to a traced line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// `exclusions`, `inclusions`, or a transformation's name (`Compress`, `Validate`, …).
    pub stage: String,
    /// Whether the step is the source's own (`source`) or the whole list's (`list`).
    pub scope: Scope,
    /// What the line is after the step: empty when removed.
    pub result: Vec<String>,
    /// Why, when the step's rule needs saying (the exclusion pattern, the broader rule kept).
    pub why: Option<String>,
}

/// Where a step is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    /// In a source's own `exclusions`, `inclusions` or `transformations`.
    Source,
    /// In the configuration's top-level ones, applied to the whole list.
    List,
}

/// Why an explanation could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The name is not a DNS name.
    #[error(transparent)]
    Name(#[from] dns_filter::NameError),
    /// The compile itself failed.
    #[error(transparent)]
    Compile(#[from] CompileError),
}

/// A traced line on its way through the steps.
struct Item {
    source: usize,
    line: u32,
    text: String,
    /// What it is now (empty: removed).
    texts: Vec<String>,
    steps: Vec<Step>,
    /// Whether it mentions the name (not only a parent domain's bare suffix).
    reported: bool,
}

/// Reads each source once, however often the explanation asks for it.
struct Memo<'a> {
    inner: &'a dyn Fetch,
    local: RefCell<HashMap<String, Result<Vec<String>, String>>>,
    urls: RefCell<HashMap<String, Result<String, String>>>,
}

impl Fetch for Memo<'_> {
    fn read_local_lines(&self, path: &str) -> Result<Vec<String>, String> {
        let mut local = self.local.borrow_mut();
        local.entry(path.to_owned()).or_insert_with(|| self.inner.read_local_lines(path)).clone()
    }

    fn get_url(&self, url: &str) -> Result<String, String> {
        let mut urls = self.urls.borrow_mut();
        urls.entry(url.to_owned()).or_insert_with(|| self.inner.get_url(url)).clone()
    }
}

/// Explains what compiling `config` (sources read through `fetch`) does with `name`.
pub fn explain(config: &Configuration, fetch: &dyn Fetch, name: &str) -> Result<Explanation, ExplainError> {
    let name = dns_filter::normalize_name(name)?;
    let fetch = Memo { inner: fetch, local: RefCell::default(), urls: RefCell::default() };
    let domains = domains_of(&name);
    let mut items: Vec<Item> = Vec::new();
    let mut hints = Vec::new();
    for (s, source) in config.sources.iter().enumerate() {
        let lines = compile::download(&source.source, &fetch)?;
        let matched: HashSet<u32> = dns_filter::Engine::new(&lines.join("\n"))
            .lookup(&name, None)
            .map(|l| l.matches.iter().map(|m| m.line).collect())
            .unwrap_or_default();
        let first = items.len();
        for (i, text) in lines.iter().enumerate() {
            let line = i as u32 + 1;
            if rule::is_comment(text) || js::trim(text).is_empty() {
                continue;
            }
            let mention = mentions(text, &domains);
            if mention.is_some() || matched.contains(&line) {
                let reported = matched.contains(&line) || mention == Some(Mention::Name);
                items.push(Item {
                    source: s,
                    line,
                    text: text.clone(),
                    texts: vec![text.clone()],
                    steps: vec![],
                    reported,
                });
            }
        }
        let group: Vec<usize> = (first..items.len()).collect();
        filters(&mut items, &group, &source.filters, Scope::Source, &fetch, &domains, &mut hints)?;
    }
    let group: Vec<usize> = (0..items.len()).collect();
    filters(&mut items, &group, &config.filters, Scope::List, &fetch, &domains, &mut hints)?;

    let stamp = Stamp { last_modified: String::new(), compiled_by: String::new() };
    let output = compile::compile(config, &fetch, &stamp)?;
    let verdict = dns_filter::Engine::new(&output.join("\n")).lookup(&name, None)?;
    let lines = items
        .into_iter()
        .filter(|i| i.reported || i.texts.iter().any(|t| verdict.matches.iter().any(|m| &m.text == t)))
        .map(|i| TracedLine {
            source: config.sources[i.source].source.clone(),
            line: i.line,
            text: i.text,
            steps: i.steps,
            output: i.texts,
        })
        .collect();
    Ok(Explanation { name, verdict, lines, hints })
}

/// The name and each of its parent domains (`a.b.c`, `b.c`, `c`).
fn domains_of(name: &str) -> Vec<String> {
    let mut out = vec![name.to_owned()];
    let mut rest = name;
    while let Some(dot) = rest.find('.') {
        rest = &rest[dot + 1..];
        out.push(rest.to_owned());
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mention {
    /// A token is the name itself.
    Name,
    /// A token is a parent domain of the name.
    Parent,
}

/// Whether `line` has a host-name token (letters, digits, `.`, `-`, `_`; internationalised
/// names as the compiler converts them) equal to the name (`domains[0]`) or a parent of it.
fn mentions(line: &str, domains: &[String]) -> Option<Mention> {
    let ascii;
    let line = if rule::contains_non_ascii(line) {
        ascii = rule::convert_non_ascii_to_punycode(line);
        ascii.as_str()
    } else {
        line
    };
    let mut found = None;
    for token in line.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))) {
        let token = token.trim_matches('.');
        if token.is_empty() {
            continue;
        }
        if token.eq_ignore_ascii_case(&domains[0]) {
            return Some(Mention::Name);
        }
        if domains[1..].iter().any(|d| token.eq_ignore_ascii_case(d)) {
            found = Some(Mention::Parent);
        }
    }
    found
}

/// Exclusions, inclusions and transformations of `filters`, on the items of `group` still
/// present, as `compile` applies them.
fn filters(
    items: &mut [Item],
    group: &[usize],
    filters: &Filters,
    scope: Scope,
    fetch: &dyn Fetch,
    domains: &[String],
    hints: &mut Vec<String>,
) -> Result<(), CompileError> {
    if let Some(m) = compile::matcher(&filters.exclusions, &filters.exclusions_sources, fetch)? {
        let why = |text: &str| m.matching_pattern(text).map(|p| format!("matches the exclusion pattern {p:?}"));
        step(
            items,
            group,
            "exclusions",
            scope,
            Align::First,
            &|rules| rules.into_iter().filter(|r| !m.matches(r)).collect(),
            &why,
        );
        hint_exclusions(items, group, &m, domains, hints);
    }
    if let Some(m) = compile::matcher(&filters.inclusions, &filters.inclusions_sources, fetch)? {
        let why = |_: &str| Some("matches no inclusion pattern".to_owned());
        step(
            items,
            group,
            "inclusions",
            scope,
            Align::First,
            &|rules| rules.into_iter().filter(|r| m.matches(r)).collect(),
            &why,
        );
    }
    for t in Transformation::ORDER {
        // InsertFinalNewLine appends an empty line to the list: it changes no line.
        if filters.transformations.contains(&t) && t != Transformation::InsertFinalNewLine {
            // Deduplicate keeps the last of repeated rules; every other step keeps the first.
            let align = if t == Transformation::Deduplicate { Align::Last } else { Align::First };
            step(items, group, t.name(), scope, align, &|rules| transform::apply_one(t, rules), &|_| None);
        }
    }
    Ok(())
}

/// Exclusion patterns written for the name (a token is the name) that removed no traced line
/// which the list still holds: the pitfall of writing `||x^` to exclude `0.0.0.0 x`.
fn hint_exclusions(items: &[Item], group: &[usize], m: &Matcher, domains: &[String], hints: &mut Vec<String>) {
    // A line still present matches no pattern (it would have been removed).
    let Some(kept) = group.iter().map(|&i| &items[i]).find(|i| i.reported && !i.texts.is_empty()) else { return };
    for pattern in m.patterns().filter(|p| mentions(p, domains) == Some(Mention::Name)) {
        hints.push(format!(
            "the exclusion pattern {pattern:?} does not match {:?} (line {} of source {}): exclusions match \
             source lines as written, before any transformation; a plain pattern such as {:?} matches every \
             line containing it",
            kept.texts[0],
            kept.line,
            kept.source + 1,
            domains[0]
        ));
    }
}

/// Which of several equal lines a step keeps, for lining its result up with each line's own.
#[derive(Clone, Copy)]
enum Align {
    First,
    Last,
}

/// Runs one step on the items of `group` still present: on all of them together, and on each
/// alone; records on each item what changed. `why` says why the step removes a line by itself.
fn step(
    items: &mut [Item],
    group: &[usize],
    stage: &str,
    scope: Scope,
    align: Align,
    run: &dyn Fn(Vec<String>) -> Vec<String>,
    why: &dyn Fn(&str) -> Option<String>,
) {
    let live: Vec<usize> = group.iter().copied().filter(|&i| !items[i].texts.is_empty()).collect();
    if live.is_empty() {
        return;
    }
    let alone: Vec<Vec<String>> = live.iter().map(|&i| run(items[i].texts.clone())).collect();
    let together = run(live.iter().flat_map(|&i| items[i].texts.clone()).collect());
    let kept = line_up(&alone, &together, align);
    for (k, &i) in live.iter().enumerate() {
        let after: Vec<String> =
            alone[k].iter().zip(&kept[k]).filter(|(_, keep)| **keep).map(|(t, _)| t.clone()).collect();
        if after == items[i].texts {
            continue;
        }
        let why = if after.is_empty() && !alone[k].is_empty() {
            Some(context(items, &live, &alone, &kept, k, stage))
        } else if after.is_empty() {
            items[i].texts.first().and_then(|t| why(t))
        } else {
            None
        };
        items[i].texts = after.clone();
        items[i].steps.push(Step { stage: stage.to_owned(), scope, result: after, why });
    }
}

/// For each line's own result, which of its texts the group's result holds: the group's
/// result is each line's own result, in order, less what the context removed.
fn line_up(alone: &[Vec<String>], together: &[String], align: Align) -> Vec<Vec<bool>> {
    let mut kept: Vec<Vec<bool>> = alone.iter().map(|a| vec![false; a.len()]).collect();
    let flat: Vec<(usize, usize)> =
        alone.iter().enumerate().flat_map(|(k, a)| (0..a.len()).map(move |j| (k, j))).collect();
    match align {
        Align::First => {
            let mut at = 0;
            for &(k, j) in &flat {
                if let Some(found) = together[at..].iter().position(|t| *t == alone[k][j]) {
                    kept[k][j] = true;
                    at += found + 1;
                }
            }
        }
        Align::Last => {
            let mut end = together.len();
            for &(k, j) in flat.iter().rev() {
                if let Some(found) = together[..end].iter().rposition(|t| *t == alone[k][j]) {
                    kept[k][j] = true;
                    end = found;
                }
            }
        }
    }
    kept
}

/// Why line `k` of `live` was removed by the others: the rule kept in its place.
fn context(items: &[Item], live: &[usize], alone: &[Vec<String>], kept: &[Vec<bool>], k: usize, stage: &str) -> String {
    let own = &alone[k];
    let host = |t: &str| t.strip_prefix("||").and_then(|r| r.strip_suffix('^')).map(str::to_owned);
    for (o, &i) in live.iter().enumerate() {
        if o == k {
            continue;
        }
        for (t, _) in alone[o].iter().zip(&kept[o]).filter(|(_, keep)| **keep) {
            let covers = own.iter().any(|mine| {
                mine == t || host(mine).zip(host(t)).is_some_and(|(mine, theirs)| mine.ends_with(&format!(".{theirs}")))
            });
            if covers {
                let other = &items[i];
                return format!("{stage} keeps {t:?} instead (line {} of source {})", other.line, other.source + 1);
            }
        }
    }
    format!("{stage} removed it for another line of the list")
}

#[cfg(test)]
mod tests;
