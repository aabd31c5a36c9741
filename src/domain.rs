//! Domain names as RFC 8461 §3.2 uses them: `Domain` of RFC 5321 §4.1.2, in A-label form.
//!
//! ```text
//! Domain     = sub-domain *("." sub-domain)
//! sub-domain = Let-dig [Ldh-str]
//! Let-dig    = ALPHA / DIGIT
//! Ldh-str    = *( ALPHA / DIGIT / "-" ) Let-dig
//! ```

use crate::error::{DomainError, Error};
use crate::idna;

/// Why a string is not a `Domain`, and the byte offset where the problem starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainProblem {
    pub at: usize,
    pub reason: String,
}

fn problem(at: usize, reason: impl Into<String>) -> Result<(), DomainProblem> {
    Err(DomainProblem {
        at,
        reason: reason.into(),
    })
}

/// Letters, digits and hyphen, by table: this check runs on every byte of every mx pattern.
const LDH: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'-';
        b += 1;
    }
    t
};

fn is_ldh(b: u8) -> bool {
    LDH[b as usize]
}

/// RFC 1035 §2.3.4 allows 255 octets on the wire, i.e. 253 characters in text form.
pub const MAX_DOMAIN: usize = 253;

/// Checks `s` against RFC 5321 `Domain`, label lengths (RFC 1035 §2.3.4) and, for labels
/// beginning with `xn--`, A-label validity (RFC 5890 §2.3.2.1).
pub fn check_domain(s: &str) -> Result<(), DomainProblem> {
    if is_plain_domain(s) {
        return Ok(());
    }
    explain_domain(s)
}

/// One pass for the common case: LDH labels of 1-63 characters, no hyphen at either end, no
/// `xn--` label (those get the full check). False means "look closer", not "invalid".
fn is_plain_domain(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > MAX_DOMAIN {
        return false;
    }
    let mut start = 0;
    for i in 0..=b.len() {
        let c = if i == b.len() { b'.' } else { b[i] };
        if c == b'.' {
            let len = i - start;
            if len == 0 || len > idna::MAX_LABEL || b[start] == b'-' || b[i - 1] == b'-' {
                return false;
            }
            if len >= 4 && b[start..start + 4].eq_ignore_ascii_case(b"xn--") {
                return false;
            }
            start = i + 1;
        } else if !is_ldh(c) {
            return false;
        }
    }
    true
}

/// The full check, with the reason and position of the first problem.
fn explain_domain(s: &str) -> Result<(), DomainProblem> {
    if s.is_empty() {
        return problem(0, "expected a domain name, found nothing");
    }
    if let Some(at) = (!s.is_ascii())
        .then(|| s.find(|c: char| !c.is_ascii()))
        .flatten()
    {
        let hint = match idna::to_ascii(s) {
            Ok(a) => format!("; its A-label form is \"{a}\""),
            Err(_) => String::new(),
        };
        return problem(
            at,
            format!("domain names must be in A-label (ASCII) form{hint}"),
        );
    }
    if s.len() > MAX_DOMAIN {
        return problem(
            MAX_DOMAIN,
            format!(
                "a domain name is at most {MAX_DOMAIN} characters, found {}",
                s.len()
            ),
        );
    }
    let mut start = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if b == b'.' {
            check_label(&s[start..i], start, s)?;
            start = i + 1;
        }
    }
    check_label(&s[start..], start, s)
}

fn check_label(label: &str, start: usize, whole: &str) -> Result<(), DomainProblem> {
    let bytes = label.as_bytes();
    if bytes.is_empty() {
        return if start == whole.len() {
            problem(
                start.saturating_sub(1),
                "a trailing dot is not allowed here",
            )
        } else {
            problem(start, "empty label (two dots in a row, or a leading dot)")
        };
    }
    if bytes.len() > idna::MAX_LABEL {
        return problem(
            start,
            format!("a label is at most 63 characters, found {}", bytes.len()),
        );
    }
    if let Some(i) = bytes.iter().position(|&b| !is_ldh(b)) {
        let c = label[i..].chars().next().unwrap_or('?');
        return problem(
            start + i,
            format!(
                "labels hold letters, digits and hyphens only, found {:?}",
                c
            ),
        );
    }
    if bytes[0] == b'-' {
        return problem(start, "a label must not begin with a hyphen");
    }
    if bytes[bytes.len() - 1] == b'-' {
        return problem(
            start + bytes.len() - 1,
            "a label must not end with a hyphen",
        );
    }
    if bytes.len() >= 4
        && bytes[..4].eq_ignore_ascii_case(b"xn--")
        && !idna::is_valid_a_label(label)
    {
        return problem(
            start,
            format!("\"{label}\" is not a valid A-label (bad Punycode)"),
        );
    }
    Ok(())
}

/// A policy or recipient domain as given by a caller: one trailing dot dropped, U-labels
/// converted to lowercase A-labels, then checked as a `Domain`.
pub fn normalize_domain(domain: &str) -> Result<String, Error> {
    let invalid = |reason: String| {
        Error::from(DomainError::Invalid {
            domain: domain.to_string(),
            reason,
        })
    };
    let trimmed = domain.strip_suffix('.').unwrap_or(domain);
    let ascii = idna::to_ascii(trimmed).map_err(|r| invalid(r.to_string()))?;
    check_domain(&ascii).map_err(|p| invalid(p.reason))?;
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        // (input, valid?, reason)
        let cases: &[(&str, bool, &str)] = &[
            ("example.com", true, "two LDH labels"),
            ("mx1.example.com", true, "digits inside labels"),
            ("1mx.example", true, "Let-dig allows a leading digit"),
            ("localhost", true, "one label is a Domain"),
            ("a-b.example", true, "inner hyphen"),
            ("xn--bcher-kva.example", true, "valid A-label"),
            ("MX.Example.COM", true, "case is free"),
            ("", false, "empty"),
            ("example.com.", false, "trailing dot is not in the grammar"),
            (".example.com", false, "leading dot"),
            ("a..b", false, "empty label"),
            ("-a.example", false, "leading hyphen"),
            ("a-.example", false, "trailing hyphen"),
            ("a_b.example", false, "underscore"),
            ("*.example", false, "wildcard is not part of Domain"),
            ("bücher.example", false, "U-label"),
            (
                "xn--abc-.example",
                false,
                "xn-- label that decodes to ASCII only",
            ),
            ("a b.example", false, "space"),
        ];
        for (input, ok, why) in cases {
            assert_eq!(check_domain(input).is_ok(), *ok, "{input:?}: {why}");
        }
        // Where each problem is placed: the byte it is at, so a lint can point at it.
        // (input, offset, reason)
        let placed = [
            ("-a.example", 0, "a leading hyphen at the label's start"),
            ("mx.-a.example", 3, "in a later label"),
            ("ab-.example", 2, "a trailing hyphen at the hyphen"),
            ("mx.abc-.example", 6, "in a later label"),
            (
                "mx.a_b",
                4,
                "the first byte that is no letter, digit or hyphen",
            ),
            ("a..b", 2, "an empty label where it would begin"),
        ];
        for (input, at, why) in placed {
            assert_eq!(check_domain(input).unwrap_err().at, at, "{input:?}: {why}");
        }
        let long_label = format!("{}.example", "a".repeat(64));
        assert!(check_domain(&long_label).is_err(), "64-char label");
        let long_name = vec!["a".repeat(63); 5].join(".");
        assert!(check_domain(&long_name).is_err(), "over 253 characters");
    }

    #[test]
    fn the_fast_path_takes_plain_names_and_never_accepts_what_the_full_check_refuses() {
        // is_plain_domain answers "valid" or "look closer": true must imply explain_domain's Ok,
        // and names without an A-label must take it. Single labels matter: one ordinary label
        // anywhere in the name makes the fast path look closer.
        let at_limit = [
            &"a".repeat(63)[..],
            &"b".repeat(63),
            &"c".repeat(63),
            &"d".repeat(61),
        ]
        .join(".");
        assert_eq!(at_limit.len(), MAX_DOMAIN);
        let plain = [
            "mx1.example.com",
            "localhost",
            "a-b.c",
            "0.1",
            &at_limit,
            &"a".repeat(63),
        ];
        for s in plain {
            assert!(is_plain_domain(s), "{s} takes the fast path");
            assert_eq!(explain_domain(s), Ok(()), "{s}");
        }
        let (label_64, over) = ("a".repeat(64), format!("{at_limit}a"));
        let refused = [
            "-a", "a-", "-", "-a.-b", "a-.b-", &label_64, &over, "a..b", "a_b", "xn--abc-", "",
            ".", "a.", ".a", "a b",
        ];
        for s in refused {
            assert!(!is_plain_domain(s), "{s:?} is not plain");
            assert!(explain_domain(s).is_err(), "{s:?}");
            assert!(check_domain(s).is_err(), "{s:?}");
        }
        // An A-label is looked at closer, and then accepted when it is valid.
        assert!(!is_plain_domain("xn--bcher-kva.example"));
        assert!(!is_plain_domain("XN--bcher-kva.example"));
        assert_eq!(check_domain("XN--bcher-kva.example"), Ok(()));
        // The limits hold at their bounds on the full path too: a 63-character label and a
        // name of 253 characters beside an A-label.
        let with_a_label = format!("xn--bcher-kva.{}", "a".repeat(63));
        assert_eq!(check_domain(&with_a_label), Ok(()));
        let name_253 = format!("xn--bcher-kva.{}", &at_limit[14..]);
        assert_eq!(name_253.len(), MAX_DOMAIN);
        assert_eq!(check_domain(&name_253), Ok(()));
        assert!(check_domain(&format!("{name_253}a")).is_err());
    }

    #[test]
    fn u_label_hint_names_the_a_label() {
        let p = check_domain("mx.bücher.example").unwrap_err();
        assert!(
            p.reason.contains("mx.xn--bcher-kva.example"),
            "{}",
            p.reason
        );
        assert_eq!(p.at, 4);
    }
}
