//! A socketmap request: `name SP key` (socketmap_table(5)). For `smtp_tls_policy_maps` the name
//! is the map name of the `socketmap:inet:HOST:PORT:NAME` line (it selects a zone of options) and
//! the key is the next-hop destination as Postfix looks it up: `example.com`, `example.com:587`,
//! `[mail.example.com]`, `[mail.example.com]:587` (smtp_tls_policy_maps in postconf(5)), and with
//! `parent_domain_matches_subdomains` also `.example.com`.

use crate::domain::normalize_domain;
use crate::error::SocketmapError;
use std::net::IpAddr;

/// Why a key names no domain whose MTA-STS policy could apply: the answer is `NOTFOUND`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// `.example.com`: Postfix asking for a parent domain's entry. RFC 8461 §4.1: a policy
    /// applies to its own domain only, never to subdomains.
    ParentDomain,
    /// `[192.0.2.1]`, `[ipv6:2001:db8::1]` or a bare address: no domain, no policy (RFC 8461 §4
    /// applies MX host names of a domain).
    AddressLiteral,
    /// The key is not a domain name (the reason says why).
    NotADomain(String),
}

/// What a key stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The policy domain: lowercase A-labels, no trailing dot, no brackets or port.
    Domain(String),
    Skip(Skip),
}

/// One request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The map name (selects the zone).
    pub map: String,
    /// The key as sent.
    pub key: String,
    pub lookup: Lookup,
}

/// Reads a request's data. An error (not UTF-8, no space, an empty name or key, control bytes)
/// is answered `PERM`; the connection goes on.
pub fn parse_request(data: &[u8]) -> Result<Request, SocketmapError> {
    let bad = |detail: &str| SocketmapError::Request {
        detail: detail.to_string(),
    };
    let text = std::str::from_utf8(data).map_err(|_| bad("the request is not UTF-8"))?;
    if text.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(bad("the request holds control characters"));
    }
    let (map, key) = text
        .split_once(' ')
        .ok_or_else(|| bad("no space between the map name and the key"))?;
    if map.is_empty() {
        return Err(bad("the map name is empty"));
    }
    if key.is_empty() {
        return Err(bad("the key is empty"));
    }
    Ok(Request {
        map: map.to_string(),
        key: key.to_string(),
        lookup: lookup_of(key),
    })
}

/// The policy domain a next-hop key stands for (see the module doc for the forms).
pub fn lookup_of(key: &str) -> Lookup {
    // socketmap keys of parent-domain lookups begin with "." (parent_domain_matches_subdomains).
    if key.starts_with('.') {
        return Lookup::Skip(Skip::ParentDomain);
    }
    let host = if let Some(rest) = key.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return Lookup::Skip(Skip::NotADomain("\"[\" without \"]\"".into()));
        };
        if !(after.is_empty() || is_port_suffix(after)) {
            return Lookup::Skip(Skip::NotADomain("only \":port\" may follow \"]\"".into()));
        }
        // RFC 5321 §4.1.3: an address literal in brackets, IPv6 tagged "IPv6:".
        // Bytes, not str: the key may have a multi-byte character there (found by fuzzing).
        let tagged = inner.len() > 5 && inner.as_bytes()[..5].eq_ignore_ascii_case(b"ipv6:");
        if tagged || inner.parse::<IpAddr>().is_ok() {
            return Lookup::Skip(Skip::AddressLiteral);
        }
        inner
    } else {
        match key.rsplit_once(':') {
            Some((host, _)) if is_port_suffix(&key[host.len()..]) && !host.contains(':') => host,
            _ => key,
        }
    };
    if host.parse::<IpAddr>().is_ok() {
        return Lookup::Skip(Skip::AddressLiteral);
    }
    if host.starts_with('.') {
        return Lookup::Skip(Skip::ParentDomain);
    }
    // Trailing dot and case: normalize_domain drops one trailing dot and lowercases A-labels
    // (U-labels of SMTPUTF8 domains become A-labels, the form policies are fetched under).
    match normalize_domain(host) {
        Ok(domain) => Lookup::Domain(domain),
        Err(e) => Lookup::Skip(Skip::NotADomain(e.to_string())),
    }
}

/// `:` followed by 1-5 digits.
fn is_port_suffix(s: &str) -> bool {
    s.strip_prefix(':')
        .is_some_and(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracketed_keys_with_multi_byte_characters() {
        // (key, why): a character across byte 5 of the brackets' content (fuzz/regressions/socketmap).
        let cases = [
            ("[abcd\u{4a0}x]", "2-byte character over byte 5"),
            ("[ipv\u{20ac}:1]", "3-byte character inside the tag"),
            ("[\u{1f600}\u{1f600}]", "4-byte characters"),
        ];
        for (key, why) in cases {
            assert!(
                matches!(
                    lookup_of(key),
                    Lookup::Skip(Skip::NotADomain(_)) | Lookup::Domain(_)
                ),
                "{why}"
            );
        }
        assert_eq!(
            lookup_of("[IPv6:2001:db8::1]"),
            Lookup::Skip(Skip::AddressLiteral),
            "the tag still reads"
        );
    }
}
