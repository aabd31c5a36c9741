//! Draft-era policies: before RFC 8461, drafts of MTA-STS (draft-ietf-uta-mta-sts up to -05)
//! served the policy as a JSON object. Such a body is diagnosed, with the RFC-format equivalent
//! when it can be derived, and never accepted (RFC 8461 §3.2 defines the only format).

use super::PolicyProblem;
use crate::diagnostic::Diagnostic;
use serde_json::Value;

/// The diagnostic for a body whose first non-blank character is `{`.
pub fn diagnose_json(text: &str) -> Diagnostic {
    let lead = text.len() - text.trim_start().len();
    let line = text[..lead].bytes().filter(|&b| b == b'\n').count() + 1;
    let base = "this is a JSON policy from drafts of RFC 8461; RFC 8461 §3.2 policies are \"key: value\" lines";
    let message = match serde_json::from_str::<Value>(text)
        .ok()
        .as_ref()
        .and_then(equivalent)
    {
        Some(eq) => format!("{base}; the equivalent policy is: {eq}"),
        None => format!("{base} (\"version: STSv1\", \"mode\", \"mx\", \"max_age\")"),
    };
    Diagnostic::new(
        PolicyProblem::DraftJson,
        message,
        u32::try_from(line).unwrap_or(u32::MAX),
        1,
    )
}

/// The RFC-format lines for a draft JSON policy, joined with " / " for a one-line message.
fn equivalent(v: &Value) -> Option<String> {
    let obj = v.as_object()?;
    let mode = match obj.get("mode")?.as_str()? {
        // The drafts' "report" mode became "testing".
        "report" => "testing",
        m @ ("enforce" | "testing" | "none") => m,
        _ => return None,
    };
    let max_age = obj.get("max_age")?.as_u64()?;
    let mut lines = vec!["version: STSv1".to_string(), format!("mode: {mode}")];
    for mx in obj.get("mx")?.as_array()? {
        lines.push(format!("mx: {}", mx.as_str()?));
    }
    lines.push(format!("max_age: {max_age}"));
    Some(lines.join(" / "))
}

#[cfg(test)]
mod tests {
    use super::diagnose_json;

    #[test]
    fn a_json_policy_is_placed_at_its_first_line_and_given_its_equivalent() {
        // (body, line, message ends with, reason)
        let cases = [
            (
                r#"{"mode": "report", "mx": ["a.example"], "max_age": 86400}"#,
                1,
                "the equivalent policy is: version: STSv1 / mode: testing / mx: a.example / max_age: 86400",
                "the drafts' report mode became testing",
            ),
            (
                "\n\n  {\"mode\": \"enforce\", \"mx\": [\"a.example\", \"b.example\"], \"max_age\": 600}",
                3,
                "the equivalent policy is: version: STSv1 / mode: enforce / mx: a.example / mx: b.example / max_age: 600",
                "blank lines before the brace move the line",
            ),
            (
                r#"{"mode": "none", "mx": [], "max_age": 1}"#,
                1,
                "the equivalent policy is: version: STSv1 / mode: none / max_age: 1",
                "none keeps its name",
            ),
            (
                r#"{"mode": "strict", "mx": ["a.example"], "max_age": 86400}"#,
                1,
                "(\"version: STSv1\", \"mode\", \"mx\", \"max_age\")",
                "a mode no draft had: no equivalent",
            ),
            (
                r#"{"mode": "enforce", "mx": [1], "max_age": 86400}"#,
                1,
                "(\"version: STSv1\", \"mode\", \"mx\", \"max_age\")",
                "an mx that is not a string: no equivalent",
            ),
            ("{ not json", 1, "\"max_age\")", "not even JSON"),
        ];
        for (body, line, tail, why) in cases {
            let d = diagnose_json(body);
            assert_eq!(d.code, "policy-draft-json", "{why}");
            assert_eq!((d.line, d.column), (line, 1), "{why}");
            assert!(d.message.ends_with(tail), "{why}: {}", d.message);
        }
    }
}
