//! The aggregate TLS report (RFC 8460 §4, erratum 6241): built from recorded session results, and
//! read (validated, tolerantly) from reports others send.
//!
//! Building: the host records one [`SessionResult`] per session (or a counter of equal ones, with
//! its `count`), per policy domain and UTC day; [`build_reports`] aggregates them into one report per
//! policy domain, one `policies[]` entry per distinct policy, and gives each report's exact JSON
//! text, its `report-id` and its file name (RFC 8460 §5.3). The core has no clock: the day is an
//! input. Gzip and delivery are the host's. Counters from several processes merge by addition:
//! the same results split into any number of records, in any order, give byte-identical JSON.
//!
//! Reading: [`read_report`] (see `read.rs`).

use crate::error::{Error, ReportError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod read;
mod time;

pub use read::{
    read_report, DateRange, FailureSummary, PolicySummary, ReportProblem, ReportSummary, MAX_DEPTH,
    MAX_REPORT_BYTES,
};

/// RFC 8460 §4.3: the result types a report may hold — §4.3.1 negotiation failures, §4.3.2.1
/// DANE and §4.3.2.2 MTA-STS policy failures, §4.3.3 the general `validation-failure`.
pub const RESULT_TYPES: [&str; 11] = [
    "starttls-not-supported",
    "certificate-host-mismatch",
    "certificate-expired",
    "certificate-not-trusted",
    "validation-failure",
    "tlsa-invalid",
    "dnssec-invalid",
    "dane-required",
    "sts-policy-fetch-error",
    "sts-policy-invalid",
    "sts-webpki-invalid",
];

/// The largest count a report holds: 2^53 - 1, so that JS (and every JSON reader that uses
/// doubles) reads it exactly.
pub const MAX_COUNT: u64 = (1 << 53) - 1;

/// RFC 8460 §4.4 `policy-type` of a session a sender records. (`tlsa`, DANE, is not applied by
/// mtasts, so it records none.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyType {
    Sts,
    NoPolicyFound,
}

impl PolicyType {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::Sts => "sts",
            PolicyType::NoPolicyFound => "no-policy-found",
        }
    }
}

/// The policy a session was made under (RFC 8460 §4.4 `policy`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyKind {
    #[serde(rename = "type")]
    pub kind: PolicyType,
    /// RFC 8460 §4.4 `policy-string`: for MTA-STS, the policy file's lines, exactly.
    #[serde(default)]
    pub strings: Vec<String>,
    /// RFC 8460 §4.4 `mx-host` (erratum 6241: an array): the policy's `mx` patterns.
    #[serde(default)]
    pub mx_patterns: Vec<String>,
}

fn one() -> u64 {
    1
}

/// What a sender recorded of `count` equal sessions to one policy domain on the report day.
/// Absent and empty strings are the same: unknown, and left out of the report. From a delivery's
/// [`crate::delivery::Attempt`]: `receiving_mx_hostname` is its `host`, `receiving_ip` its
/// `address`, `result` its `tlsrpt` (or `success`); a plaintext retry is no session (RFC 8460
/// §4.3) and has no result of its own. A discovery failure (`sts-policy-fetch-error`, ...) has no
/// MX: leave the receiving fields out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionResult {
    pub policy_domain: String,
    pub policy: PolicyKind,
    /// `success`, or an RFC 8460 §4.3 result type ([`RESULT_TYPES`]).
    pub result: String,
    #[serde(default)]
    pub sending_mta_ip: Option<String>,
    #[serde(default)]
    pub receiving_mx_hostname: Option<String>,
    #[serde(default)]
    pub receiving_mx_helo: Option<String>,
    #[serde(default)]
    pub receiving_ip: Option<String>,
    #[serde(default)]
    pub failure_reason_code: Option<String>,
    #[serde(default)]
    pub additional_information: Option<String>,
    /// How many sessions this record stands for (1 to [`MAX_COUNT`]).
    #[serde(default = "one")]
    pub count: u64,
}

/// Who reports, and for which UTC day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportOptions<'a> {
    /// RFC 8460 §4.4 `organization-name`.
    pub organization: &'a str,
    /// RFC 8460 §4.4 `contact-info` (an address or URI).
    pub contact: &'a str,
    /// The submitter's domain (RFC 8460 §5.3 `sender` of the file name, and part of `report-id`).
    pub submitter: &'a str,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: &'a str,
}

/// One report, ready to gzip and send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuiltReport {
    pub policy_domain: String,
    pub report_id: String,
    /// RFC 8460 §5.3: `submitter!policy-domain!begin-timestamp!end-timestamp.json.gz`.
    pub file_name: String,
    /// The report's exact JSON text (what is gzipped).
    pub json: String,
}

/// The report as RFC 8460 §4.4 lays it out; members in the RFC's order.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Report<'a> {
    organization_name: &'a str,
    date_range: DateRangeOut,
    contact_info: &'a str,
    report_id: &'a str,
    policies: Vec<PolicyOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct DateRangeOut {
    start_datetime: String,
    end_datetime: String,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct PolicyOut<'a> {
    policy: PolicyDesc<'a>,
    summary: SummaryOut,
    // Spec: always an array, empty when every session succeeded (never null, never absent).
    failure_details: Vec<FailureOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct PolicyDesc<'a> {
    policy_type: &'static str,
    // Spec: `no-policy-found` has no policy to encode and no mx patterns: both left out rather
    // than sent as empty arrays.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    policy_string: &'a [String],
    policy_domain: &'a str,
    // RFC 8460 erratum 6241: `mx-host` is an array of patterns.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    mx_host: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct SummaryOut {
    total_successful_session_count: u64,
    total_failure_session_count: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct FailureOut<'a> {
    result_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sending_mta_ip: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    receiving_mx_hostname: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    receiving_mx_helo: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    receiving_ip: Option<&'a str>,
    failed_session_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_information: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason_code: Option<&'a str>,
}

/// A failure detail's identity, in the order failure details are sorted: result type, receiving
/// MX host name, receiving IP, sending MTA IP, HELO, reason code, additional information (an
/// absent field before any present one; strings by bytes).
type FailureKey = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A policy's identity, in the order `policies[]` is sorted: type name, policy strings, mx
/// patterns.
type PolicyKey = (&'static str, Vec<String>, Vec<String>);

#[derive(Default)]
struct Counts {
    successful: u64,
    failed: u64,
    failures: BTreeMap<FailureKey, u64>,
}

fn add(a: u64, b: u64) -> Result<u64, ReportError> {
    a.checked_add(b)
        .filter(|&n| n <= MAX_COUNT)
        .ok_or_else(|| ReportError::BadCount {
            path: "a sum of counts".into(),
            found: format!("{a} + {b}"),
        })
}

/// Absent and empty are the same; host names lose case and one trailing dot, so that records of
/// `MX1.example.com.` and `mx1.example.com` merge.
fn field(s: &Option<String>) -> Option<String> {
    s.as_deref().filter(|s| !s.is_empty()).map(str::to_string)
}

fn host(s: &Option<String>) -> Option<String> {
    field(s).map(|h| {
        let h = h.strip_suffix('.').unwrap_or(&h);
        h.to_ascii_lowercase()
    })
}

/// Whether `s` is an RFC 8460 §4.3 result type.
pub fn is_result_type(s: &str) -> bool {
    RESULT_TYPES.contains(&s)
}

/// The `report-id` of a report: unique and stable for (day, policy domain, submitter), so a
/// report built twice (a retry, another process) has the same id. Spec: RFC 8460 §4.4 leaves the
/// scheme to the author; ours is the first 128 bits of SHA-256 over
/// `"mtasts tlsrpt report-id v1\n" day "\n" policy-domain "\n" submitter`, written as a UUID of
/// version 8 (RFC 9562 §5.8: custom), e.g. `3f0c…-…-8…-…`.
pub fn report_id(day: &str, policy_domain: &str, submitter: &str) -> String {
    let input = format!("mtasts tlsrpt report-id v1\n{day}\n{policy_domain}\n{submitter}");
    let digest = ring::digest::digest(&ring::digest::SHA256, input.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest.as_ref()[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8
    b[8] = (b[8] & 0x3f) | 0x80; // variant 10
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// RFC 8460 §5.3: `filename = sender "!" policy-domain "!" begin-timestamp "!" end-timestamp
/// [ "!" unique-id ] "." extension`, with `extension = "json" / "json.gz"`. Spec: the end
/// timestamp is the day's last second (as `end-datetime`), and no unique-id is added: the name
/// is already unique per (submitter, policy domain, day).
pub fn file_name(submitter: &str, policy_domain: &str, begin: i64, end: i64) -> String {
    format!("{submitter}!{policy_domain}!{begin}!{end}.json.gz")
}

/// Builds one report per policy domain from the day's session results (see the module doc).
/// Reports come sorted by policy domain. Spec: RFC 8460 §4.4 gives no order; ours, so that
/// the bytes are deterministic: `policies[]` by policy type, policy strings, mx patterns;
/// `failure-details[]` by result type, receiving MX host name, receiving IP, sending MTA IP,
/// HELO, failure reason code, additional information (absent before present, strings by bytes).
pub fn build_reports(
    options: &ReportOptions<'_>,
    results: &[SessionResult],
) -> Result<Vec<BuiltReport>, Error> {
    if options.organization.is_empty() {
        return Err(ReportError::Input {
            detail: "organization must not be empty (RFC 8460 §4.4 organization-name)".into(),
        }
        .into());
    }
    if options.contact.is_empty() {
        return Err(ReportError::Input {
            detail: "contact must not be empty (RFC 8460 §4.4 contact-info)".into(),
        }
        .into());
    }
    let submitter = crate::domain::normalize_domain(options.submitter)?;
    let begin = time::day_start(options.day).ok_or_else(|| ReportError::BadDate {
        path: "day (YYYY-MM-DD, a UTC day from 1970)".into(),
        found: options.day.to_string(),
    })?;
    // RFC 8460 §4.1: the report covers one UTC day; its range ends at the day's last second.
    let end = begin + time::DAY_SECONDS - 1;

    let mut domains: BTreeMap<String, BTreeMap<PolicyKey, Counts>> = BTreeMap::new();
    for r in results {
        if r.count == 0 || r.count > MAX_COUNT {
            return Err(ReportError::BadCount {
                path: "count (at least 1)".into(),
                found: r.count.to_string(),
            }
            .into());
        }
        let domain = crate::domain::normalize_domain(&r.policy_domain)?;
        let key = (
            r.policy.kind.as_str(),
            r.policy.strings.clone(),
            r.policy.mx_patterns.clone(),
        );
        let counts = domains.entry(domain).or_default().entry(key).or_default();
        if r.result == "success" {
            counts.successful = add(counts.successful, r.count)?;
            continue;
        }
        // RFC 8460 §4.3: only the registered result types may appear in a report.
        if !is_result_type(&r.result) {
            return Err(ReportError::ResultType {
                found: r.result.clone(),
            }
            .into());
        }
        counts.failed = add(counts.failed, r.count)?;
        let detail = (
            r.result.clone(),
            host(&r.receiving_mx_hostname),
            field(&r.receiving_ip),
            field(&r.sending_mta_ip),
            field(&r.receiving_mx_helo),
            field(&r.failure_reason_code),
            field(&r.additional_information),
        );
        let n = counts.failures.entry(detail).or_default();
        *n = add(*n, r.count)?;
    }

    let mut reports = Vec::with_capacity(domains.len());
    for (domain, policies) in &domains {
        let id = report_id(options.day, domain, &submitter);
        let report = Report {
            organization_name: options.organization,
            date_range: DateRangeOut {
                start_datetime: time::format_utc(begin),
                end_datetime: time::format_utc(end),
            },
            contact_info: options.contact,
            report_id: &id,
            policies: policies
                .iter()
                .map(|((kind, strings, mx), c)| PolicyOut {
                    policy: PolicyDesc {
                        policy_type: kind,
                        policy_string: strings,
                        policy_domain: domain,
                        mx_host: mx,
                    },
                    summary: SummaryOut {
                        total_successful_session_count: c.successful,
                        total_failure_session_count: c.failed,
                    },
                    failure_details: c
                        .failures
                        .iter()
                        .map(
                            |((result, mx, ip, sending, helo, reason, info), &n)| FailureOut {
                                result_type: result,
                                sending_mta_ip: sending.as_deref(),
                                receiving_mx_hostname: mx.as_deref(),
                                receiving_mx_helo: helo.as_deref(),
                                receiving_ip: ip.as_deref(),
                                failed_session_count: n,
                                additional_information: info.as_deref(),
                                failure_reason_code: reason.as_deref(),
                            },
                        )
                        .collect(),
                })
                .collect(),
        };
        let json = serde_json::to_string(&report).map_err(|e| ReportError::Input {
            detail: format!("the report could not be written: {e}"),
        })?;
        reports.push(BuiltReport {
            policy_domain: domain.clone(),
            file_name: file_name(&submitter, domain, begin, end),
            report_id: id,
            json,
        });
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: ReportOptions<'static> = ReportOptions {
        organization: "Example Sender",
        contact: "tlsrpt@sender.example",
        submitter: "sender.example",
        day: "2026-12-01",
    };

    fn sts() -> PolicyKind {
        PolicyKind {
            kind: PolicyType::Sts,
            strings: vec![
                "version: STSv1".into(),
                "mode: enforce".into(),
                "mx: *.mail.example.com".into(),
                "max_age: 86400".into(),
            ],
            mx_patterns: vec!["*.mail.example.com".into()],
        }
    }

    fn session(domain: &str, result: &str, mx: &str, count: u64) -> SessionResult {
        SessionResult {
            policy_domain: domain.into(),
            policy: sts(),
            result: result.into(),
            sending_mta_ip: Some("192.0.2.10".into()),
            receiving_mx_hostname: Some(mx.into()),
            receiving_mx_helo: None,
            receiving_ip: Some("203.0.113.5".into()),
            failure_reason_code: None,
            additional_information: None,
            count,
        }
    }

    fn sample() -> Vec<SessionResult> {
        let mut none = session("other.example", "sts-policy-fetch-error", "", 1);
        none.policy = PolicyKind {
            kind: PolicyType::NoPolicyFound,
            strings: vec![],
            mx_patterns: vec![],
        };
        none.receiving_ip = None;
        let mut expired = session(
            "example.com",
            "certificate-expired",
            "mx2.mail.example.com",
            2,
        );
        expired.failure_reason_code = Some("X509_V_ERR_CERT_HAS_EXPIRED".into());
        vec![
            session("example.com", "success", "mx1.mail.example.com", 5),
            session(
                "example.com",
                "starttls-not-supported",
                "mx1.mail.example.com",
                1,
            ),
            expired,
            session("example.com", "success", "mx2.mail.example.com", 3),
            none,
            session("other.example", "success", "mx.other.example", 1),
        ]
    }

    #[test]
    fn the_report_is_rfc_8460_json() {
        let reports = build_reports(&OPTIONS, &sample()).unwrap();
        assert_eq!(
            reports
                .iter()
                .map(|r| r.policy_domain.as_str())
                .collect::<Vec<_>>(),
            ["example.com", "other.example"]
        );
        let r = &reports[0];
        assert_eq!(
            r.file_name,
            "sender.example!example.com!1796083200!1796169599.json.gz"
        );
        let v: serde_json::Value = serde_json::from_str(&r.json).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "organization-name": "Example Sender",
                "date-range": { "start-datetime": "2026-12-01T00:00:00Z", "end-datetime": "2026-12-01T23:59:59Z" },
                "contact-info": "tlsrpt@sender.example",
                "report-id": r.report_id,
                "policies": [{
                    "policy": {
                        "policy-type": "sts",
                        "policy-string": ["version: STSv1", "mode: enforce", "mx: *.mail.example.com", "max_age: 86400"],
                        "policy-domain": "example.com",
                        "mx-host": ["*.mail.example.com"]
                    },
                    "summary": { "total-successful-session-count": 8, "total-failure-session-count": 3 },
                    "failure-details": [
                        { "result-type": "certificate-expired", "sending-mta-ip": "192.0.2.10", "receiving-mx-hostname": "mx2.mail.example.com",
                          "receiving-ip": "203.0.113.5", "failed-session-count": 2, "failure-reason-code": "X509_V_ERR_CERT_HAS_EXPIRED" },
                        { "result-type": "starttls-not-supported", "sending-mta-ip": "192.0.2.10", "receiving-mx-hostname": "mx1.mail.example.com",
                          "receiving-ip": "203.0.113.5", "failed-session-count": 1 }
                    ]
                }]
            })
        );
        // Members in RFC 8460 §4.4's order, no nulls anywhere.
        assert!(
            r.json.starts_with(
                "{\"organization-name\":\"Example Sender\",\"date-range\":{\"start-datetime\""
            ),
            "{}",
            r.json
        );
        assert!(!r.json.contains("null"));
        // no-policy-found: no policy-string, no mx-host; a policy failure has no MX or receiving IP.
        let other: serde_json::Value = serde_json::from_str(&reports[1].json).unwrap();
        let policies = other["policies"].as_array().unwrap();
        assert_eq!(policies.len(), 2, "two policies: no-policy-found and sts");
        assert_eq!(
            policies[0]["policy"],
            serde_json::json!({ "policy-type": "no-policy-found", "policy-domain": "other.example" })
        );
        assert_eq!(
            policies[0]["failure-details"],
            serde_json::json!([{ "result-type": "sts-policy-fetch-error", "sending-mta-ip": "192.0.2.10", "failed-session-count": 1 }])
        );
        assert_eq!(policies[1]["policy"]["policy-type"], "sts");
        assert_eq!(
            policies[1]["failure-details"],
            serde_json::json!([]),
            "all sessions succeeded: an empty array"
        );
    }

    #[test]
    fn the_same_results_in_any_order_or_split_give_the_same_bytes() {
        let base = build_reports(&OPTIONS, &sample()).unwrap();
        let mut rotated = sample();
        for k in 0..rotated.len() {
            rotated.rotate_left(1);
            assert_eq!(
                build_reports(&OPTIONS, &rotated).unwrap(),
                base,
                "rotation {k}"
            );
        }
        let mut reversed = sample();
        reversed.reverse();
        assert_eq!(build_reports(&OPTIONS, &reversed).unwrap(), base);
        // Counters merge by addition: 5 successes as 2 + 3 from two processes, 2 expiries as 1 + 1,
        // a host name in another case with a trailing dot.
        let mut split = sample();
        split[0].count = 2;
        let mut three = split[0].clone();
        three.count = 3;
        split[2].count = 1;
        let mut again = split[2].clone();
        again.receiving_mx_hostname = Some("MX2.mail.example.com.".into());
        split.push(three);
        split.insert(1, again);
        assert_eq!(build_reports(&OPTIONS, &split).unwrap(), base);
    }

    #[test]
    fn optional_fields_are_left_out_and_empty_is_absent() {
        let mut s = session(
            "example.com",
            "validation-failure",
            "mx1.mail.example.com",
            1,
        );
        s.sending_mta_ip = Some(String::new());
        s.receiving_mx_helo = Some("mx1.mail.example.com ESMTP".into());
        s.additional_information = Some("https://sender.example/tlsrpt/1".into());
        let json = &build_reports(&OPTIONS, &[s]).unwrap()[0].json;
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        let d = &v["policies"][0]["failure-details"][0];
        assert_eq!(
            d,
            &serde_json::json!({ "result-type": "validation-failure", "receiving-mx-hostname": "mx1.mail.example.com",
                "receiving-mx-helo": "mx1.mail.example.com ESMTP", "receiving-ip": "203.0.113.5", "failed-session-count": 1,
                "additional-information": "https://sender.example/tlsrpt/1" })
        );
        assert!(!json.contains("sending-mta-ip") && !json.contains("failure-reason-code"));
    }

    #[test]
    fn every_result_type_is_accepted_and_another_refused() {
        for t in RESULT_TYPES {
            let r = build_reports(
                &OPTIONS,
                &[session("example.com", t, "mx1.mail.example.com", 1)],
            )
            .unwrap();
            assert!(
                r[0].json.contains(&format!("\"result-type\":\"{t}\"")),
                "{t}"
            );
        }
        // (result, why it is refused)
        for (bad, why) in [
            ("tls-timeout", "not registered"),
            ("Certificate-Expired", "result types are lowercase"),
            ("", "empty"),
            ("successful", "only `success` counts a success"),
            (
                "policy-fetch-timeout",
                "a core error code, not its result type",
            ),
        ] {
            let e = build_reports(&OPTIONS, &[session("example.com", bad, "mx", 1)]).unwrap_err();
            assert_eq!(
                e.code(),
                "tlsrpt-report-result-type-invalid",
                "{bad}: {why}"
            );
            assert_eq!(e.rfc(), "RFC 8460 §4");
        }
        // Every core error's result type is one a report accepts (the one table, src/error.rs).
        for c in crate::codes::catalogue() {
            assert!(is_result_type(&c.tlsrpt), "{}: {}", c.code, c.tlsrpt);
        }
    }

    #[test]
    fn bad_options_and_counts_are_named_errors() {
        let ok = [session("example.com", "success", "mx", 1)];
        // (options, code, why)
        let cases: &[(ReportOptions<'_>, &str, &str)] = &[
            (
                ReportOptions {
                    day: "2026-02-29",
                    ..OPTIONS
                },
                "tlsrpt-report-date-invalid",
                "2026 is no leap year",
            ),
            (
                ReportOptions {
                    day: "2026-12-01T00:00:00Z",
                    ..OPTIONS
                },
                "tlsrpt-report-date-invalid",
                "a day, not a date-time",
            ),
            (
                ReportOptions {
                    organization: "",
                    ..OPTIONS
                },
                "tlsrpt-report-input-invalid",
                "organization-name is required",
            ),
            (
                ReportOptions {
                    contact: "",
                    ..OPTIONS
                },
                "tlsrpt-report-input-invalid",
                "contact-info is required",
            ),
            (
                ReportOptions {
                    submitter: "a!b.example",
                    ..OPTIONS
                },
                "domain-invalid",
                "`!` would break the file name",
            ),
        ];
        for (options, code, why) in cases {
            assert_eq!(
                build_reports(options, &ok).unwrap_err().code(),
                *code,
                "{why}"
            );
        }
        let mut zero = ok[0].clone();
        zero.count = 0;
        assert_eq!(
            build_reports(&OPTIONS, &[zero]).unwrap_err().code(),
            "tlsrpt-report-count-invalid"
        );
        let mut big = ok[0].clone();
        big.count = MAX_COUNT;
        assert!(
            build_reports(&OPTIONS, &[big.clone()]).is_ok(),
            "2^53 - 1 is a count"
        );
        let mut over = big.clone();
        over.count = MAX_COUNT + 1;
        assert_eq!(
            build_reports(&OPTIONS, &[over]).unwrap_err().code(),
            "tlsrpt-report-count-invalid",
            "past what a JSON number holds exactly"
        );
        assert_eq!(
            build_reports(&OPTIONS, &[big.clone(), big])
                .unwrap_err()
                .code(),
            "tlsrpt-report-count-invalid",
            "a sum past 2^53 - 1"
        );
        let mut domain = ok[0].clone();
        domain.policy_domain = "exa mple.com".into();
        assert_eq!(
            build_reports(&OPTIONS, &[domain]).unwrap_err().code(),
            "domain-invalid"
        );
        assert_eq!(
            build_reports(&OPTIONS, &[]).unwrap(),
            vec![],
            "no sessions, no reports"
        );
    }

    #[test]
    fn report_ids_are_stable_and_differ_per_day_domain_and_submitter() {
        let id = report_id("2026-12-01", "example.com", "sender.example");
        assert_eq!(id, report_id("2026-12-01", "example.com", "sender.example"));
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "8", "UUID version 8: {id}");
        assert!(
            matches!(&id[19..20], "8" | "9" | "a" | "b"),
            "RFC 9562 variant: {id}"
        );
        let others = [
            report_id("2026-12-02", "example.com", "sender.example"),
            report_id("2026-12-01", "example.net", "sender.example"),
            report_id("2026-12-01", "example.com", "other.example"),
        ];
        for o in &others {
            assert_ne!(&id, o);
        }
        // Policy domain names are normalised first: the same domain, the same id.
        let mut upper = session("EXAMPLE.com.", "success", "mx", 1);
        upper.policy_domain = "EXAMPLE.com.".into();
        assert_eq!(
            build_reports(&OPTIONS, &[upper]).unwrap()[0].report_id,
            report_id("2026-12-01", "example.com", "sender.example")
        );
    }
}
