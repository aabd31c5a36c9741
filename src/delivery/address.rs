//! Which MX addresses a sender dials: the address families it uses, in which order, and the
//! special-purpose ranges an internet sender refuses (RFC 6890 and the IANA special-purpose
//! address registries it set up: RFC 1122, RFC 1918, RFC 3927, RFC 4193, RFC 4291, RFC 5735,
//! RFC 5737, RFC 6598, RFC 3849).
//!
//! An MX whose name resolves to 127.0.0.1, 10.0.0.1 or fe80::1 points a sender on the internet at
//! itself or at its own network: a hostile DNS answer (or a domain owner's mistake) that would make
//! a relay or a checker connect to services behind its firewall. The rules here say so; whether to
//! refuse is the host's choice ([`AddressRules::allow_private`]: a lab on loopback allows it).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A special-purpose range an address falls in: what it is called and where it is defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialRange {
    /// `loopback`, `private`, `link-local`, ...: the kind, as the error message says it.
    pub kind: &'static str,
    /// The RFC (and section) that sets the range aside.
    pub rfc: &'static str,
}

const fn range(kind: &'static str, rfc: &'static str) -> SpecialRange {
    SpecialRange { kind, rfc }
}

// RFC 6890 §2.2.2 (RFC 5735 before it) and the IANA IPv4 special-purpose registry: every block
// that is not globally reachable, or is no unicast destination at all.
const V4: &[(u32, u8, SpecialRange)] = &[
    (0x0000_0000, 8, range("this-network", "RFC 1122 §3.2.1.3")),
    (0x0a00_0000, 8, range("private", "RFC 1918 §3")),
    (0x6440_0000, 10, range("shared", "RFC 6598 §7")),
    (0x7f00_0000, 8, range("loopback", "RFC 1122 §3.2.1.3")),
    (0xa9fe_0000, 16, range("link-local", "RFC 3927 §2.1")),
    (0xac10_0000, 12, range("private", "RFC 1918 §3")),
    (0xc000_0000, 24, range("reserved", "RFC 6890 §2.1")),
    (0xc000_0200, 24, range("documentation", "RFC 5737 §3")),
    (0xc058_6300, 24, range("reserved", "RFC 7526 §5")),
    (0xc0a8_0000, 16, range("private", "RFC 1918 §3")),
    (0xc612_0000, 15, range("benchmarking", "RFC 2544 §C.2.2")),
    (0xc633_6400, 24, range("documentation", "RFC 5737 §3")),
    (0xcb00_7100, 24, range("documentation", "RFC 5737 §3")),
    (0xe000_0000, 4, range("multicast", "RFC 5771 §2")),
    (0xf000_0000, 4, range("reserved", "RFC 1112 §4")),
];

// RFC 6890 §2.2.3 and the IANA IPv6 special-purpose registry. IPv4-mapped addresses are no IPv6
// destination (RFC 4291 §2.5.5.2): a DNS answer with one is refused rather than dialled as IPv4.
const V6: &[(u128, u8, SpecialRange)] = &[
    (0, 128, range("unspecified", "RFC 4291 §2.5.2")),
    (1, 128, range("loopback", "RFC 4291 §2.5.3")),
    // The deprecated IPv4-compatible addresses ::a.b.c.d (RFC 4291 §2.5.5.1): no destination.
    (0, 96, range("ipv4-compatible", "RFC 4291 §2.5.5.1")),
    (
        0xffff_0000_0000,
        96,
        range("ipv4-mapped", "RFC 4291 §2.5.5.2"),
    ),
    (0x0064_ff9b_0001 << 80, 48, range("private", "RFC 8215 §4")),
    (0x0100 << 112, 64, range("discard", "RFC 6666 §4")),
    (0x2001 << 112, 23, range("reserved", "RFC 2928 §2")),
    (0x2001_0db8 << 96, 32, range("documentation", "RFC 3849 §2")),
    (0x3fff << 112, 20, range("documentation", "RFC 9637 §3")),
    (0x5f00 << 112, 16, range("reserved", "RFC 9602 §4")),
    (0xfc00 << 112, 7, range("unique-local", "RFC 4193 §3")),
    (0xfe80 << 112, 10, range("link-local", "RFC 4291 §2.5.6")),
    (0xfec0 << 112, 10, range("site-local", "RFC 3879 §4")),
    (0xff00 << 112, 8, range("multicast", "RFC 4291 §2.7")),
];

/// The special-purpose range `ip` is in, if any; none for a globally reachable unicast address.
pub fn special_range(ip: IpAddr) -> Option<SpecialRange> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => {
            let n = u128::from(v6);
            // RFC 6052 §2.1: the well-known NAT64 prefix 64:ff9b::/96 carries an IPv4 address,
            // reached through a translator: it is as special as the address it carries.
            if n >> 32 == 0x0064_ff9b << 64 {
                return special_v4(Ipv4Addr::from(n as u32));
            }
            // RFC 3056 §2: a 6to4 address 2002:V4ADDR::/48 is reached through the IPv4 address in
            // its bits 16-47 (a 6to4 relay or the host's own tunnel): as special as that address.
            if n >> 112 == 0x2002 {
                if let Some(r) = special_v4(Ipv4Addr::from((n >> 80) as u32)) {
                    return Some(r);
                }
            }
            V6.iter()
                .find(|(net, len, _)| prefix_match_128(n, *net, *len))
                .map(|(_, _, r)| *r)
        }
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<SpecialRange> {
    let n = u32::from(ip);
    V4.iter()
        .find(|(net, len, _)| {
            let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
            n & mask == *net
        })
        .map(|(_, _, r)| *r)
}

fn prefix_match_128(n: u128, net: u128, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    n & mask == net
}

/// Which address families a delivery dials, in which order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Family {
    /// Every address, in the order the DNS host gave them.
    #[default]
    Any,
    /// IPv4 addresses of a host before its IPv6 ones.
    PreferV4,
    /// IPv6 addresses of a host before its IPv4 ones.
    PreferV6,
    /// IPv4 only: IPv6 addresses are not dialled.
    OnlyV4,
    /// IPv6 only.
    OnlyV6,
}

impl Family {
    /// `any`, `prefer-ipv4`, `prefer-ipv6`, `ipv4-only`, `ipv6-only`.
    pub fn from_name(name: &str) -> Option<Family> {
        Some(match name {
            "any" => Family::Any,
            "prefer-ipv4" => Family::PreferV4,
            "prefer-ipv6" => Family::PreferV6,
            "ipv4-only" => Family::OnlyV4,
            "ipv6-only" => Family::OnlyV6,
            _ => return None,
        })
    }

    fn admits(self, ip: &IpAddr) -> bool {
        match self {
            Family::OnlyV4 => ip.is_ipv4(),
            Family::OnlyV6 => ip.is_ipv6(),
            _ => true,
        }
    }

    /// What a host left without an address of the family lacks (for the attempt's message).
    pub fn lacking(self) -> Option<&'static str> {
        match self {
            Family::OnlyV4 => Some("no IPv4 address (ipv4-only)"),
            Family::OnlyV6 => Some("no IPv6 address (ipv6-only)"),
            _ => None,
        }
    }
}

/// The host's rules for the addresses a delivery dials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressRules {
    /// Dial addresses in special-purpose ranges (loopback, private, link-local, ...): a lab or a
    /// private network. `AddressRules::default()` is a sender on the internet: off. A machine
    /// given no rules (tests, vectors) dials what it is given ([`AddressRules::permissive`]); the
    /// hosts (connectMx, the relay, `mtasts check`) give the internet's rules unless told otherwise.
    pub allow_private: bool,
    pub family: Family,
    /// The local address to bind for IPv4 targets, and for IPv6 targets.
    pub local_v4: Option<Ipv4Addr>,
    pub local_v6: Option<Ipv6Addr>,
}

impl AddressRules {
    /// Rules that dial anything (the machine's default; see [`AddressRules::allow_private`]).
    pub fn permissive() -> AddressRules {
        AddressRules {
            allow_private: true,
            ..AddressRules::default()
        }
    }

    /// Sets the local addresses from the host's list: numeric, at most one per family. A target of
    /// a family without one is dialled unbound (the OS picks): `Family::OnlyV4` with an IPv4
    /// local address is how a caller keeps every connection on one source address.
    pub fn with_local(mut self, list: &[String]) -> Result<AddressRules, String> {
        for text in list {
            match text.trim().parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) if self.local_v4.is_none() => self.local_v4 = Some(a),
                Ok(IpAddr::V6(a)) if self.local_v6.is_none() => self.local_v6 = Some(a),
                Ok(_) => return Err("localAddress: at most one IPv4 and one IPv6 address".into()),
                Err(_) => {
                    return Err(format!(
                        "localAddress must be a numeric IPv4 or IPv6 address, found {}",
                        crate::diagnostic::shown(text)
                    ))
                }
            }
        }
        Ok(self)
    }

    /// The local address to bind when dialling `target`: the one of its family, if given.
    pub fn local_for(&self, target: &IpAddr) -> Option<IpAddr> {
        match target {
            IpAddr::V4(_) => self.local_v4.map(IpAddr::V4),
            IpAddr::V6(_) => self.local_v6.map(IpAddr::V6),
        }
    }
}

/// What becomes of one address the DNS host returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screened {
    /// Dial it (canonical text form).
    Dial(IpAddr),
    /// Not of the family asked for: silently left out.
    OtherFamily,
    /// In a special-purpose range the rules refuse.
    Refused(IpAddr, SpecialRange),
    /// Not a numeric IP address at all: dialling it would make the OS resolve the name.
    NotAnAddress,
}

/// The addresses of one host screened and ordered by the rules: the order is the host's, stable
/// within a family; with a preference the preferred family comes first.
pub fn screen(rules: &AddressRules, addresses: &[String]) -> Vec<(String, Screened)> {
    let mut out: Vec<(String, Screened)> = addresses
        .iter()
        .map(|text| {
            let s = match text.trim().parse::<IpAddr>() {
                Err(_) => Screened::NotAnAddress,
                Ok(ip) if !rules.family.admits(&ip) => Screened::OtherFamily,
                Ok(ip) => match special_range(ip) {
                    Some(r) if !rules.allow_private => Screened::Refused(ip, r),
                    // Spec: allowed or not, an IPv4-mapped AAAA is dialled as the IPv4 it is.
                    _ => Screened::Dial(match ip {
                        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                        v4 => v4,
                    }),
                },
            };
            (text.clone(), s)
        })
        .collect();
    let rank = |s: &Screened| match (rules.family, s) {
        (Family::PreferV4, Screened::Dial(IpAddr::V6(_))) => 1,
        (Family::PreferV6, Screened::Dial(IpAddr::V4(_))) => 1,
        _ => 0,
    };
    out.sort_by_key(|(_, s)| rank(s));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_ranges_table() {
        // (address, kind or "" for global unicast, reason)
        let cases: &[(&str, &str, &str)] = &[
            ("127.0.0.1", "loopback", "RFC 1122: 127/8"),
            ("127.255.255.254", "loopback", "the whole /8"),
            ("10.1.2.3", "private", "RFC 1918 10/8"),
            ("172.16.0.1", "private", "RFC 1918 172.16/12, first"),
            ("172.31.255.255", "private", "RFC 1918 172.16/12, last"),
            ("172.32.0.1", "", "just past 172.16/12"),
            ("192.168.1.1", "private", "RFC 1918 192.168/16"),
            ("100.64.0.1", "shared", "RFC 6598 carrier-grade NAT"),
            ("100.128.0.1", "", "just past 100.64/10"),
            (
                "169.254.169.254",
                "link-local",
                "RFC 3927 (cloud metadata lives here)",
            ),
            ("0.0.0.0", "this-network", "RFC 1122 this host"),
            (
                "192.0.0.8",
                "reserved",
                "RFC 6890 IETF protocol assignments",
            ),
            ("192.0.2.1", "documentation", "RFC 5737 TEST-NET-1"),
            ("198.51.100.7", "documentation", "RFC 5737 TEST-NET-2"),
            ("203.0.113.9", "documentation", "RFC 5737 TEST-NET-3"),
            ("198.18.0.1", "benchmarking", "RFC 2544 198.18/15"),
            ("198.19.255.255", "benchmarking", "RFC 2544, last"),
            ("192.88.99.1", "reserved", "RFC 7526 deprecated 6to4 relay"),
            ("224.0.0.1", "multicast", "RFC 5771"),
            ("240.0.0.1", "reserved", "RFC 1112 class E"),
            ("255.255.255.255", "reserved", "limited broadcast"),
            ("8.8.8.8", "", "global unicast"),
            ("193.0.6.139", "", "global unicast"),
            ("::", "unspecified", "RFC 4291"),
            ("::1", "loopback", "RFC 4291"),
            (
                "::ffff:127.0.0.1",
                "ipv4-mapped",
                "RFC 4291 §2.5.5.2: no IPv6 destination",
            ),
            (
                "::ffff:8.8.8.8",
                "ipv4-mapped",
                "mapped, even of a global address",
            ),
            ("64:ff9b::7f00:1", "loopback", "RFC 6052 NAT64 of 127.0.0.1"),
            ("64:ff9b::808:808", "", "RFC 6052 NAT64 of 8.8.8.8"),
            ("64:ff9b:1::1", "private", "RFC 8215 local-use NAT64"),
            ("100::1", "discard", "RFC 6666"),
            (
                "2001::1",
                "reserved",
                "RFC 2928 IETF protocol assignments (Teredo)",
            ),
            ("2001:db8::25", "documentation", "RFC 3849"),
            ("3fff::1", "documentation", "RFC 9637"),
            ("5f00::1", "reserved", "RFC 9602 SRv6 SIDs"),
            ("fc00::1", "unique-local", "RFC 4193 fc00::/7"),
            ("fd12:3456::1", "unique-local", "RFC 4193 fd00::/8 half"),
            ("fe80::1", "link-local", "RFC 4291 fe80::/10"),
            ("febf::1", "link-local", "end of fe80::/10"),
            ("fec0::1", "site-local", "RFC 3879 deprecated"),
            ("ff02::1", "multicast", "RFC 4291"),
            ("2a00:1450:4001::1b", "", "global unicast"),
            (
                "::7f00:1",
                "ipv4-compatible",
                "RFC 4291 §2.5.5.1 deprecated",
            ),
            ("::808:808", "ipv4-compatible", "deprecated, of any address"),
            ("2002:7f00:1::", "loopback", "RFC 3056 6to4 of 127.0.0.1"),
            ("2002:c0a8:101::1", "private", "6to4 of 192.168.1.1"),
            ("2002:808:808::1", "", "6to4 of 8.8.8.8: global"),
            ("2001:4860::8888", "", "global unicast outside 2001::/23"),
        ];
        for (text, kind, why) in cases {
            let ip: IpAddr = text.parse().unwrap();
            let got = special_range(ip).map_or("", |r| r.kind);
            assert_eq!(got, *kind, "{text}: {why}");
        }
    }

    fn dial(rules: &AddressRules, list: &[&str]) -> Vec<String> {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        screen(rules, &list)
            .into_iter()
            .filter_map(|(_, s)| match s {
                Screened::Dial(ip) => Some(ip.to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_range_of_the_tables_is_found_inside_it() {
        // One address inside each range (its first bit past the prefix set), so a wrong
        // prefix length or network shows in whichever entry it is.
        for (net, len, r) in V4 {
            let inside = if *len < 32 {
                net | (1 << (31 - len))
            } else {
                *net
            };
            let got = special_range(IpAddr::V4(Ipv4Addr::from(inside)));
            assert_eq!(
                got.map(|g| g.kind),
                Some(r.kind),
                "{}",
                Ipv4Addr::from(inside)
            );
        }
        for (net, len, r) in V6 {
            let inside = if *len < 128 {
                net | (1 << (127 - len))
            } else {
                *net
            };
            let got = special_range(IpAddr::V6(std::net::Ipv6Addr::from(inside)));
            assert_eq!(
                got.map(|g| g.kind),
                Some(r.kind),
                "{}",
                std::net::Ipv6Addr::from(inside)
            );
        }
    }

    #[test]
    fn what_a_host_without_the_family_lacks() {
        assert_eq!(
            Family::OnlyV4.lacking(),
            Some("no IPv4 address (ipv4-only)")
        );
        assert_eq!(
            Family::OnlyV6.lacking(),
            Some("no IPv6 address (ipv6-only)")
        );
        for f in [Family::Any, Family::PreferV4, Family::PreferV6] {
            assert_eq!(f.lacking(), None, "{f:?} takes either family");
        }
    }

    #[test]
    fn families_order_and_exclude() {
        let mut r = AddressRules::default();
        let list = ["2a00::1", "8.8.8.8", "2a00::2", "8.8.4.4"];
        assert_eq!(dial(&r, &list), list, "any: the DNS host's order");
        r.family = Family::PreferV4;
        assert_eq!(
            dial(&r, &list),
            ["8.8.8.8", "8.8.4.4", "2a00::1", "2a00::2"]
        );
        r.family = Family::PreferV6;
        assert_eq!(
            dial(&r, &list),
            ["2a00::1", "2a00::2", "8.8.8.8", "8.8.4.4"]
        );
        r.family = Family::OnlyV4;
        assert_eq!(dial(&r, &list), ["8.8.8.8", "8.8.4.4"]);
        r.family = Family::OnlyV6;
        assert_eq!(dial(&r, &list), ["2a00::1", "2a00::2"]);
        for name in [
            "any",
            "prefer-ipv4",
            "prefer-ipv6",
            "ipv4-only",
            "ipv6-only",
        ] {
            assert!(Family::from_name(name).is_some(), "{name}");
        }
        assert_eq!(Family::from_name("ipv4"), None, "names are exact");
    }

    #[test]
    fn refusal_and_its_switch() {
        let internet = AddressRules::default();
        let list: Vec<String> = ["127.0.0.1", "8.8.8.8", "mx.example.com", "fe80::1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let s = screen(&internet, &list);
        assert!(matches!(s[0].1, Screened::Refused(_, r) if r.kind == "loopback"));
        assert!(matches!(s[1].1, Screened::Dial(_)));
        assert_eq!(s[2].1, Screened::NotAnAddress, "a name is never dialled");
        assert!(matches!(s[3].1, Screened::Refused(_, r) if r.kind == "link-local"));
        let lab = AddressRules::permissive();
        assert_eq!(dial(&lab, &["127.0.0.1", "::1"]), ["127.0.0.1", "::1"]);
        assert_eq!(
            dial(&lab, &["::ffff:127.0.0.1"]),
            ["127.0.0.1"],
            "mapped: as IPv4"
        );
        let s = screen(&lab, &["not-an-ip".to_string()]);
        assert_eq!(s[0].1, Screened::NotAnAddress, "allowed or not");
    }

    #[test]
    fn local_address_by_family() {
        let r = AddressRules {
            local_v4: Some("192.0.2.10".parse().unwrap()),
            ..AddressRules::default()
        };
        assert_eq!(
            r.local_for(&"8.8.8.8".parse().unwrap()),
            Some("192.0.2.10".parse().unwrap())
        );
        assert_eq!(
            r.local_for(&"2a00::1".parse().unwrap()),
            None,
            "no v6 given: unbound"
        );
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let r = AddressRules::default()
            .with_local(&list(&["::1", "127.0.0.1"]))
            .unwrap();
        assert_eq!(
            (
                r.local_v4.unwrap().to_string(),
                r.local_v6.unwrap().to_string()
            ),
            ("127.0.0.1".into(), "::1".into())
        );
        for bad in [
            &["127.0.0.1", "127.0.0.2"][..],
            &["localhost"],
            &["::1", "::2"],
        ] {
            assert!(
                AddressRules::default().with_local(&list(bad)).is_err(),
                "{bad:?}"
            );
        }
    }
}
