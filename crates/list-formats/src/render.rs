//! Pass 2: each input rule to the lines of one format.

use crate::analysis::{Analysis, Effect, Shape};
use crate::format::Format;
use crate::rule::{HashSet64, HostName, Rule, Scope, hash64, host_names, is_comment, normalize};

/// What rendering a list into one format did with its rules.
///
/// Every input rule is counted once: `rules == written + omitted + unneeded`; `narrowed` and
/// `widened` count rules among `written`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Input rules seen (lines that are neither blank nor comments).
    pub rules: u64,
    /// Input rules whose effect the output expresses (their lines may have been written already
    /// by an equivalent rule).
    pub written: u64,
    /// Entries written: output lines, without comments (the adblock format copies the list's
    /// comments and blank lines but does not count them).
    pub lines: u64,
    /// Input rules the format cannot express, left out.
    pub omitted: u64,
    /// Written rules that cover less than they did: a rule for a name and its subdomains written
    /// as the name only.
    pub narrowed: u64,
    /// Written rules that cover more than they did: a rule for one name written as the name with
    /// its subdomains.
    pub widened: u64,
    /// Input rules with nothing left to express: cancelled by an exception, disabled by or being a
    /// `$badfilter` rule, exceptions that lift nothing written, local names of hosts lines, and
    /// (in the allowlist) block rules.
    pub unneeded: u64,
    /// The first 10 omitted input rules, verbatim.
    pub omitted_sample: Vec<String>,
}

impl Stats {
    fn count(&mut self, status: Status, line: &str) {
        match status {
            Status::Written(fit) => {
                self.written += 1;
                match fit {
                    Fit::Exact => {}
                    Fit::Narrowed => self.narrowed += 1,
                    Fit::Widened => self.widened += 1,
                }
            }
            Status::Omitted => {
                self.omitted += 1;
                if self.omitted_sample.len() < 10 {
                    self.omitted_sample.push(line.to_owned());
                }
            }
            Status::Unneeded => self.unneeded += 1,
        }
    }
}

/// How a rule fared. The order makes `max` combine the names of one hosts line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    Unneeded,
    Omitted,
    Written(Fit),
}

/// How well written lines match what the rule covered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fit {
    Exact,
    Narrowed,
    Widened,
}

/// An output line around a name: `prefix`, the name, `suffix`.
type Template = (&'static str, &'static str);

const NAME: Template = ("", "");
const HOSTS: Template = ("0.0.0.0 ", "");
const SUBDOMAINS: Template = ("*.", "");
const DNSMASQ: Template = ("local=/", "/");
const DNSMASQ_LEGACY: Template = ("address=/", "/");
const UNBOUND: Template = ("local-zone: \"", ".\" always_nxdomain");
const RPZ_BLOCK: Template = ("", " CNAME .");
const RPZ_BLOCK_SUBDOMAINS: Template = ("*.", " CNAME .");
const RPZ_PASS: Template = ("", " CNAME rpz-passthru.");
const RPZ_PASS_SUBDOMAINS: Template = ("*.", " CNAME rpz-passthru.");

/// What to do with one rule (or one name of a hosts line) in one format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// Write the rule's line as it is (adblock).
    Verbatim,
    /// Write these lines around the rule's name.
    Write(&'static [Template], Fit),
    Omit,
    Unneeded,
}

/// A block that the exceptions leave in place.
fn block_plan(format: Format, shape: Shape) -> Plan {
    use Format::*;
    use Shape::*;
    match (format, shape) {
        (Adblock, _) => Plan::Verbatim,
        (Hosts, Exact) => Plan::Write(&[HOSTS], Fit::Exact),
        (Hosts, Subtree) => Plan::Write(&[HOSTS], Fit::Narrowed),
        (Domains, Exact) => Plan::Write(&[NAME], Fit::Exact),
        (Domains, Subtree) => Plan::Write(&[NAME], Fit::Narrowed),
        // Only the subdomains are blocked and these formats cannot say so.
        (Hosts | Domains, Children) => Plan::Omit,
        (Wildcard, Exact) => Plan::Write(&[NAME], Fit::Exact),
        (Wildcard, Subtree) => Plan::Write(&[NAME, SUBDOMAINS], Fit::Exact),
        // Blocky's `*.name` also matches the name itself.
        (Wildcard, Children) => Plan::Write(&[SUBDOMAINS], Fit::Widened),
        (Dnsmasq, Subtree) => Plan::Write(&[DNSMASQ], Fit::Exact),
        (Dnsmasq, Exact | Children) => Plan::Write(&[DNSMASQ], Fit::Widened),
        (DnsmasqLegacy, Subtree) => Plan::Write(&[DNSMASQ_LEGACY], Fit::Exact),
        (DnsmasqLegacy, Exact | Children) => Plan::Write(&[DNSMASQ_LEGACY], Fit::Widened),
        (Unbound, Subtree) => Plan::Write(&[UNBOUND], Fit::Exact),
        (Unbound, Exact | Children) => Plan::Write(&[UNBOUND], Fit::Widened),
        (Rpz, Exact) => Plan::Write(&[RPZ_BLOCK], Fit::Exact),
        (Rpz, Subtree) => Plan::Write(&[RPZ_BLOCK, RPZ_BLOCK_SUBDOMAINS], Fit::Exact),
        (Rpz, Children) => Plan::Write(&[RPZ_BLOCK_SUBDOMAINS], Fit::Exact),
        (Allowlist, _) => Plan::Unneeded,
    }
}

/// A valid exception, given where it lifts written blocks.
fn exception_plan(format: Format, scope: Scope, effect: Effect) -> Plan {
    let lifts = effect.apex || effect.children;
    match format {
        Format::Adblock => Plan::Verbatim,
        Format::Allowlist if scope == Scope::Subtree => Plan::Write(&[NAME], Fit::Narrowed),
        Format::Allowlist => Plan::Write(&[NAME], Fit::Exact),
        Format::Rpz => match (effect.apex, effect.children) {
            (true, true) => Plan::Write(&[RPZ_PASS, RPZ_PASS_SUBDOMAINS], Fit::Exact),
            (true, false) => Plan::Write(&[RPZ_PASS], Fit::Exact),
            (false, true) => Plan::Write(&[RPZ_PASS_SUBDOMAINS], Fit::Exact),
            (false, false) => Plan::Unneeded,
        },
        // Blocks are written as exact names that the exception never lifts.
        Format::Hosts | Format::Domains => Plan::Unneeded,
        Format::Wildcard | Format::Dnsmasq | Format::DnsmasqLegacy | Format::Unbound if lifts => Plan::Omit,
        Format::Wildcard | Format::Dnsmasq | Format::DnsmasqLegacy | Format::Unbound => Plan::Unneeded,
    }
}

/// A rule no DNS format can express.
fn unsupported_plan(format: Format, exception: bool) -> Plan {
    match format {
        Format::Adblock => Plan::Verbatim,
        Format::Allowlist if !exception => Plan::Unneeded,
        _ => Plan::Omit,
    }
}

/// Pass 2 for one format, fed line by line: writes each line's output and counts [`Stats`].
///
/// Output lines are deduplicated through a set of their 64-bit hashes (8 bytes per distinct
/// line plus the set's overhead); the adblock format is copied without deduplication.
#[derive(Debug)]
pub struct Renderer<'a> {
    format: Format,
    analysis: &'a Analysis,
    written: HashSet64,
    stats: Stats,
}

impl<'a> Renderer<'a> {
    /// A renderer into `format`, using the analysis (pass 1) of the same list.
    pub fn new(format: Format, analysis: &'a Analysis) -> Self {
        Renderer { format, analysis, written: HashSet64::default(), stats: Stats::default() }
    }

    /// Appends the output of one line of the list (without its line ending): zero or more lines,
    /// each ending with `\n`.
    pub fn line(&mut self, line: &str, out: &mut Vec<u8>) {
        let trimmed = line.trim_ascii();
        if is_comment(trimmed) {
            if self.format == Format::Adblock {
                push_line(out, line);
            }
            return;
        }
        self.stats.rules += 1;
        let status = self.rule(line, &normalize(trimmed), out);
        self.stats.count(status, line);
    }

    /// Appends any trailing output (none in the current formats) and returns the stats.
    pub fn finish(self, _out: &mut Vec<u8>) -> Stats {
        self.stats
    }

    /// Writes one rule: `line` as given, `rule` trimmed and lowercase.
    fn rule(&mut self, line: &str, rule: &str, out: &mut Vec<u8>) -> Status {
        if self.format == Format::Adblock {
            return self.apply(Plan::Verbatim, line, out);
        }
        let parsed = Rule::parse(rule);
        if self.analysis.disabled(&parsed, rule) {
            return Status::Unneeded;
        }
        match parsed {
            Rule::BadFilter => Status::Unneeded,
            Rule::Block { name, scope, important } => self.block(name, scope, important, out),
            Rule::Exception { name, scope, important } => {
                let effect = self.analysis.exception_effect(name, scope, important);
                self.apply(exception_plan(self.format, scope, effect), name, out)
            }
            Rule::Hosts(names) => host_names(names).fold(Status::Unneeded, |status, name| {
                let name_status = match name {
                    HostName::Local => Status::Unneeded,
                    HostName::Valid(name) => self.block(name, Scope::Exact, false, out),
                    HostName::Invalid => self.apply(unsupported_plan(self.format, false), line, out),
                };
                status.max(name_status)
            }),
            Rule::Unsupported { exception } => self.apply(unsupported_plan(self.format, exception), line, out),
        }
    }

    fn block(&mut self, name: &str, scope: Scope, important: bool, out: &mut Vec<u8>) -> Status {
        match self.analysis.block_shape(name, scope, important) {
            Some(shape) => self.apply(block_plan(self.format, shape), name, out),
            None => Status::Unneeded,
        }
    }

    /// Carries out a plan for `text`: the rule's name, or the whole line for [`Plan::Verbatim`].
    fn apply(&mut self, plan: Plan, text: &str, out: &mut Vec<u8>) -> Status {
        match plan {
            Plan::Verbatim => {
                push_line(out, text);
                self.stats.lines += 1;
                Status::Written(Fit::Exact)
            }
            Plan::Write(templates, fit) => {
                for &(prefix, suffix) in templates {
                    self.write_once(out, &[prefix, text, suffix]);
                }
                Status::Written(fit)
            }
            Plan::Omit => Status::Omitted,
            Plan::Unneeded => Status::Unneeded,
        }
    }

    /// Appends the line made of `parts` unless it was written before.
    fn write_once(&mut self, out: &mut Vec<u8>, parts: &[&str]) {
        let start = out.len();
        parts.iter().for_each(|part| out.extend_from_slice(part.as_bytes()));
        if self.written.insert(hash64(&out[start..])) {
            out.push(b'\n');
            self.stats.lines += 1;
        } else {
            out.truncate(start);
        }
    }
}

fn push_line(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
}
