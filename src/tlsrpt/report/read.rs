//! Reading an aggregate report a receiver got (RFC 8460 §4.4, erratum 6241): a validated summary
//! with its counts, tolerant of what real senders send (each tolerance is a [`ReportProblem`]),
//! strict about what makes the counts unknowable (a [`ReportError`]). Bounded: at most
//! [`MAX_REPORT_BYTES`] of text and [`MAX_DEPTH`] levels of nesting; never panics.

use super::{is_result_type, time, MAX_COUNT};
use crate::diagnostic::{Diagnostic, Problem, Severity, MAX_DIAGNOSTICS};
use crate::error::{Error, ReportError};
use serde::Serialize;
use serde_json::{Map, Value};

/// The most report text read: 16 MiB (a day of a large provider's reports is far smaller).
pub const MAX_REPORT_BYTES: usize = 16 * 1024 * 1024;
/// The deepest nesting of arrays and objects read. A report nests 5 levels
/// (`policies[].failure-details[].…`); the rest is room for extensions.
pub const MAX_DEPTH: usize = 32;

/// A tolerated oddity of a report read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportProblem {
    /// `mx-host` is one string, as RFC 8460 printed it before erratum 6241 made it an array.
    MxHostString,
    /// A date-time without a zone; read as UTC.
    DateNoZone,
    /// A failure detail without (or with an empty) `sending-mta-ip`.
    SendingIpMissing,
    /// A `policy-type` other than `tlsa`, `sts` and `no-policy-found`.
    PolicyTypeUnknown,
    /// A `result-type` that is not an RFC 8460 §4.3 result type.
    ResultTypeUnknown,
    /// A member RFC 8460 §4.4 wants is absent (`organization-name`, `report-id`, ...).
    FieldAbsent,
    /// A member the summary does not need has the wrong type; it was ignored.
    FieldIgnored,
    /// `total-failure-session-count` is not the sum of the failure details' counts.
    CountMismatch,
}

impl Problem for ReportProblem {
    fn code(self) -> &'static str {
        match self {
            ReportProblem::MxHostString => "tlsrpt-report-mx-host-string",
            ReportProblem::DateNoZone => "tlsrpt-report-date-no-zone",
            ReportProblem::SendingIpMissing => "tlsrpt-report-sending-ip-missing",
            ReportProblem::PolicyTypeUnknown => "tlsrpt-report-policy-type-unknown",
            ReportProblem::ResultTypeUnknown => "tlsrpt-report-result-type-unknown",
            ReportProblem::FieldAbsent => "tlsrpt-report-field-absent",
            ReportProblem::FieldIgnored => "tlsrpt-report-field-ignored",
            ReportProblem::CountMismatch => "tlsrpt-report-count-mismatch",
        }
    }

    fn severity(self) -> Severity {
        Severity::Warning
    }

    fn rfc(self) -> &'static str {
        match self {
            ReportProblem::MxHostString => "RFC 8460 §4.4, erratum 6241",
            ReportProblem::DateNoZone => "RFC 8460 §4.4, RFC 3339 §5.6",
            ReportProblem::PolicyTypeUnknown => "RFC 8460 §4.4",
            ReportProblem::ResultTypeUnknown => "RFC 8460 §4.3",
            _ => "RFC 8460 §4.4",
        }
    }
}

/// What a report says, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportSummary {
    /// `organization-name` (empty when absent, with a problem).
    pub organization: String,
    /// `report-id` (empty when absent, with a problem).
    pub report_id: String,
    pub date_range: DateRange,
    pub policies: Vec<PolicySummary>,
    /// Tolerated oddities, at most [`MAX_DIAGNOSTICS`].
    pub problems: Vec<Diagnostic>,
}

/// The report's range, normalised to `YYYY-MM-DDTHH:MM:SSZ` (UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DateRange {
    pub start: String,
    pub end: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySummary {
    pub policy_domain: String,
    /// As sent; one other than `tlsa`, `sts`, `no-policy-found` has a problem.
    pub policy_type: String,
    pub successful: u64,
    pub failed: u64,
    pub failures: Vec<FailureSummary>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureSummary {
    pub result_type: String,
    pub count: u64,
    pub receiving_mx_hostname: Option<String>,
    pub receiving_ip: Option<String>,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether arrays and objects nest deeper than `limit` (strings skipped): checked before
/// parsing, so that a hostile nesting is a named error, not the parser's recursion limit.
fn nests_deeper(text: &[u8], limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in text {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

struct Reader {
    problems: Vec<Diagnostic>,
}

impl Reader {
    fn note(&mut self, problem: ReportProblem, message: String) {
        if self.problems.len() < MAX_DIAGNOSTICS {
            self.problems.push(Diagnostic::new(problem, message, 0, 0));
        }
    }

    /// A member that must be there.
    fn required<'v>(
        obj: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<&'v Value, ReportError> {
        obj.get(key).ok_or_else(|| ReportError::Missing {
            path: join(path, key),
        })
    }

    fn object<'v>(v: &'v Value, path: &str) -> Result<&'v Map<String, Value>, ReportError> {
        v.as_object().ok_or_else(|| ReportError::WrongType {
            path: path.to_string(),
            expected: "an object",
            found: kind(v),
        })
    }

    fn array<'v>(v: &'v Value, path: &str) -> Result<&'v Vec<Value>, ReportError> {
        v.as_array().ok_or_else(|| ReportError::WrongType {
            path: path.to_string(),
            expected: "an array",
            found: kind(v),
        })
    }

    fn string<'v>(v: &'v Value, path: &str) -> Result<&'v str, ReportError> {
        v.as_str().ok_or_else(|| ReportError::WrongType {
            path: path.to_string(),
            expected: "a string",
            found: kind(v),
        })
    }

    /// A count: RFC 8460 §4.4 session counts are non-negative integers.
    fn count(v: &Value, path: &str) -> Result<u64, ReportError> {
        v.as_u64().filter(|&n| n <= MAX_COUNT).ok_or_else(|| {
            let mut found = v.to_string();
            if found.len() > 40 {
                found = kind(v).to_string();
            }
            ReportError::BadCount {
                path: path.to_string(),
                found,
            }
        })
    }

    /// A string the summary may go without: absent or empty is `None`; another type is ignored
    /// with a problem.
    fn optional(&mut self, obj: &Map<String, Value>, key: &str, path: &str) -> Option<String> {
        match obj.get(key)? {
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => {
                let k = kind(other);
                self.note(
                    ReportProblem::FieldIgnored,
                    format!(
                        "expected {} to be a string, found {k}; ignored",
                        join(path, key)
                    ),
                );
                None
            }
        }
    }

    /// A date-time member of `date-range`, normalised to UTC.
    fn date_time(&mut self, range: &Map<String, Value>, key: &str) -> Result<String, ReportError> {
        let path = join("date-range", key);
        let text = Self::string(Self::required(range, key, "date-range")?, &path)?;
        let (t, zoned) = time::parse_date_time(text).ok_or_else(|| ReportError::BadDate {
            path: path.clone(),
            found: text.to_string(),
        })?;
        if !zoned {
            // Interop: some senders write date-times without a zone; UTC is what RFC 8460 §4.1
            // reports are in.
            self.note(
                ReportProblem::DateNoZone,
                format!(
                    "{path} {} has no time zone; read as UTC",
                    crate::diagnostic::shown(text)
                ),
            );
        }
        Ok(time::format_utc(t))
    }

    fn policy(&mut self, v: &Value, path: &str) -> Result<PolicySummary, ReportError> {
        let entry = Self::object(v, path)?;
        let ppath = join(path, "policy");
        let policy = Self::object(Self::required(entry, "policy", path)?, &ppath)?;
        let policy_type = match policy.get("policy-type") {
            Some(t) => Self::string(t, &join(&ppath, "policy-type"))?.to_string(),
            None => {
                self.note(
                    ReportProblem::FieldAbsent,
                    format!("expected {}, found none", join(&ppath, "policy-type")),
                );
                String::new()
            }
        };
        // RFC 8460 §4.4: `tlsa`, `sts` or `no-policy-found`.
        if !policy_type.is_empty()
            && !["tlsa", "sts", "no-policy-found"].contains(&policy_type.as_str())
        {
            self.note(
                ReportProblem::PolicyTypeUnknown,
                format!(
                    "{} is {}, not tlsa, sts or no-policy-found",
                    join(&ppath, "policy-type"),
                    crate::diagnostic::shown(&policy_type)
                ),
            );
        }
        let policy_domain = Self::string(
            Self::required(policy, "policy-domain", &ppath)?,
            &join(&ppath, "policy-domain"),
        )?
        .to_string();
        match policy.get("mx-host") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
            // Interop: RFC 8460 as printed (before erratum 6241) and some senders give one string.
            Some(Value::String(_)) => self.note(
                ReportProblem::MxHostString,
                format!(
                    "{} is a string; erratum 6241 makes it an array of strings",
                    join(&ppath, "mx-host")
                ),
            ),
            Some(other) => {
                let k = kind(other);
                self.note(
                    ReportProblem::FieldIgnored,
                    format!(
                        "expected {} to be an array of strings, found {k}; ignored",
                        join(&ppath, "mx-host")
                    ),
                );
            }
        }
        match policy.get("policy-string") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
            Some(other) => {
                let k = kind(other);
                self.note(
                    ReportProblem::FieldIgnored,
                    format!(
                        "expected {} to be an array of strings, found {k}; ignored",
                        join(&ppath, "policy-string")
                    ),
                );
            }
        }
        let spath = join(path, "summary");
        let summary = Self::object(Self::required(entry, "summary", path)?, &spath)?;
        let successful = Self::count(
            Self::required(summary, "total-successful-session-count", &spath)?,
            &join(&spath, "total-successful-session-count"),
        )?;
        let failed = Self::count(
            Self::required(summary, "total-failure-session-count", &spath)?,
            &join(&spath, "total-failure-session-count"),
        )?;

        let mut failures = Vec::new();
        let fpath = join(path, "failure-details");
        let details: &[Value] = match entry.get("failure-details") {
            None | Some(Value::Null) => &[],
            Some(v) => Self::array(v, &fpath)?,
        };
        let mut sum: u64 = 0;
        for (j, d) in details.iter().enumerate() {
            let dpath = format!("{fpath}[{j}]");
            let d = Self::object(d, &dpath)?;
            let result_type = Self::string(
                Self::required(d, "result-type", &dpath)?,
                &join(&dpath, "result-type"),
            )?
            .to_string();
            // RFC 8460 §4.3: the registered result types; another is kept, with a problem.
            if !is_result_type(&result_type) {
                self.note(
                    ReportProblem::ResultTypeUnknown,
                    format!(
                        "{} {} is not an RFC 8460 result type",
                        join(&dpath, "result-type"),
                        crate::diagnostic::shown(&result_type)
                    ),
                );
            }
            let count = Self::count(
                Self::required(d, "failed-session-count", &dpath)?,
                &join(&dpath, "failed-session-count"),
            )?;
            sum = sum.saturating_add(count);
            if self.optional(d, "sending-mta-ip", &dpath).is_none() {
                // Interop: senders behind a pool leave it out or empty.
                self.note(
                    ReportProblem::SendingIpMissing,
                    format!("{} has no sending-mta-ip", dpath),
                );
            }
            failures.push(FailureSummary {
                result_type,
                count,
                receiving_mx_hostname: self.optional(d, "receiving-mx-hostname", &dpath),
                receiving_ip: self.optional(d, "receiving-ip", &dpath),
            });
        }
        if !details.is_empty() && sum != failed {
            self.note(
                ReportProblem::CountMismatch,
                format!(
                    "{} is {failed}, but its failure details count {sum}",
                    join(&spath, "total-failure-session-count")
                ),
            );
        }
        Ok(PolicySummary {
            policy_domain,
            policy_type,
            successful,
            failed,
            failures,
        })
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Reads a report's JSON text (already gunzipped) into a checked [`ReportSummary`].
pub fn read_report(text: &str) -> Result<ReportSummary, Error> {
    read(text).map_err(Error::from)
}

fn read(text: &str) -> Result<ReportSummary, ReportError> {
    if text.len() > MAX_REPORT_BYTES {
        return Err(ReportError::TooLarge {
            size: text.len(),
            limit: MAX_REPORT_BYTES,
        });
    }
    // Interop: a byte order mark before the JSON (RFC 8259 §8.1: a parser MAY ignore it).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if nests_deeper(text.as_bytes(), MAX_DEPTH) {
        return Err(ReportError::TooDeep { limit: MAX_DEPTH });
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let detail = e.to_string();
        // serde_json appends " at line L column C"; the position is given separately.
        let detail = detail
            .split(" at line ")
            .next()
            .unwrap_or(&detail)
            .to_string();
        ReportError::NotJson {
            line: e.line(),
            column: e.column(),
            detail,
        }
    })?;
    // RFC 8460 §4.4: the report is one JSON object.
    let top = value.as_object().ok_or(ReportError::NotObject {
        found: kind(&value),
    })?;
    let mut r = Reader {
        problems: Vec::new(),
    };
    let named = |r: &mut Reader, key: &str| -> String {
        if !top.contains_key(key) {
            r.note(
                ReportProblem::FieldAbsent,
                format!("expected {key}, found none"),
            );
        }
        r.optional(top, key, "").unwrap_or_default()
    };
    let organization = named(&mut r, "organization-name");
    let report_id = named(&mut r, "report-id");
    named(&mut r, "contact-info");
    let range = Reader::object(Reader::required(top, "date-range", "")?, "date-range")?;
    let date_range = DateRange {
        start: r.date_time(range, "start-datetime")?,
        end: r.date_time(range, "end-datetime")?,
    };
    let policies = Reader::array(Reader::required(top, "policies", "")?, "policies")?;
    let policies = policies
        .iter()
        .enumerate()
        .map(|(i, p)| r.policy(p, &format!("policies[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ReportSummary {
        organization,
        report_id,
        date_range,
        policies,
        problems: r.problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_codes_are_unique_and_apart_from_error_codes() {
        use ReportProblem::*;
        let problems = [
            MxHostString,
            DateNoZone,
            SendingIpMissing,
            PolicyTypeUnknown,
            ResultTypeUnknown,
            FieldAbsent,
            FieldIgnored,
            CountMismatch,
        ];
        let errors: Vec<&str> = crate::codes::catalogue().iter().map(|c| c.code).collect();
        let mut seen = std::collections::HashSet::new();
        for p in problems {
            assert!(p.code().starts_with("tlsrpt-report-"), "{}", p.code());
            assert!(seen.insert(p.code()), "{} twice", p.code());
            assert!(
                !errors.contains(&p.code()),
                "{} is also an error code",
                p.code()
            );
            assert_eq!(p.severity(), Severity::Warning);
        }
    }

    #[test]
    fn nesting_is_counted_outside_strings() {
        // (text, deeper than 2?)
        let cases = [
            ("[[]]", false),
            ("[[[]]]", true),
            ("{\"a\":{\"b\":{}}}", true),
            ("[\"[[[[\"]", false),
            ("[\"\\\"[[[[\"]", false),
            ("]]]][[]", false),
        ];
        for (text, deeper) in cases {
            assert_eq!(nests_deeper(text.as_bytes(), 2), deeper, "{text}");
        }
    }
}
