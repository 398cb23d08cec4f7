//! Pass 1: what the whole list says about exceptions and `$badfilter`.

use std::collections::HashMap;

use crate::rule::{
    HashSet64, Rule, Scope, badfilter_target, block_key, hash64, is_comment, normalize, rule_key, suffixes,
};

/// How strong the strongest exception of one kind on a name is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    #[default]
    None,
    Normal,
    Important,
}

impl Level {
    /// The level an exception needs to beat a block (or that an exception has).
    fn of(important: bool) -> Level {
        if important { Level::Important } else { Level::Normal }
    }
}

/// Where an exception lifts a block that is written, so that its own effect must be expressed
/// (as `rpz-passthru` records in RPZ; it is lost in the formats without exceptions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Effect {
    /// The exception's own name is allowed, inside a kept subtree block.
    pub apex: bool,
    /// The subdomains of a subtree exception are allowed, inside a kept subtree block above it.
    pub children: bool,
}

/// What a block on a name becomes once the exceptions are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// The name only.
    Exact,
    /// The name and its subdomains.
    Subtree,
    /// The subdomains only: an exact exception lifts the name itself.
    Children,
}

/// The exceptions on one name.
#[derive(Clone, Debug, Default)]
struct NameExceptions {
    /// The strongest subtree exception (`@@||name^`).
    subtree: Level,
    /// The strongest exact exception (`@@|name^`, `@@name`).
    exact: Level,
    /// The effect of each kind of exception on this name, see [`effect_index`].
    effects: [Effect; 4],
}

fn effect_index(scope: Scope, important: bool) -> usize {
    usize::from(scope == Scope::Subtree) * 2 + usize::from(important)
}

/// The result of pass 1, which [`Renderer`](crate::Renderer)s use in pass 2: the active
/// exceptions with their effects and the `$badfilter` targets. Its size grows with the
/// exceptions and `$badfilter` rules of the list, not with its blocks.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    badfilter: HashSet64,
    exceptions: HashMap<String, NameExceptions>,
}

impl Analysis {
    /// Whether a `$badfilter` rule disables `rule` (lowercase, trimmed, parsed as `parsed`).
    pub(crate) fn disabled(&self, parsed: &Rule<'_>, rule: &str) -> bool {
        !self.badfilter.is_empty()
            && !matches!(parsed, Rule::Hosts(_) | Rule::BadFilter)
            && self.badfilter.contains(&rule_key(rule))
    }

    /// What a block becomes once the exceptions are applied; `None` when they cancel it.
    pub(crate) fn block_shape(&self, name: &str, scope: Scope, important: bool) -> Option<Shape> {
        if self.exceptions.is_empty() {
            return Some(match scope {
                Scope::Exact => Shape::Exact,
                Scope::Subtree => Shape::Subtree,
            });
        }
        let need = Level::of(important);
        if self.subtree_exception_covers(name, need) {
            return None;
        }
        let name_lifted = self.exceptions.get(name).is_some_and(|e| e.exact >= need);
        match (scope, name_lifted) {
            (Scope::Exact, true) => None,
            (Scope::Exact, false) => Some(Shape::Exact),
            (Scope::Subtree, true) => Some(Shape::Children),
            (Scope::Subtree, false) => Some(Shape::Subtree),
        }
    }

    /// The effect of an active exception, computed in pass 1.
    pub(crate) fn exception_effect(&self, name: &str, scope: Scope, important: bool) -> Effect {
        self.exceptions.get(name).map(|e| e.effects[effect_index(scope, important)]).unwrap_or_default()
    }

    /// Whether a subtree exception of at least `need` covers `name` (on it or on a parent).
    fn subtree_exception_covers(&self, name: &str, need: Level) -> bool {
        suffixes(name).any(|suffix| self.exceptions.get(suffix).is_some_and(|e| e.subtree >= need))
    }
}

/// An exception as pass 1 saw it.
#[derive(Debug)]
struct SeenException {
    key: u64,
    name: String,
    scope: Scope,
    important: bool,
}

/// Pass 1, fed line by line. Besides the exceptions and `$badfilter` targets it keeps a 64-bit
/// hash per subtree block and per `$important` exact block; [`Analyzer::finish`] drops them.
#[derive(Debug, Default)]
pub struct Analyzer {
    badfilter: HashSet64,
    exceptions: Vec<SeenException>,
    /// Hashes of the names of subtree blocks, without and with `$important`.
    subtree_blocks: [HashSet64; 2],
    /// Hashes of the names of `|name^$important` blocks.
    important_exact_blocks: HashSet64,
}

impl Analyzer {
    /// An analyzer that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one line of the compiled list (without its line ending).
    pub fn line(&mut self, line: &str) {
        let trimmed = line.trim_ascii();
        if is_comment(trimmed) {
            return;
        }
        let rule = normalize(trimmed);
        match Rule::parse(&rule) {
            Rule::BadFilter => {
                self.badfilter.insert(badfilter_target(&rule));
            }
            Rule::Exception { name, scope, important } => {
                let key = rule_key(&rule);
                self.exceptions.push(SeenException { key, name: name.to_owned(), scope, important });
            }
            Rule::Block { name, scope: Scope::Subtree, important } => {
                self.subtree_blocks[usize::from(important)].insert(hash64(name));
            }
            Rule::Block { name, scope: Scope::Exact, important: true } => {
                self.important_exact_blocks.insert(hash64(name));
            }
            Rule::Block { .. } | Rule::Hosts(_) | Rule::Unsupported { .. } => {}
        }
    }

    /// The analysis: exceptions that a `$badfilter` disables are dropped, and each remaining
    /// exception's effect on the blocks is settled.
    pub fn finish(self) -> Analysis {
        let Analyzer { badfilter, exceptions, subtree_blocks, important_exact_blocks } = self;
        let active: Vec<SeenException> = exceptions.into_iter().filter(|e| !badfilter.contains(&e.key)).collect();
        let mut analysis = Analysis { badfilter, exceptions: HashMap::new() };
        for exception in &active {
            let entry = analysis.exceptions.entry(exception.name.clone()).or_default();
            let level = match exception.scope {
                Scope::Exact => &mut entry.exact,
                Scope::Subtree => &mut entry.subtree,
            };
            *level = (*level).max(Level::of(exception.important));
        }
        let blocks = Blocks { analysis: &analysis, subtree: &subtree_blocks, important_exact: &important_exact_blocks };
        let effects: Vec<Effect> = active.iter().map(|exception| blocks.effect(exception)).collect();
        for (exception, effect) in active.iter().zip(effects) {
            if let Some(entry) = analysis.exceptions.get_mut(&exception.name) {
                entry.effects[effect_index(exception.scope, exception.important)] = effect;
            }
        }
        analysis
    }
}

/// Runs pass 1 over a whole list.
pub fn analyze<'a>(lines: impl IntoIterator<Item = &'a str>) -> Analysis {
    let mut analyzer = Analyzer::new();
    lines.into_iter().for_each(|line| analyzer.line(line));
    analyzer.finish()
}

/// The blocks pass 1 remembered, with the exceptions, to settle each exception's effect.
struct Blocks<'a> {
    analysis: &'a Analysis,
    subtree: &'a [HashSet64; 2],
    important_exact: &'a HashSet64,
}

impl Blocks<'_> {
    /// Where `exception` lifts a block that stays written. It lifts a name when it beats every
    /// block on the name (it is `$important`, or no `$important` block matches) and a subtree
    /// block that is not cancelled covers the name.
    fn effect(&self, exception: &SeenException) -> Effect {
        let name = exception.name.as_str();
        let beats = |apex| exception.important || !self.important_block_matches(name, apex);
        let kept_above = suffixes(name).skip(1).any(|parent| self.kept_subtree_block(parent));
        Effect {
            apex: beats(true) && (kept_above || self.kept_subtree_block(name)),
            children: exception.scope == Scope::Subtree && beats(false) && kept_above,
        }
    }

    /// Whether an active `$important` block matches `name` itself (`apex`) or any subdomain of it.
    fn important_block_matches(&self, name: &str, apex: bool) -> bool {
        suffixes(name).any(|suffix| self.active_subtree_block(suffix, true))
            || (apex
                && self.important_exact.contains(&hash64(name))
                && !self.disabled(block_key(name, Scope::Exact, true)))
    }

    /// Whether a subtree block on `name` exists and no exception cancels it.
    fn kept_subtree_block(&self, name: &str) -> bool {
        [false, true].into_iter().any(|important| {
            self.active_subtree_block(name, important)
                && !self.analysis.subtree_exception_covers(name, Level::of(important))
        })
    }

    /// Whether the list has a subtree block on `name` that no `$badfilter` disables.
    fn active_subtree_block(&self, name: &str, important: bool) -> bool {
        self.subtree[usize::from(important)].contains(&hash64(name))
            && !self.disabled(block_key(name, Scope::Subtree, important))
    }

    fn disabled(&self, key: u64) -> bool {
        self.analysis.badfilter.contains(&key)
    }
}
