//! The MTA-STS policy file (RFC 8461 §3.2): its model, parser, lint mode and canonical format.
//!
//! ```text
//! sts-policy-record        = sts-policy-field *WSP *(sts-policy-term sts-policy-field *WSP)
//!                            [sts-policy-term]
//! sts-policy-field         = sts-policy-version / sts-policy-mode / sts-policy-max-age /
//!                            sts-policy-mx / sts-policy-extension
//! field-delim              = ":" *WSP
//! sts-policy-version       = %s"version" field-delim %s"STSv1"
//! sts-policy-mode          = %s"mode" field-delim ( %s"testing" / %s"enforce" / %s"none" )
//! sts-policy-mx            = %s"mx" field-delim ["*."] Domain
//! sts-policy-max-age       = %s"max_age" field-delim 1*10(DIGIT)
//! sts-policy-extension     = sts-policy-ext-name field-delim sts-policy-ext-value
//! sts-policy-ext-name      = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
//! sts-policy-term          = LF / CRLF
//! sts-policy-ext-value     = sts-policy-vchar [*(%x20 / sts-policy-vchar) sts-policy-vchar]
//! sts-policy-vchar         = %x21-7E / UTF8-2 / UTF8-3 / UTF8-4
//! ```

mod draft;
mod format;
mod json;
mod parse;
mod problem;

pub use format::format_policy;
pub use json::policy_from_json;
pub use parse::{
    lint_policy, lint_policy_bytes, parse_policy, parse_policy_bytes, parse_policy_bytes_layout,
    parse_policy_bytes_layout_into, parse_policy_layout, LAYOUT_UPPERCASE,
};
pub use problem::PolicyProblem;

use crate::diagnostic::Diagnostic;
use crate::mx::MxPattern;
use crate::record::Extensions as ExtensionMap;
use serde::ser::{Serialize, SerializeStruct, Serializer};

/// §3.2 `mode`: what a sender does when delivery to a policy-valid MX over verified TLS fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// §5: do not deliver to MX hosts that fail matching, STARTTLS or certificate validation.
    Enforce,
    /// §5: deliver anyway, and report failures (RFC 8460).
    Testing,
    /// §5: treat the domain as having no active policy.
    None,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }

    /// §3.2: the mode values are case-sensitive.
    pub fn from_value(s: &str) -> Option<Mode> {
        match s {
            "enforce" => Some(Mode::Enforce),
            "testing" => Some(Mode::Testing),
            "none" => Some(Mode::None),
            _ => None,
        }
    }
}

/// §3.2: `max_age` is at most 31557600 seconds (about one year).
pub const MAX_AGE_LIMIT: u32 = 31_557_600;
/// Lint: a `max_age` under one day gives senders almost no protection between visits.
pub const MAX_AGE_ADVISED: u32 = 86_400;

/// A valid policy. The version is always `STSv1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// Seconds, 0 to [`MAX_AGE_LIMIT`].
    pub max_age: u32,
    /// In order of appearance, in lower case (§4.1: matching is case-insensitive), duplicates
    /// kept (§3.2: "mx" may repeat).
    pub mx: Vec<MxPattern>,
    /// Other keys with their values, in order; for a repeated key the first counts (§3.2).
    pub extensions: Vec<(String, String)>,
}

/// Everything lint mode found in a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lint {
    pub policy: Option<Policy>,
    pub diagnostics: Vec<Diagnostic>,
}

struct MxList<'a>(&'a [MxPattern]);

impl Serialize for MxList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(MxPattern::as_str))
    }
}

/// Serialised as `{ version: "STSv1", mode, maxAge, mx: [...], extensions: { key: value } }`.
impl Serialize for Policy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Policy", 5)?;
        st.serialize_field("version", "STSv1")?;
        st.serialize_field("mode", self.mode.as_str())?;
        st.serialize_field("maxAge", &self.max_age)?;
        st.serialize_field("mx", &MxList(&self.mx))?;
        st.serialize_field("extensions", &ExtensionMap(&self.extensions))?;
        st.end()
    }
}

impl Serialize for Lint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Lint", 2)?;
        st.serialize_field("policy", &self.policy)?;
        st.serialize_field("diagnostics", &self.diagnostics)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::parse::{
        lint_policy, parse_policy, parse_policy_bytes_layout, parse_policy_bytes_layout_into,
        parse_policy_layout, LAYOUT_UPPERCASE,
    };
    use super::{format_policy, policy_from_json};
    use crate::mx::MxPattern;

    /// Rebuilds the strings from a layout the way the JS host does (UTF-16 slicing, mx values
    /// flagged upper-case lowered).
    fn strings(text: &str, layout: &[u32]) -> Vec<String> {
        let units: Vec<u16> = text.encode_utf16().collect();
        let mx = layout[2] as usize;
        layout[4..]
            .chunks(2)
            .enumerate()
            .map(|(i, r)| {
                let end = (r[1] & !LAYOUT_UPPERCASE) as usize;
                let s = String::from_utf16(&units[r[0] as usize..end]).unwrap();
                if i < mx && r[1] & LAYOUT_UPPERCASE != 0 {
                    s.to_ascii_lowercase()
                } else {
                    s
                }
            })
            .collect()
    }

    #[test]
    fn mx_patterns_are_lower_case() {
        // RFC 8461 §4.1 (RFC 4343 §3): one spelling per pattern, whichever way it is parsed.
        let text = "version: STSv1\nmode: enforce\nmx: MAIL.Example.COM\nmx: *.B.example\nmx: c.example\nmax_age: 86400\nX-Note: Keep Case\n";
        let want = ["mail.example.com", "*.b.example", "c.example"];
        let mx = |p: &super::Policy| -> Vec<String> {
            p.mx.iter().map(|m| m.as_str().to_string()).collect()
        };
        let parsed = parse_policy(text).unwrap();
        assert_eq!(mx(&parsed), want, "parse_policy");
        assert_eq!(
            parsed.extensions,
            [("X-Note".to_string(), "Keep Case".to_string())],
            "extensions keep their case"
        );
        assert_eq!(mx(&lint_policy(text).policy.unwrap()), want, "lint_policy");
        let l = parse_policy_layout(text).unwrap();
        assert_eq!(&strings(text, &l)[..3], want, "layout");
        assert_eq!(
            [l[5] & LAYOUT_UPPERCASE, l[7] & LAYOUT_UPPERCASE, l[9]],
            [LAYOUT_UPPERCASE, LAYOUT_UPPERCASE, l[9] & !LAYOUT_UPPERCASE],
            "only mixed-case values are flagged"
        );
        let mut out = Vec::new();
        parse_policy_bytes_layout_into(text.as_bytes(), &mut out).unwrap();
        assert_eq!(out, l, "the _into layout is the same");
        let json =
            serde_json::json!({ "mode": "enforce", "maxAge": 86400, "mx": ["MX.Example.org"] });
        let from_json = policy_from_json(&json).unwrap();
        assert_eq!(mx(&from_json), ["mx.example.org"], "policy_from_json");
        assert_eq!(
            format_policy(&from_json)
                .matches("mx: mx.example.org")
                .count(),
            1
        );
        assert_eq!(
            MxPattern::parse("*.EXAMPLE.net").unwrap().as_str(),
            "*.example.net"
        );
    }

    #[test]
    fn layout_into_errors_and_reuse() {
        let mut out = Vec::new();
        let err = parse_policy_bytes_layout_into(b"mode: x", &mut out).unwrap_err();
        assert_eq!(err.code(), "policy-invalid");
        let err = parse_policy_bytes_layout_into(b"\xff", &mut out).unwrap_err();
        assert_eq!(err.diagnostic().unwrap().code, "policy-encoding");
        let mut out = vec![7, 7];
        let ok = "version: STSv1\nmode: none\nmax_age: 86400\n";
        parse_policy_bytes_layout_into(ok.as_bytes(), &mut out).unwrap();
        assert_eq!(&out[..2], [7, 7], "appended to what out held");
        assert_eq!(&out[2..], [2, 86400, 0, 0]);
    }

    #[test]
    fn layout() {
        let text = "version: STSv1\r\nmode: testing\nmx: a.example\nmx: *.b.example\nmax_age: 86400\nnote: caf\u{e9} \u{1f600} ok\nx: y z\n";
        let l = parse_policy_layout(text).unwrap();
        assert_eq!(&l[..4], &[1, 86400, 2, 2]);
        assert_eq!(
            strings(text, &l),
            [
                "a.example",
                "*.b.example",
                "note",
                "caf\u{e9} \u{1f600} ok",
                "x",
                "y z"
            ]
        );
        let p = parse_policy(text).unwrap();
        assert_eq!(p.extensions[0].1, "caf\u{e9} \u{1f600} ok");
        assert_eq!(parse_policy_bytes_layout(text.as_bytes()).unwrap(), l);
        assert_eq!(
            parse_policy_layout("mode: x").unwrap_err().code(),
            "policy-invalid"
        );
        assert_eq!(
            parse_policy_bytes_layout(b"\xff")
                .unwrap_err()
                .diagnostic()
                .unwrap()
                .code,
            "policy-encoding"
        );
    }
}
