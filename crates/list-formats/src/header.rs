//! The comment header of a published list.

use std::fmt::Write;

use crate::format::Format;
use crate::render::Stats;

/// What the header of a published list says besides the counts of a rendering ([`Stats`]).
#[derive(Clone, Copy, Debug)]
pub struct HeaderInfo<'a> {
    /// The list's title; control characters (newlines included) are written as spaces.
    pub title: &'a str,
    /// The list's version, which is also the RPZ SOA serial: the caller guarantees it increases
    /// from one publication to the next and, for RPZ, that it is at most `u32::MAX` (SOA serials
    /// are 32-bit; wrapping or clamping is the caller's concern).
    pub version: u64,
    /// When the list was compiled, RFC 3339; control characters are written as spaces.
    pub last_modified: &'a str,
    /// How long subscribers should wait before fetching the list again, in hours.
    pub expires_hours: u32,
}

/// The header of a list published in `format`, each line ending with `\n`: comments in the style
/// of list publishers (title, description, expiry, version, dates, counts), then for RPZ the
/// zone's `$TTL`, SOA and NS records, and for unbound the `server:` line the rules belong to.
/// For the adblock format it goes before the compiled list's own header. `stats` are those of
/// the rendering the header goes with.
pub fn header(format: Format, info: &HeaderInfo<'_>, stats: &Stats) -> String {
    let prefix = format.comment_prefix();
    let fields = [
        format!("Title: {}", one_line(info.title)),
        format!("Description: {} format of a list compiled by blocklist-edge. {}", format.name(), format.describe()),
        format!("Expires: {}", expires(info.expires_hours)),
        format!("Version: {}", info.version),
        format!("Last modified: {}", one_line(info.last_modified)),
        format!("Number of entries: {}", stats.lines),
        format!("Rules omitted (not expressible in this format): {}", stats.omitted),
    ];
    let mut text = String::new();
    for field in fields {
        let _ = writeln!(text, "{prefix} {field}");
    }
    let _ = writeln!(text, "{prefix}");
    match format {
        Format::Rpz => {
            let _ = writeln!(text, "$TTL 300");
            let _ = writeln!(text, "@ IN SOA localhost. hostmaster.localhost. {} 3600 600 86400 300", info.version);
            let _ = writeln!(text, "@ IN NS localhost.");
        }
        Format::Unbound => text.push_str("server:\n"),
        _ => {}
    }
    text
}

/// `text` with every control character and line separator replaced by a space.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') { ' ' } else { c }).collect()
}

/// `1 day`, `3 days`, `12 hours`.
fn expires(hours: u32) -> String {
    let (count, unit) = if hours.is_multiple_of(24) { (hours / 24, "day") } else { (hours, "hour") };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}
