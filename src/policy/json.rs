//! A policy given as a JS object (`{ mode, maxAge, mx, extensions }`, as `parsePolicy` returns
//! it), for `formatPolicy`. Every field is checked against §3.2 before any text is made, so no
//! value can smuggle a line break or a second key into the output.

use super::{parse::parse_policy, Mode, Policy, PolicyProblem, MAX_AGE_LIMIT};
use crate::diagnostic::{shown, Diagnostic};
use crate::error::{Error, PolicyError};
use crate::mx::MxPattern;
use crate::record::check_ext_name;
use serde_json::Value;

fn invalid(problem: PolicyProblem, message: String) -> Error {
    PolicyError::Invalid(Diagnostic::new(problem, message, 0, 0)).into()
}

pub fn policy_from_json(v: &Value) -> Result<Policy, Error> {
    let obj = v
        .as_object()
        .ok_or_else(|| invalid(PolicyProblem::Empty, "expected a policy object".into()))?;
    match obj.get("version") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "STSv1" => {}
        Some(other) => {
            return Err(invalid(
                PolicyProblem::VersionInvalid,
                format!("version must be \"STSv1\", found {other}"),
            ))
        }
    }
    let mode = match obj.get("mode") {
        Some(Value::String(s)) => Mode::from_value(s).ok_or_else(|| {
            invalid(
                PolicyProblem::ModeInvalid,
                format!(
                    "mode must be \"enforce\", \"testing\" or \"none\", found {}",
                    shown(s)
                ),
            )
        })?,
        _ => {
            return Err(invalid(
                PolicyProblem::ModeMissing,
                "mode is required".into(),
            ))
        }
    };
    let max_age = match obj.get("maxAge").and_then(Value::as_u64) {
        Some(n) if n <= u64::from(MAX_AGE_LIMIT) => n as u32,
        Some(n) => {
            return Err(invalid(
                PolicyProblem::MaxAgeTooLarge,
                format!("maxAge is at most {MAX_AGE_LIMIT}, found {n}"),
            ))
        }
        None => {
            return Err(invalid(
                PolicyProblem::MaxAgeInvalid,
                "maxAge must be an integer from 0 to 31557600".into(),
            ))
        }
    };
    let mut mx = Vec::new();
    if let Some(list) = obj.get("mx") {
        let list = list.as_array().ok_or_else(|| {
            invalid(
                PolicyProblem::MxInvalid,
                "mx must be an array of patterns".into(),
            )
        })?;
        for p in list {
            let s = p.as_str().ok_or_else(|| {
                invalid(
                    PolicyProblem::MxInvalid,
                    "mx patterns must be strings".into(),
                )
            })?;
            mx.push(MxPattern::parse(s).map_err(|e| {
                invalid(
                    PolicyProblem::MxInvalid,
                    format!("mx {}: {}", shown(s), e.reason),
                )
            })?);
        }
    }
    let mut extensions = Vec::new();
    if let Some(ext) = obj.get("extensions") {
        let ext = ext
            .as_object()
            .ok_or_else(|| invalid(PolicyProblem::Key, "extensions must be an object".into()))?;
        for (k, v) in ext {
            check_ext_name(k).map_err(|(_, why)| invalid(PolicyProblem::Key, why))?;
            let s = v.as_str().ok_or_else(|| {
                invalid(
                    PolicyProblem::ExtensionValue,
                    format!("extension {k} must be a string"),
                )
            })?;
            extensions.push((k.clone(), s.to_string()));
        }
    }
    let policy = Policy {
        mode,
        max_age,
        mx,
        extensions,
    };
    // The remaining rules (mx required unless none, extension values, reserved keys) are the
    // parser's: the text must parse back to this very policy.
    let text = super::format_policy(&policy);
    match parse_policy(&text) {
        Ok(back) if back == policy => Ok(policy),
        Ok(_) => Err(invalid(
            PolicyProblem::Key,
            "extension keys may not reuse version, mode, max_age or mx, and values may not begin or end with whitespace".into(),
        )),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::policy_from_json;
    use serde_json::json;

    /// The problem code of a rejected object, or "ok".
    fn code(v: serde_json::Value) -> &'static str {
        match policy_from_json(&v) {
            Ok(_) => "ok",
            Err(e) => e.diagnostic().map_or(e.code(), |d| d.code),
        }
    }

    #[test]
    fn every_field_is_checked_before_any_text_is_made() {
        let base = || json!({ "mode": "enforce", "maxAge": 86400, "mx": ["mx.example.org"] });
        let with = |key: &str, value: serde_json::Value| {
            let mut v = base();
            v[key] = value;
            v
        };
        // (object, expected code, reason)
        let cases = [
            (base(), "ok", "version may be left out"),
            (
                with("version", json!(null)),
                "ok",
                "a null version is left out",
            ),
            (
                with("version", json!("STSv1")),
                "ok",
                "RFC 8461 §3.2: the one version",
            ),
            (
                with("version", json!("STSv2")),
                "policy-version-invalid",
                "another version",
            ),
            (
                with("version", json!("stsv1")),
                "policy-version-invalid",
                "values are case-sensitive",
            ),
            (
                with("version", json!(1)),
                "policy-version-invalid",
                "not a string",
            ),
            (
                with("maxAge", json!(31557600)),
                "ok",
                "§3.2: max_age at most 31557600",
            ),
            (
                with("maxAge", json!(31557601)),
                "policy-max-age-too-large",
                "one second more",
            ),
            (
                with("maxAge", json!(-1)),
                "policy-max-age-invalid",
                "not a u64",
            ),
            (
                with("maxAge", json!(4_294_967_296u64 + 86_400)),
                "policy-max-age-too-large",
                "checked before it is narrowed to 32 bits",
            ),
            (
                with("mode", json!("report")),
                "policy-mode-invalid",
                "the drafts' mode",
            ),
            (
                with("mx", json!(["*.*.example"])),
                "policy-mx-invalid",
                "§4.1: one wildcard label",
            ),
            (
                with("extensions", json!({ "mode": "none" })),
                "policy-key-invalid",
                "an extension may not reuse a key the parser reads first",
            ),
            (
                with("extensions", json!({ "note": " padded" })),
                "policy-key-invalid",
                "the text would not parse back to this value",
            ),
            (
                with("extensions", json!({ "note": "kept" })),
                "ok",
                "a plain extension",
            ),
        ];
        for (v, want, why) in cases {
            assert_eq!(code(v.clone()), want, "{why}: {v}");
        }
    }
}
