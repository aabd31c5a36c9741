//! MX host matching (RFC 8461 §4.1).
//!
//! > MX patterns ... are either fully qualified domain names or names with a wildcard "*" as the
//! > left-most label, which matches exactly one label: "*.example.com" matches "mx1.example.com"
//! > but not "example.com" or "a.b.example.com". Matching is case-insensitive.

use crate::domain::{check_domain, DomainProblem};
use crate::error::MxError;
use crate::idna;
use std::borrow::Cow;
use std::collections::HashMap;

/// One `mx` value of a policy: `["*."] Domain` (RFC 8461 §3.2), in lower case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MxPattern {
    text: String,
}

impl MxPattern {
    /// Parses `sts-policy-mx-value = ["*."] Domain`. The problem offset is relative to `s`.
    pub fn parse(s: &str) -> Result<MxPattern, DomainProblem> {
        Self::check(s)?;
        // RFC 8461 §4.1 (and RFC 4343 §3): names compare case-insensitively, so a pattern has one
        // spelling, lower case. A valid pattern is ASCII (A-labels), so ASCII folding is enough.
        Ok(MxPattern {
            text: s.to_ascii_lowercase(),
        })
    }

    /// The checks of [`MxPattern::parse`] without making a pattern.
    pub fn check(s: &str) -> Result<(), DomainProblem> {
        let domain_at = if s.starts_with("*.") { 2 } else { 0 };
        let domain = check_domain(&s[domain_at..]);
        if domain.is_ok() {
            return Ok(());
        }
        // RFC 8461 §4.1: "*" may only be the whole left-most label.
        if let Some(star) = s.as_bytes()[domain_at..].iter().position(|&b| b == b'*') {
            return Err(DomainProblem {
                at: domain_at + star,
                reason: "\"*\" may only be the whole left-most label (\"*.example.com\")".into(),
            });
        }
        domain.map_err(|p| DomainProblem {
            at: p.at + domain_at,
            ..p
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_wildcard(&self) -> bool {
        self.text.starts_with("*.")
    }

    /// Matches a host already normalised by [`normalize_host`] (A-labels, no trailing dot).
    pub fn matches(&self, host: &str) -> bool {
        pattern_matches(&self.text, host)
    }
}

/// RFC 8461 §4.1: `pattern` (valid, see [`MxPattern::check`]) against a host normalised by
/// [`normalize_host`]: case-insensitive; `*` matches exactly one whole label.
fn pattern_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        // A byte scan for the first dot: str::split_once's searcher costs more on names this short.
        Some(parent) => match host.bytes().position(|b| b == b'.') {
            Some(dot) => dot > 0 && host[dot + 1..].eq_ignore_ascii_case(parent),
            None => false,
        },
        None => host.eq_ignore_ascii_case(pattern),
    }
}

const LABEL_BYTE: u8 = 1;
const DOT: u8 = 2;
/// What each byte may be in a host name: a label byte (letters, digits, "-", "_"), the dot
/// between labels, or neither (0).
const HOST_BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' {
            t[b] = LABEL_BYTE;
        }
        b += 1;
    }
    t[b'.' as usize] = DOT;
    t
};

/// Normalises an MX host name for matching: one trailing dot dropped (DNS answers are absolute
/// names), U-labels converted to A-labels (RFC 8461 §4.1 compares A-label forms).
pub fn normalize_host(host: &str) -> Result<Cow<'_, str>, MxError> {
    let invalid = |reason| MxError::HostInvalid {
        host: host.to_string(),
        reason,
    };
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    if trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    let ascii: Cow<str> = if trimmed.is_ascii() {
        Cow::Borrowed(trimmed)
    } else {
        Cow::Owned(idna::to_ascii(trimmed).map_err(invalid)?)
    };
    // One pass over the bytes (a hot path: every MX host of every delivery): each label is
    // non-empty and holds letters, digits, "-" and "_" only; the first problem is reported.
    let mut label = 0;
    for &b in ascii.as_bytes() {
        match HOST_BYTES[usize::from(b)] {
            LABEL_BYTE => label += 1,
            DOT => {
                if label == 0 {
                    return Err(invalid("it has an empty label"));
                }
                label = 0;
            }
            _ => return Err(invalid("it holds characters no host name has")),
        }
    }
    if label == 0 {
        return Err(invalid("it has an empty label"));
    }
    Ok(ascii)
}

/// Returns the first pattern that `host` matches (RFC 8461 §4.1), or `None`; a host that is not
/// a domain name is an error that says why (see [`first_match`] for a plain verdict).
pub fn match_mx<'a, I>(patterns: I, host: &str) -> Result<Option<&'a MxPattern>, MxError>
where
    I: IntoIterator<Item = &'a MxPattern>,
{
    let host = normalize_host(host)?;
    Ok(patterns.into_iter().find(|p| p.matches(&host)))
}

/// The first pattern that `host` matches (RFC 8461 §4.1), or `None`. A host that is not a domain
/// name (empty, an empty label, characters no host name has) matches no pattern: every pattern is
/// a domain name, so none can equal it. This is the verdict the JS `matchMx` gives.
pub fn first_match<'a, I>(patterns: I, host: &str) -> Option<&'a MxPattern>
where
    I: IntoIterator<Item = &'a MxPattern>,
{
    match_mx(patterns, host).ok().flatten()
}

/// A policy's patterns ready to match many hosts (a delivery's whole MX answer): the same answer
/// as [`match_mx`]'s scan, found by lookup once there are many patterns. RFC 8461 §4.1: a host
/// matches only a pattern equal to it or the wildcard of its parent (`*` is exactly one label),
/// so the first of those two in the policy's order is the first match. An MX answer of n hosts
/// under a policy of n patterns was quadratic (found by fuzz/linear-time.sh, delivery-mx).
pub struct MxIndex<'a> {
    patterns: &'a [MxPattern],
    /// Pattern text → its first index, and wildcard parent → its first index; `None` while a
    /// scan is cheaper than hashing.
    lookup: Option<(FirstIndex<'a>, FirstIndex<'a>)>,
}

/// A pattern's text (or a wildcard's parent) → the index of its first occurrence.
type FirstIndex<'a> = HashMap<&'a str, usize>;

/// Up to this many patterns a scan is cheaper than a lookup.
const SCANNED_PATTERNS: usize = 8;

impl<'a> MxIndex<'a> {
    pub fn new(patterns: &'a [MxPattern]) -> MxIndex<'a> {
        let lookup = (patterns.len() > SCANNED_PATTERNS).then(|| {
            let (mut exact, mut wild) = (HashMap::new(), HashMap::new());
            for (i, p) in patterns.iter().enumerate() {
                match p.as_str().strip_prefix("*.") {
                    Some(parent) => wild.entry(parent).or_insert(i),
                    None => exact.entry(p.as_str()).or_insert(i),
                };
            }
            (exact, wild)
        });
        MxIndex { patterns, lookup }
    }

    /// The first pattern `host` matches; `host` as [`normalize_host`] gives it, in lower case.
    pub fn first_match(&self, host: &str) -> Option<&'a MxPattern> {
        let Some((exact, wild)) = &self.lookup else {
            return self.patterns.iter().find(|p| p.matches(host));
        };
        let equal = exact.get(host).copied();
        let parent = match host.bytes().position(|b| b == b'.') {
            Some(dot) if dot > 0 => wild.get(&host[dot + 1..]).copied(),
            _ => None,
        };
        let first = match (equal, parent) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        first.map(|i| &self.patterns[i])
    }
}

/// Parses patterns given directly (not from a policy), failing on the first invalid one.
pub fn parse_patterns<S: AsRef<str>>(patterns: &[S]) -> Result<Vec<MxPattern>, MxError> {
    patterns
        .iter()
        .map(|p| {
            MxPattern::parse(p.as_ref()).map_err(|e| MxError::PatternInvalid {
                pattern: p.as_ref().to_string(),
                reason: e.reason,
            })
        })
        .collect()
}

/// Patterns given as one string, one per line (one crossing of the wasm boundary for a list).
/// No valid pattern contains a line break, so the split cannot change a pattern.
pub fn parse_pattern_lines(lines: &str) -> Result<Vec<MxPattern>, MxError> {
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<&str> = lines.split('\n').collect();
    parse_patterns(&list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(patterns: &[&str], host: &str) -> bool {
        let patterns = parse_patterns(patterns).unwrap();
        match_mx(&patterns, host).unwrap().is_some()
    }

    #[test]
    fn table() {
        // (patterns, host, expected, reason) — RFC 8461 §4.1
        let cases: &[(&[&str], &str, bool, &str)] = &[
            (&["mail.example.com"], "mail.example.com", true, "exact"),
            (
                &["mail.example.com"],
                "MAIL.Example.COM",
                true,
                "case-insensitive host",
            ),
            (
                &["MAIL.example.com"],
                "mail.example.com",
                true,
                "case-insensitive pattern",
            ),
            (
                &["mail.example.com"],
                "mail.example.com.",
                true,
                "trailing dot on the host ignored",
            ),
            (
                &["mail.example.com"],
                "mail.example.net",
                false,
                "other domain",
            ),
            (
                &["mail.example.com"],
                "xmail.example.com",
                false,
                "suffix is not a match",
            ),
            (
                &["*.example.com"],
                "mx1.example.com",
                true,
                "wildcard matches one label",
            ),
            (
                &["*.example.com"],
                "example.com",
                false,
                "wildcard needs one label",
            ),
            (
                &["*.example.com"],
                "a.b.example.com",
                false,
                "wildcard matches exactly one label",
            ),
            (
                &["*.example.com"],
                "mx1.example.com.",
                true,
                "wildcard and trailing dot",
            ),
            (
                &["*.example.com"],
                "mx1.EXAMPLE.com",
                true,
                "wildcard case-insensitive",
            ),
            (
                &["*.example.com"],
                "mx1.example.comx",
                false,
                "parent must match whole",
            ),
            (
                &["a.example", "*.example.net"],
                "b.example.net",
                true,
                "second pattern",
            ),
            (&[], "mx.example.com", false, "no patterns"),
            (
                &["mx.xn--bcher-kva.example"],
                "mx.bücher.example",
                true,
                "U-label host converted",
            ),
            (
                &["mx.xn--bcher-kva.example"],
                "MX.BÜCHER.example",
                true,
                "U-label host lowercased",
            ),
            (
                &["*.xn--bcher-kva.example"],
                "mx.bücher.example",
                true,
                "U-label host, wildcard",
            ),
        ];
        for (patterns, host, want, why) in cases {
            assert_eq!(
                matches(patterns, host),
                *want,
                "{patterns:?} vs {host:?}: {why}"
            );
        }
    }

    #[test]
    fn hosts_that_are_not_domain_names_match_nothing() {
        // (host, reason) — RFC 8461 §4.1: patterns are domain names; these hosts are not.
        let patterns = parse_patterns(&["a.example", "*.example"]).unwrap();
        for (h, why) in [
            ("", "empty"),
            (".", "root only"),
            (".example", "empty first label"),
            ("a..example", "empty label"),
            ("a.example..", "only one trailing dot is dropped"),
            ("a b.example", "space"),
            ("a\nb.example", "line feed"),
        ] {
            assert!(match_mx(&patterns, h).is_err(), "{h:?}: match_mx says why");
            assert_eq!(first_match(&patterns, h), None, "{h:?}: {why}");
        }
        assert_eq!(
            first_match(&patterns, "B.Example").map(MxPattern::as_str),
            Some("*.example"),
            "a domain name still matches"
        );
    }

    #[test]
    fn pattern_lines() {
        assert_eq!(parse_pattern_lines("").unwrap().len(), 0);
        let p = parse_pattern_lines("a.example\n*.b.example").unwrap();
        assert_eq!(p.len(), 2);
        assert!(
            parse_pattern_lines("a.example\n").is_err(),
            "an empty line is an empty pattern"
        );
    }

    #[test]
    fn returns_the_pattern_that_matched() {
        let patterns = parse_patterns(&["a.example", "*.example.net"]).unwrap();
        let m = match_mx(&patterns, "mx.example.net").unwrap().unwrap();
        assert_eq!(m.as_str(), "*.example.net");
        assert!(m.is_wildcard());
    }

    #[test]
    fn bad_patterns_and_hosts() {
        // (pattern, reason)
        for (p, why) in [
            ("*", "bare wildcard"),
            ("*example.com", "wildcard not a whole label"),
            ("mx.*.example.com", "wildcard not left-most"),
            ("**.example.com", "double star"),
            ("*.*.example.com", "two wildcards"),
            ("", "empty"),
            ("mx.bücher.example", "U-label pattern"),
            ("mx.example.com.", "trailing dot in pattern"),
        ] {
            assert!(parse_patterns(&[p]).is_err(), "{p:?}: {why}");
        }
        // (host, reason)
        for (h, why) in [
            ("", "empty"),
            (".", "root only"),
            ("a.example..", "only one trailing dot is dropped"),
            ("a..b", "empty label"),
            ("a b", "space"),
            ("a\0b", "NUL"),
        ] {
            let patterns = parse_patterns(&["a.example"]).unwrap();
            let err = match_mx(&patterns, h).unwrap_err();
            assert_eq!(
                crate::Error::from(err).code(),
                "mx-host-invalid",
                "{h:?}: {why}"
            );
        }
    }

    #[test]
    fn problems_are_placed_in_the_pattern_as_written() {
        // (pattern, the byte the problem is at, reason): lint's column counts from the start of
        // the pattern, the "*." of a wildcard included (src/policy/ reports it per line).
        let cases = [
            ("*.exa mple.com", 5, "space after a wildcard"),
            ("*.a_b.example", 3, "underscore after a wildcard"),
            ("*.ex!.example", 4, "punctuation after a wildcard"),
            ("mx.exa mple.com", 6, "space, no wildcard"),
            ("*.mx.*.example", 5, "a second star"),
        ];
        for (pattern, at, why) in cases {
            let problem = MxPattern::check(pattern).expect_err(why);
            assert_eq!(problem.at, at, "{pattern:?}: {why}");
        }
    }

    #[test]
    fn wildcard_is_the_whole_left_most_label_only() {
        // (pattern, wildcard?) — RFC 8461 §4.1; socketmap answers wildcards with MX hosts.
        for (p, want) in [
            ("*.example.net", true),
            ("*.A.example", true),
            ("mx.example.net", false),
            ("example", false),
        ] {
            assert_eq!(MxPattern::parse(p).unwrap().is_wildcard(), want, "{p}");
        }
    }

    #[test]
    fn a_wildcard_never_matches_an_empty_label() {
        // match_mx normalises the host first (an empty label is an error there); MxPattern::matches
        // is public and keeps its own guard for a caller that skips that step.
        let p = MxPattern::parse("*.example.net").unwrap();
        assert!(!p.matches(".example.net"), "empty left-most label");
        assert!(!p.matches("example.net"), "no label for the star");
        assert!(p.matches("a.example.net"));
    }

    /// The index gives what the scan gives, whichever of the exact pattern and the parent's
    /// wildcard comes first, with repeats, for hosts that match either, both or neither.
    #[test]
    fn index_agrees_with_the_scan() {
        let mut texts: Vec<String> = (0..40).map(|i| format!("mx{i}.example.com")).collect();
        texts.insert(5, "*.example.com".into());
        texts.push("mx3.example.com".into());
        texts.push("*.b.example.net".into());
        texts.push("*.example.com".into());
        texts.insert(0, "mx39.example.com".into());
        let patterns = parse_patterns(&texts).unwrap();
        for scanned in [&patterns[..SCANNED_PATTERNS], &patterns[..]] {
            let index = MxIndex::new(scanned);
            assert_eq!(index.lookup.is_some(), scanned.len() > SCANNED_PATTERNS);
            let hosts = [
                "mx3.example.com",
                "mx39.example.com",
                "other.example.com",
                "example.com",
                "a.mx3.example.com",
                "x.b.example.net",
                "b.example.net",
                "mx3.example.org",
            ];
            for host in hosts {
                let scan = match_mx(scanned, host)
                    .unwrap()
                    .map(|p| p as *const MxPattern);
                let found = index.first_match(host).map(|p| p as *const MxPattern);
                assert_eq!(found, scan, "{host} among {}", scanned.len());
            }
        }
    }
}
