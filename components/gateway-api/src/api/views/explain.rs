//! The body of `GET /v1/lists/{id}/explain`.

use super::*;

/// `GET /v1/lists/{id}/explain`: the shape `blocklist-edge explain --json` prints, with the list.
#[derive(Serialize)]
pub(crate) struct ExplainView<'a> {
    pub list: &'a str,
    pub name: &'a str,
    /// As `dns_filter` words it (the command line's `--json` and `lookup` alike).
    pub verdict: dns_filter::Lookup,
    pub lines: Vec<TracedLineView<'a>>,
    pub hints: &'a [String],
}

/// A source line that mentions the name, and what the compile did with it.
#[derive(Serialize)]
pub(crate) struct TracedLineView<'a> {
    pub source: &'a str,
    pub line: u32,
    pub text: &'a str,
    pub steps: Vec<StepView<'a>>,
    pub output: &'a [String],
}

/// One step that removed or changed a traced line.
#[derive(Serialize)]
pub(crate) struct StepView<'a> {
    pub stage: &'a str,
    pub scope: &'static str,
    pub result: &'a [String],
    pub why: Option<&'a str>,
}

/// A matching line as `dns_filter` words it.
fn rule_match(m: &compiler::RuleMatch) -> dns_filter::Match {
    use compiler::RuleRole as R;
    use dns_filter::Role;
    let role = match m.role {
        R::Block => Role::Block,
        R::Exception => Role::Exception,
        R::ImportantBlock => Role::ImportantBlock,
        R::ImportantException => Role::ImportantException,
        R::Badfiltered => Role::Badfiltered,
        R::Badfilter => Role::Badfilter,
    };
    dns_filter::Match { text: m.text.clone(), line: m.line, role, hosts: m.hosts }
}

impl<'a> ExplainView<'a> {
    /// The compiler's explanation `e` of list `list`.
    pub fn of(list: &'a str, e: &'a compiler::Explanation) -> ExplainView<'a> {
        let lines = e
            .lines
            .iter()
            .map(|l| TracedLineView {
                source: &l.source,
                line: l.line,
                text: &l.text,
                steps: l
                    .steps
                    .iter()
                    .map(|s| StepView {
                        stage: &s.stage,
                        scope: match s.scope {
                            compiler::ExplainScope::Source => "source",
                            compiler::ExplainScope::List => "list",
                        },
                        result: &s.result,
                        why: s.why.as_deref(),
                    })
                    .collect(),
                output: &l.output,
            })
            .collect();
        ExplainView {
            list,
            name: &e.name,
            verdict: dns_filter::Lookup {
                name: e.name.clone(),
                qtype: None,
                blocked: e.blocked,
                decided_by: e.decided_by.as_ref().map(rule_match),
                matches: e.matches.iter().map(rule_match).collect(),
            },
            lines,
            hints: &e.hints,
        }
    }
}
