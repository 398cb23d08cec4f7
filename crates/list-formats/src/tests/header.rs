//! The header of each format, and `render` putting it first.

use crate::*;

fn header_stats() -> Stats {
    Stats { lines: 42, omitted: 3, ..Stats::default() }
}

fn header_of(format: Format, title: &str, expires_hours: u32) -> String {
    let stats = header_stats();
    let info = HeaderInfo { title, version: 2024061501, last_modified: "2024-06-15T12:00:00Z", expires_hours };
    header(format, &info, &stats)
}

#[test]
fn header_hosts_exact() {
    assert_eq!(
        header_of(Format::Hosts, "My list\r\nInjected: yes\t!", 24),
        "# Title: My list  Injected: yes !\n\
         # Description: hosts format of a list compiled by blocklist-edge. Blocked names as 0.0.0.0 lines, exact \
         names only: a rule for a name and its subdomains keeps just the name, and exceptions are applied by leaving \
         out the blocks they cancel.\n\
         # Expires: 1 day\n\
         # Version: 2024061501\n\
         # Last modified: 2024-06-15T12:00:00Z\n\
         # Number of entries: 42\n\
         # Rules omitted (not expressible in this format): 3\n\
         #\n"
    );
}

#[test]
fn header_every_format() {
    for format in Format::ALL {
        let p = format.comment_prefix();
        let (name, describe) = (format.name(), format.describe());
        let tail = match format {
            Format::Rpz => {
                "$TTL 300\n@ IN SOA localhost. hostmaster.localhost. 2024061501 3600 600 86400 300\n@ IN NS localhost.\n"
            }
            Format::Unbound => "server:\n",
            _ => "",
        };
        let expected = format!(
            "{p} Title: T\n\
             {p} Description: {name} format of a list compiled by blocklist-edge. {describe}\n\
             {p} Expires: 12 hours\n\
             {p} Version: 2024061501\n\
             {p} Last modified: 2024-06-15T12:00:00Z\n\
             {p} Number of entries: 42\n\
             {p} Rules omitted (not expressible in this format): 3\n\
             {p}\n{tail}"
        );
        assert_eq!(header_of(format, "T", 12), expected, "{format}");
        assert!(!describe.contains('\n') && describe.ends_with('.'), "{format}");
    }
    let prefixes: Vec<_> = Format::ALL.iter().map(Format::comment_prefix).collect();
    assert_eq!(prefixes, ["!", "#", "#", "#", "#", "#", "#", ";", "#"]);
    assert!(header_of(Format::Rpz, "T", 48).contains("; Expires: 2 days\n"));
    assert!(header_of(Format::Rpz, "T", 1).contains("; Expires: 1 hour\n"));
}

#[test]
fn render_puts_the_header_first() {
    let info = HeaderInfo { title: "Ads", version: 7, last_modified: "2024-06-15T12:00:00Z", expires_hours: 24 };
    let (text, stats) = render(Format::Unbound, "! c\r\n||ads.example^\r\n|one.example^", &info);
    assert_eq!(stats, Stats { rules: 2, written: 2, lines: 2, widened: 1, ..Stats::default() });
    assert_eq!(
        text,
        format!(
            "{}local-zone: \"ads.example.\" always_nxdomain\nlocal-zone: \"one.example.\" always_nxdomain\n",
            header(Format::Unbound, &info, &stats)
        )
    );
    assert!(text.contains(
        "# Number of entries: 2\n# Rules omitted (not expressible in this format): 0\n#\nserver:\nlocal-zone"
    ));
    let (text, _) = render(Format::Adblock, "! Title: Ads\n||ads.example^\n", &info);
    assert!(text.ends_with("! Rules omitted (not expressible in this format): 0\n!\n! Title: Ads\n||ads.example^\n"));
}
