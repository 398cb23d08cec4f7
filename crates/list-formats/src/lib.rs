//! Renders a compiled blocklist into the formats DNS resolvers and ad blockers subscribe to.
//!
//! The input is the text a HostlistCompiler-identical compiler outputs: adblock-style DNS rules,
//! possibly `/etc/hosts` lines and plain domain lines, with `!` and `#` comments. The output is
//! one [`Format`]: the list unchanged (`adblock`), `hosts`, `domains`, `wildcard` (Blocky),
//! `dnsmasq`, `dnsmasq-legacy`, `unbound`, `rpz` (a response policy zone) or the `allowlist` of
//! its exceptions, with a [`header()`] in the style of list publishers.
//!
//! # Streaming, in two passes
//!
//! The work is line by line so that a WebAssembly component can convert a 50 MB list with
//! bounded memory. Pass 1 ([`Analyzer`]) reads the whole list and keeps what every line's output
//! depends on: the exceptions, the targets of `$badfilter` rules, and while it runs a 64-bit hash
//! per subtree block; the resulting [`Analysis`] grows only with the exceptions and `$badfilter`
//! rules. Pass 2 ([`Renderer`]) reads the list again and writes each line's output, keeping a
//! 64-bit hash per distinct output line to write it once. Input arriving in byte chunks is cut
//! into lines by a [`LineSplitter`]. The header needs pass 2's [`Stats`]: buffer the body, or run
//! pass 2 once to count and once to write. [`render()`] does everything for a list in memory.
//!
//! Deduplication by hash can drop a distinct line whose hash collides with an earlier one: with
//! 64-bit hashes the odds are about 10⁻⁷ for a list of 2 million lines.
//!
//! ```
//! use list_formats::{Analyzer, Format, LineSplitter, Renderer};
//!
//! let list = b"! Title: Example\n||ads.example^\n@@||ok.ads.example^\n0.0.0.0 tracker.example\n";
//! let mut analyzer = Analyzer::new();
//! let mut splitter = LineSplitter::new();
//! for chunk in list.chunks(7) {
//!     splitter.feed(chunk, |line| analyzer.line(line));
//! }
//! splitter.finish(|line| analyzer.line(line));
//! let analysis = analyzer.finish();
//!
//! let mut renderer = Renderer::new(Format::Rpz, &analysis);
//! let mut body = Vec::new();
//! let mut splitter = LineSplitter::new();
//! splitter.feed(list, |line| renderer.line(line, &mut body));
//! splitter.finish(|line| renderer.line(line, &mut body));
//! let stats = renderer.finish(&mut body);
//! assert_eq!(
//!     String::from_utf8(body).unwrap(),
//!     "ads.example CNAME .\n*.ads.example CNAME .\n\
//!      ok.ads.example CNAME rpz-passthru.\n*.ok.ads.example CNAME rpz-passthru.\n\
//!      tracker.example CNAME .\n"
//! );
//! assert_eq!((stats.rules, stats.written, stats.lines), (3, 3, 5));
//! ```
//!
//! # Rules
//!
//! Blank lines and lines starting with `!` or `#` are comments. Every other line is a rule and
//! is classified once, in this order, after trimming and lowercasing:
//!
//! - A hosts line `IP name [name…] [# comment]`: with `0.0.0.0`, `127.0.0.1`, `::` or `::1` each
//!   name is an exact block, except `localhost`, `localhost.localdomain`, `local`,
//!   `broadcasthost`, `ip6-localhost`, `ip6-loopback` and `0.0.0.0`, skipped silently. With any
//!   other address the line rewrites rather than blocks, which only the adblock format keeps.
//!   The line counts as one rule: written when any of its names is, else omitted when one is
//!   not a valid name, else unneeded.
//! - `R$badfilter` (also among other modifiers) disables the rule R, compared by pattern and set
//!   of modifiers in any order. Both have no effect and produce nothing.
//! - Blocks: `||name^` (the name and its subdomains), `|name^` and a plain `name` (the name
//!   only); exceptions: `@@||name^` (subtree), `@@|name^` and `@@name` (exact). `$important` is
//!   the only modifier allowed (not on a plain `name` block).
//! - Everything else no DNS format can express: regular expressions, `*` in names, `||name`
//!   without `^`, `^|`, other modifiers (`$dnstype`, `$client`, `$ctag`, `$denyallow`,
//!   `$dnsrewrite`, `$third-party`, …), cosmetic rules, IP addresses as names, and names that
//!   are not valid DNS names (labels of `[a-z0-9_-]`, 1 to 63 characters, 253 in all).
//!
//! Exceptions follow adblock DNS semantics. A block is cancelled by a subtree exception on its
//! name or on a parent, and an exact block also by an exact exception on its name, unless the
//! block is `$important` and the exception is not. A subtree block with an exact exception on
//! its very name still blocks the subdomains. Each query is decided by the matching rules of the
//! highest class: `$important` exceptions, then `$important` blocks, then exceptions, then blocks.
//!
//! # What each format writes
//!
//! | format | block `\|\|name^` | block `name` | exception |
//! |---|---|---|---|
//! | `adblock` | the list's lines unchanged, comments included | | |
//! | `hosts` | `0.0.0.0 name` (narrowed) | `0.0.0.0 name` | — |
//! | `domains` | `name` (narrowed) | `name` | — |
//! | `wildcard` | `name`, `*.name` | `name` | — |
//! | `dnsmasq` | `local=/name/` | `local=/name/` (widened) | — |
//! | `dnsmasq-legacy` | `address=/name/` | `address=/name/` (widened) | — |
//! | `unbound` | `local-zone: "name." always_nxdomain` | the same (widened) | — |
//! | `rpz` | `name CNAME .`, `*.name CNAME .` | `name CNAME .` | `name CNAME rpz-passthru.` (and `*.name …` for a subtree exception) |
//! | `allowlist` | — | — | `name` (narrowed for a subtree exception) |
//!
//! Every format but adblock writes each line once, and the [`Stats`] of a rendering say what
//! happened to each rule: written (as is, *narrowed* to less than it covered, or *widened* to
//! more), *omitted* (not expressible in the format) or *unneeded* (nothing left to express:
//! cancelled blocks, `$badfilter`, exceptions that lift nothing written, local hosts names, block
//! rules in the allowlist).
//!
//! Blocks that the exceptions cancel are left out, which expresses those exceptions fully; so
//! does narrowing in `hosts` and `domains`, whose exact names are never inside an exception.
//! An exception that lifts part of a block that stays (`@@||a.b.example^` inside
//! `||b.example^`, or `@@|b.example^` on `||b.example^`) is written in RPZ, listed in the
//! allowlist, and counted omitted by `wildcard`, `dnsmasq`, `dnsmasq-legacy` and `unbound`,
//! whose lines for the block cover it. A subtree block whose own name is lifted
//! by an exact exception still blocks its subdomains: `hosts` and `domains` omit it, `wildcard`
//! writes `*.name` (which Blocky also applies to the name: widened), dnsmasq and unbound write
//! the whole subtree (widened). The `wildcard` format writes `name` besides `*.name` for
//! consumers whose `*.name` leaves the name out.
//!
//! # RPZ
//!
//! The zone holds QNAME policy records with owner names relative to the zone's origin (the
//! zone name the resolver configures; no `$ORIGIN` is written): `CNAME .` answers NXDOMAIN and
//! `CNAME rpz-passthru.` answers normally. Resolvers pick the record of an exact owner name
//! first, otherwise the longest matching `*.` wildcard. To make that precedence reproduce the
//! adblock semantics, blocks and exceptions write records only where they decide:
//!
//! - a block that is not cancelled writes `name CNAME .`, except when an exact exception lifts
//!   its very name, and `*.name CNAME .` for a subtree block;
//! - an exception writes `name CNAME rpz-passthru.` when it beats every block matching its name
//!   (it is `$important`, or no `$important` block matches) and a subtree block that stays
//!   covers the name; a subtree exception also writes `*.name CNAME rpz-passthru.` when it beats
//!   every block matching its subdomains and a subtree block above it stays.
//!
//! An owner name therefore never gets both a block and a passthru record, and for every query
//! name, whether or not it appears in the list, the most specific record gives the adblock
//! decision for the rules the zone can express. What remains different:
//!
//! - the rules omitted as not expressible (regular expressions, wildcards, `$dnstype`,
//!   `$client`, `$denyallow`, `$dnsrewrite` and other modifiers); an exception carrying such a
//!   modifier is left out, so the block it would partly lift stays whole;
//! - the answer: NXDOMAIN, where adblock-style blockers answer `0.0.0.0`/`::` or their
//!   configured blocking mode;
//! - how a resolver applies policies to names reached through CNAMEs, to other policy zones and
//!   to DNSSEC-signed answers is its own configuration.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod analysis;
mod format;
mod header;
mod lines;
mod render;
mod rule;

#[cfg(test)]
mod tests;

pub use analysis::{Analysis, Analyzer, analyze};
pub use format::Format;
pub use header::{HeaderInfo, header};
pub use lines::LineSplitter;
pub use render::{Renderer, Stats};

/// Renders a list held in memory into `format`: both passes, then the [`header()`] before the
/// body. For tests and small lists; large ones go through [`Analyzer`] and [`Renderer`].
pub fn render(format: Format, text: &str, info: &HeaderInfo<'_>) -> (String, Stats) {
    let mut analyzer = Analyzer::new();
    lines::for_each_line(text, |line| analyzer.line(line));
    let analysis = analyzer.finish();
    let mut renderer = Renderer::new(format, &analysis);
    let mut body = Vec::new();
    lines::for_each_line(text, |line| renderer.line(line, &mut body));
    let stats = renderer.finish(&mut body);
    let mut output = header(format, info, &stats);
    output.push_str(&String::from_utf8_lossy(&body));
    (output, stats)
}
