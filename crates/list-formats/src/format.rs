//! The output formats and what each can express.

use std::fmt;

/// A format a compiled list can be rendered into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// The compiled list unchanged (AdGuard Home, AdGuard DNS and other adblock-syntax blockers).
    Adblock,
    /// `/etc/hosts` lines: `0.0.0.0 name`.
    Hosts,
    /// One name per line.
    Domains,
    /// One name per line plus `*.name` for subdomains (Blocky).
    Wildcard,
    /// `local=/name/` (dnsmasq 2.86 or newer).
    Dnsmasq,
    /// `address=/name/` (older dnsmasq).
    DnsmasqLegacy,
    /// `local-zone: "name." always_nxdomain`, to include in `unbound.conf`.
    Unbound,
    /// A DNS response policy zone (`CNAME .` and `CNAME rpz-passthru.` records).
    Rpz,
    /// The list's exceptions, one name per line.
    Allowlist,
}

impl Format {
    /// Every format, in a stable order.
    pub const ALL: [Format; 9] = [
        Format::Adblock,
        Format::Hosts,
        Format::Domains,
        Format::Wildcard,
        Format::Dnsmasq,
        Format::DnsmasqLegacy,
        Format::Unbound,
        Format::Rpz,
        Format::Allowlist,
    ];

    /// The format named `name` (as returned by [`Format::name`]), if any.
    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|format| format.name() == name)
    }

    /// The format's name: `adblock`, `hosts`, `domains`, `wildcard`, `dnsmasq`, `dnsmasq-legacy`,
    /// `unbound`, `rpz` or `allowlist`.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Adblock => "adblock",
            Format::Hosts => "hosts",
            Format::Domains => "domains",
            Format::Wildcard => "wildcard",
            Format::Dnsmasq => "dnsmasq",
            Format::DnsmasqLegacy => "dnsmasq-legacy",
            Format::Unbound => "unbound",
            Format::Rpz => "rpz",
            Format::Allowlist => "allowlist",
        }
    }

    /// What starts a comment line: `!` for adblock, `;` for RPZ zone files, `#` for the rest.
    pub fn comment_prefix(&self) -> &'static str {
        match self {
            Format::Adblock => "!",
            Format::Rpz => ";",
            _ => "#",
        }
    }

    /// The usual file name extension, without the dot: `conf` for dnsmasq and unbound, `rpz` for
    /// RPZ, `txt` for the rest.
    pub fn file_name_suffix(&self) -> &'static str {
        match self {
            Format::Dnsmasq | Format::DnsmasqLegacy | Format::Unbound => "conf",
            Format::Rpz => "rpz",
            _ => "txt",
        }
    }

    /// One sentence saying exactly what the format can express.
    pub fn describe(&self) -> &'static str {
        match self {
            Format::Adblock => {
                "Every rule as written, with exceptions, modifiers and comments, for AdGuard Home, AdGuard DNS and \
                 other blockers that read adblock-style DNS rules."
            }
            Format::Hosts => {
                "Blocked names as 0.0.0.0 lines, exact names only: a rule for a name and its subdomains keeps just \
                 the name, and exceptions are applied by leaving out the blocks they cancel."
            }
            Format::Domains => {
                "Blocked names one per line, exact names only: a rule for a name and its subdomains keeps just the \
                 name, and exceptions are applied by leaving out the blocks they cancel."
            }
            Format::Wildcard => {
                "Blocked names one per line with *.name for their subdomains (Blocky): exact names and whole \
                 subtrees, with exceptions applied by leaving out the blocks they cancel."
            }
            Format::Dnsmasq => {
                "local=/name/ lines for dnsmasq 2.86 or newer, each blocking a name with all its subdomains: \
                 exact-name rules are widened to their subtree, and exceptions are applied by leaving out the \
                 blocks they cancel."
            }
            Format::DnsmasqLegacy => {
                "address=/name/ lines for older dnsmasq versions, each blocking a name with all its subdomains: \
                 exact-name rules are widened to their subtree, and exceptions are applied by leaving out the \
                 blocks they cancel."
            }
            Format::Unbound => {
                "local-zone lines for unbound.conf, each answering NXDOMAIN for a name with all its subdomains: \
                 exact-name rules are widened to their subtree, and exceptions are applied by leaving out the \
                 blocks they cancel."
            }
            Format::Rpz => {
                "A DNS response policy zone with exact names, whole subtrees and exceptions (rpz-passthru), \
                 reproducing the list's DNS rules including $important."
            }
            Format::Allowlist => {
                "The list's exceptions as names one per line, exact names only: an exception for a name and its \
                 subdomains keeps just the name, and block rules are left out."
            }
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
