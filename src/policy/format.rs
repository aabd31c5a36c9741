//! Canonical policy text: `version`, `mode`, every `mx`, `max_age`, then extensions, one per line,
//! LF-terminated (§3.2 allows LF or CRLF). Parsing the output gives back the same [`Policy`].

use super::Policy;
use std::fmt::Write;

pub fn format_policy(policy: &Policy) -> String {
    let mut out = String::with_capacity(64 + policy.mx.len() * 32);
    out.push_str("version: STSv1\n");
    let _ = writeln!(out, "mode: {}", policy.mode.as_str());
    for mx in &policy.mx {
        let _ = writeln!(out, "mx: {}", mx.as_str());
    }
    let _ = writeln!(out, "max_age: {}", policy.max_age);
    for (key, value) in &policy.extensions {
        let _ = writeln!(out, "{key}: {value}");
    }
    out
}
