//! Which IP addresses are not on the public internet: loopback, private, link-local and the
//! other special-purpose ranges of IANA's IPv4 and IPv6 registries that a request from a
//! component must not reach unless the operator named the host (see [`super::Outbound`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kind of special-purpose range an address is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestrictedRange {
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`, IPv6 unique local `fc00::/7`.
    Private,
    /// `169.254.0.0/16` (cloud metadata services live there), `fe80::/10`.
    LinkLocal,
    /// `0.0.0.0`, `::`.
    Unspecified,
    /// Carrier-grade NAT, `100.64.0.0/10`.
    SharedAddressSpace,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// Not routable on the internet for another reason: "this network" `0.0.0.0/8`, IETF
    /// protocol assignments `192.0.0.0/24`, benchmarking `198.18.0.0/15` and `2001:2::/48`,
    /// reserved `240.0.0.0/4`, the deprecated 6to4 relay `192.88.99.0/24`; IPv6 outside global
    /// unicast `2000::/3` (IPv4-compatible `::/96`, discard-only `100::/64`, local-use NAT64
    /// `64:ff9b:1::/48`, site-local `fec0::/10`, …), Teredo `2001::/32`.
    Reserved,
}

impl RestrictedRange {
    /// What the range is, in words, for logs.
    pub fn describe(self) -> &'static str {
        match self {
            RestrictedRange::Loopback => "loopback",
            RestrictedRange::Private => "private",
            RestrictedRange::LinkLocal => "link-local",
            RestrictedRange::Unspecified => "unspecified",
            RestrictedRange::SharedAddressSpace => "carrier-grade NAT",
            RestrictedRange::Multicast => "multicast",
            RestrictedRange::Broadcast => "broadcast",
            RestrictedRange::Documentation => "documentation",
            RestrictedRange::Reserved => "reserved",
        }
    }
}

/// The restricted range `ip` is in, or `None` for an address on the public internet. IPv6
/// forms that carry an IPv4 address (IPv4-mapped `::ffff:0:0/96`, NAT64 `64:ff9b::/96`, 6to4
/// `2002::/16`) are judged by that IPv4 address.
pub fn restricted_range(ip: IpAddr) -> Option<RestrictedRange> {
    match ip {
        IpAddr::V4(v4) => restricted_v4(v4),
        IpAddr::V6(v6) => restricted_v6(v6),
    }
}

fn restricted_v4(ip: Ipv4Addr) -> Option<RestrictedRange> {
    let [a, b, c, _] = ip.octets();
    Some(if ip.is_unspecified() {
        RestrictedRange::Unspecified
    } else if ip.is_loopback() {
        RestrictedRange::Loopback
    } else if ip.is_private() {
        RestrictedRange::Private
    } else if ip.is_link_local() {
        RestrictedRange::LinkLocal
    } else if a == 100 && (b & 0xc0) == 64 {
        RestrictedRange::SharedAddressSpace
    } else if ip.is_broadcast() {
        RestrictedRange::Broadcast
    } else if ip.is_multicast() {
        RestrictedRange::Multicast
    } else if ip.is_documentation() {
        RestrictedRange::Documentation
    } else if a == 0                              // this network
        || (a == 192 && b == 0 && c == 0)         // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99)       // 6to4 relay anycast (deprecated)
        || (a == 198 && (b & 0xfe) == 18)         // benchmarking
        || a >= 240
    // reserved for future use
    {
        RestrictedRange::Reserved
    } else {
        return None;
    })
}

fn restricted_v6(ip: Ipv6Addr) -> Option<RestrictedRange> {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return restricted_v4(v4);
    }
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    Some(if ip.is_unspecified() {
        RestrictedRange::Unspecified
    } else if ip.is_loopback() {
        RestrictedRange::Loopback
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64: the gateway would reach the IPv4 address it carries.
        return restricted_v4(embedded_v4(s[6], s[7]));
    } else if s[0] == 0x2002 {
        // 6to4: a relay would reach the IPv4 address it carries.
        return restricted_v4(embedded_v4(s[1], s[2]));
    } else if ip.is_unique_local() {
        RestrictedRange::Private
    } else if ip.is_unicast_link_local() {
        RestrictedRange::LinkLocal
    } else if ip.is_multicast() {
        RestrictedRange::Multicast
    } else if (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] & 0xfff0) == 0x3ff0 {
        RestrictedRange::Documentation
    } else if (s[0] & 0xe000) != 0x2000                 // outside global unicast 2000::/3
        || (s[0] == 0x2001 && s[1] == 0)                // Teredo
        || (s[0] == 0x2001 && s[1] == 2 && s[2] == 0)
    // benchmarking
    {
        RestrictedRange::Reserved
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::RestrictedRange::*;
    use super::*;

    fn range(ip: &str) -> Option<RestrictedRange> {
        restricted_range(ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}")))
    }

    #[test]
    fn internal_ipv4_ranges_are_restricted() {
        for (ip, expected) in [
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("169.254.169.254", LinkLocal),
            ("169.254.0.1", LinkLocal),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Reserved),
            ("100.64.0.1", SharedAddressSpace),
            ("100.127.255.255", SharedAddressSpace),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("255.255.255.255", Broadcast),
            ("192.0.2.1", Documentation),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("192.0.0.8", Reserved),
            ("192.88.99.1", Reserved),
            ("198.18.0.1", Reserved),
            ("198.19.255.255", Reserved),
            ("240.0.0.1", Reserved),
        ] {
            assert_eq!(range(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn public_ipv4_addresses_are_not() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.255.255",
            "192.167.1.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
        ] {
            assert_eq!(range(ip), None, "{ip}");
        }
    }

    #[test]
    fn internal_ipv6_ranges_are_restricted() {
        for (ip, expected) in [
            ("::1", Loopback),
            ("::", Unspecified),
            ("fc00::1", Private),
            ("fd12:3456:789a::1", Private),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("fec0::1", Reserved),
            ("ff02::1", Multicast),
            ("2001:db8::1", Documentation),
            ("3fff::1", Documentation),
            ("100::1", Reserved),
            ("2001::1", Reserved),
            ("2001:2::1", Reserved),
            ("64:ff9b:1::1", Reserved),
            ("fe7f::1", Reserved),
            ("4000::1", Reserved),
            ("::7f00:1", Reserved),
            // IPv4 addresses in IPv6 clothing are judged as the IPv4 address.
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:10.1.2.3", Private),
            ("::ffff:0.0.0.0", Unspecified),
            ("64:ff9b::127.0.0.1", Loopback),
            ("64:ff9b::a9fe:a9fe", LinkLocal),
            ("2002:7f00:1::", Loopback),
            ("2002:c0a8:101::1", Private),
        ] {
            assert_eq!(range(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn public_ipv6_addresses_are_not() {
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:db9::1",
            "2001:4860:4860::8888",
        ] {
            assert_eq!(range(ip), None, "{ip}");
        }
    }
}
