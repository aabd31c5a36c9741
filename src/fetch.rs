//! Judging a policy fetch (RFC 8461 §3.3). The host performs the HTTPS GET (with the certificate
//! check for `mta-sts.<domain>`, the size cap and the time limit) and reports what happened; this
//! module applies the rules to that report and parses the body.

use crate::error::Error;
pub use crate::error::{FetchError, FetchFailure};
use crate::policy::{parse_policy_bytes, Policy};

/// §3.3: the body is bounded. 64 KiB is far above any real policy.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// What the host reports for `GET https://mta-sts.<domain>/.well-known/mta-sts.txt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchAnswer {
    Response {
        status: u16,
        content_type: Option<String>,
        location: Option<String>,
        body: Vec<u8>,
    },
    Failed {
        kind: FetchFailure,
        detail: String,
    },
}

impl FetchFailure {
    /// The failure a host names by `kind` (`timeout`, `too-large`, `truncated`, `certificate`,
    /// `tls`, `connect`, `dns`, `protocol`, as [`FetchFailure`]'s serde names), with the byte
    /// counts of a truncated body (`expected` `None` when the response declared no length). A
    /// kind the core does not know is a protocol failure.
    pub fn from_host(kind: &str, received: u64, expected: Option<u64>) -> FetchFailure {
        if kind == "truncated" {
            return FetchFailure::Truncated { received, expected };
        }
        serde_json::from_value(serde_json::Value::String(kind.into()))
            .unwrap_or(FetchFailure::Protocol)
    }
}

/// `https://mta-sts.<domain>/.well-known/mta-sts.txt` (§3.3).
pub fn policy_url(domain: &str) -> String {
    format!("https://mta-sts.{domain}/.well-known/mta-sts.txt")
}

/// True when the Content-Type's media type is `text/plain`; parameters are ignored (§3.2).
fn is_text_plain(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("text/plain")
}

/// Applies the §3.3 rules to the host's report and parses the body under §3.2.
pub fn judge_fetch(answer: &FetchAnswer) -> Result<Policy, Error> {
    match answer {
        FetchAnswer::Failed { kind, detail } => Err(FetchError::Failed {
            kind: *kind,
            detail: detail.clone(),
        }
        .into()),
        FetchAnswer::Response {
            status,
            content_type,
            location,
            body,
        } => {
            if (300..400).contains(status) {
                return Err(FetchError::Redirect {
                    status: *status,
                    location: location.clone(),
                }
                .into());
            }
            if *status != 200 {
                return Err(FetchError::HttpStatus { status: *status }.into());
            }
            if !content_type.as_deref().is_some_and(is_text_plain) {
                return Err(FetchError::ContentType {
                    found: content_type.clone(),
                }
                .into());
            }
            if body.len() > MAX_POLICY_BYTES {
                // The host should have aborted already; the core does not trust it to.
                return Err(FetchError::Failed {
                    kind: FetchFailure::TooLarge,
                    detail: format!("{} bytes", body.len()),
                }
                .into());
            }
            parse_policy_bytes(body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid policy padded with an unknown key to exactly MAX_POLICY_BYTES.
    fn exactly_the_limit() -> Vec<u8> {
        let head = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\npadding: ";
        let mut body = head.as_bytes().to_vec();
        body.resize(MAX_POLICY_BYTES - 1, b'a');
        body.push(b'\n');
        body
    }

    fn ok(content_type: &str, body: &str) -> FetchAnswer {
        FetchAnswer::Response {
            status: 200,
            content_type: Some(content_type.into()),
            location: None,
            body: body.as_bytes().to_vec(),
        }
    }

    const GOOD: &str = "version: STSv1\nmode: enforce\nmx: mx.example\nmax_age: 86400\n";

    #[test]
    fn table() {
        // (answer, expected code or None for a policy, reason)
        let cases: Vec<(FetchAnswer, Option<&str>, &str)> = vec![
            (ok("text/plain", GOOD), None, "200 text/plain"),
            (
                ok("text/plain; charset=utf-8", GOOD),
                None,
                "parameters ignored",
            ),
            (
                ok("TEXT/Plain", GOOD),
                None,
                "media types are case-insensitive",
            ),
            (
                ok("text/html", GOOD),
                Some("policy-content-type"),
                "wrong media type",
            ),
            (
                ok("text/plainx", GOOD),
                Some("policy-content-type"),
                "not text/plain",
            ),
            (
                FetchAnswer::Response {
                    status: 200,
                    content_type: None,
                    location: None,
                    body: GOOD.into(),
                },
                Some("policy-content-type"),
                "no Content-Type",
            ),
            (
                FetchAnswer::Response {
                    status: 404,
                    content_type: Some("text/plain".into()),
                    location: None,
                    body: vec![],
                },
                Some("policy-http-status"),
                "404",
            ),
            (
                FetchAnswer::Response {
                    status: 204,
                    content_type: Some("text/plain".into()),
                    location: None,
                    body: vec![],
                },
                Some("policy-http-status"),
                "2xx other than 200",
            ),
            (
                FetchAnswer::Response {
                    status: 301,
                    content_type: None,
                    location: Some("https://x/".into()),
                    body: vec![],
                },
                Some("policy-redirect"),
                "redirect",
            ),
            (
                FetchAnswer::Response {
                    status: 200,
                    content_type: Some("text/plain".into()),
                    location: None,
                    body: vec![b'a'; MAX_POLICY_BYTES + 1],
                },
                Some("policy-too-large"),
                "oversize body from a lax host",
            ),
            (
                FetchAnswer::Response {
                    status: 200,
                    content_type: Some("text/plain".into()),
                    location: None,
                    body: exactly_the_limit(),
                },
                None,
                "a body of exactly the limit is read (unknown keys are ignored, RFC 8461 §3.2)",
            ),
            (
                ok("text/plain", "mode: enforce"),
                Some("policy-invalid"),
                "invalid policy",
            ),
            (
                FetchAnswer::Failed {
                    kind: FetchFailure::Timeout,
                    detail: String::new(),
                },
                Some("policy-fetch-timeout"),
                "timeout",
            ),
            (
                FetchAnswer::Failed {
                    kind: FetchFailure::Certificate,
                    detail: "CERT_HAS_EXPIRED".into(),
                },
                Some("policy-webpki-invalid"),
                "certificate",
            ),
            (
                FetchAnswer::Failed {
                    kind: FetchFailure::Connect,
                    detail: "ECONNREFUSED".into(),
                },
                Some("policy-fetch-error"),
                "connect",
            ),
        ];
        for (answer, want, why) in cases {
            let got = judge_fetch(&answer);
            assert_eq!(got.as_ref().err().map(Error::code), want, "{why}: {got:?}");
        }
    }

    fn host_failure(kind: &str, detail: &str, received: u64, expected: Option<u64>) -> Error {
        judge_fetch(&FetchAnswer::Failed {
            kind: FetchFailure::from_host(kind, received, expected),
            detail: detail.into(),
        })
        .unwrap_err()
    }

    #[test]
    fn a_truncated_body_is_its_own_failure_with_the_byte_counts() {
        // §3.3: a body cut off before its end is not a policy, and not a connect failure either.
        let e = host_failure("truncated", "ERR_BODY_TRUNCATED", 400, Some(1000));
        assert_eq!(e.code(), "policy-truncated");
        assert_eq!(e.tlsrpt_result(), "sts-policy-fetch-error");
        assert_eq!(e.rfc(), "RFC 8461 §3.3");
        assert!(e.is_temporary());
        assert_eq!(
            e.to_string(),
            "the policy body was cut off: the connection ended after 400 of 1000 bytes (ERR_BODY_TRUNCATED)"
        );
        assert!(matches!(
            e,
            Error::Fetch(FetchError::Failed {
                kind: FetchFailure::Truncated {
                    received: 400,
                    expected: Some(1000)
                },
                ..
            })
        ));

        // Chunked (or close-delimited) bodies declare no length.
        let e = host_failure("truncated", "", 5, None);
        assert_eq!(e.code(), "policy-truncated");
        assert_eq!(
            e.to_string(),
            "the policy body was cut off: the connection ended after 5 bytes, before the body's end"
        );
        // Only the kebab-case names are kinds: a variant's Rust name is not one.
        let e = host_failure("Truncated", "", 1, None);
        assert_eq!(e.code(), "policy-fetch-error");
    }

    #[test]
    fn host_failure_kinds_read_from_their_names() {
        let cases = [
            ("timeout", "policy-fetch-timeout"),
            ("too-large", "policy-too-large"),
            ("truncated", "policy-truncated"),
            ("certificate", "policy-webpki-invalid"),
            ("tls", "policy-fetch-error"),
            ("connect", "policy-fetch-error"),
            ("dns", "policy-fetch-error"),
            ("protocol", "policy-fetch-error"),
            ("no-such-kind", "policy-fetch-error"),
        ];
        for (kind, code) in cases {
            let e = host_failure(kind, "", 0, None);
            assert_eq!(e.code(), code, "{kind}");
        }
    }

    #[test]
    fn too_large_names_the_limit() {
        let e = host_failure("too-large", "ERR_BODY_TOO_LARGE", 0, None);
        assert!(
            e.to_string()
                .contains(&format!("({MAX_POLICY_BYTES} bytes)")),
            "{e}"
        );
    }
}
