//! Every error code of the crate, derived from the errors themselves: one sample of each variant,
//! asked for its `code()`, RFC 8460 result type, temporariness and RFC section. Hosts and docs read
//! this list (`errorCodes()` in JS) instead of keeping their own copy; the test below fails to
//! compile when a variant is added without a sample.

use crate::diagnostic::Diagnostic;
use crate::error::*;
use crate::policy::PolicyProblem;
use crate::record::RecordProblem;
use crate::tlsrpt::record::TlsRptRecordProblem;
use serde::Serialize;

/// One error code as hosts and documentation see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CodeInfo {
    pub code: &'static str,
    /// RFC 8460 §4.3 result type a sender reports for it.
    pub tlsrpt: String,
    /// Whether a later try may succeed; `None` when it depends on the case (an SMTP reply code,
    /// whether every MX failed for good).
    pub temporary: Option<bool>,
    pub rfc: &'static str,
    /// The message of an example.
    pub example: String,
}

fn samples() -> Vec<(Error, bool)> {
    let d = Diagnostic::new(
        PolicyProblem::ModeInvalid,
        "mode must be enforce, testing or none, found \"enforcing\"".into(),
        2,
        7,
    );
    let s = |x: &str| x.to_string();
    let fetch = |kind| FetchError::Failed {
        kind,
        detail: s("ETIMEDOUT"),
    };
    // (error, whether its temporariness depends on the case)
    vec![
        (RecordError::Multiple { count: 2 }.into(), false),
        (
            RecordError::Invalid(Diagnostic::new(
                RecordProblem::IdInvalid,
                "id must be 1-32 letters and digits, found \"2024-01\"".into(),
                0,
                13,
            ))
            .into(),
            false,
        ),
        (TlsRptRecordError::Multiple { count: 2 }.into(), false),
        (
            TlsRptRecordError::Invalid(Diagnostic::new(
                TlsRptRecordProblem::RuaMissing,
                "the rua field is required".into(),
                1,
                12,
            ))
            .into(),
            false,
        ),
        (PolicyError::Invalid(d).into(), false),
        (
            MxError::HostInvalid {
                host: s(".example.com"),
                reason: "empty label",
            }
            .into(),
            false,
        ),
        (
            MxError::PatternInvalid {
                pattern: s("*.*.example.com"),
                reason: s("a wildcard only as the whole left-most label"),
            }
            .into(),
            false,
        ),
        (fetch(FetchFailure::Timeout).into(), false),
        (fetch(FetchFailure::TooLarge).into(), false),
        (
            fetch(FetchFailure::Truncated {
                received: 400,
                expected: Some(1000),
            })
            .into(),
            false,
        ),
        (fetch(FetchFailure::Certificate).into(), false),
        (fetch(FetchFailure::Connect).into(), false),
        (FetchError::HttpStatus { status: 404 }.into(), false),
        (
            FetchError::Redirect {
                status: 301,
                location: Some(s("https://example.net/")),
            }
            .into(),
            false,
        ),
        (
            FetchError::ContentType {
                found: Some(s("text/html")),
            }
            .into(),
            false,
        ),
        (
            DnsError::Temporary {
                name: s("_mta-sts.example.com"),
                detail: s("ESERVFAIL"),
            }
            .into(),
            false,
        ),
        (
            DomainError::Invalid {
                domain: s("exa mple.com"),
                reason: s("a label holds a space"),
            }
            .into(),
            false,
        ),
        (
            CertificateError::HostMismatch {
                host: s("mx1.example.com"),
            }
            .into(),
            false,
        ),
        (
            CertificateError::Expired {
                detail: s("notAfter 2025-01-01"),
            }
            .into(),
            false,
        ),
        (
            CertificateError::NotTrusted {
                detail: s("unknown issuer"),
            }
            .into(),
            false,
        ),
        (
            CertificateError::Invalid {
                detail: s("not a server certificate"),
            }
            .into(),
            false,
        ),
        (
            SmtpError::Refused {
                during: "greeting",
                code: 554,
                text: s("5.3.2 no service"),
            }
            .into(),
            true,
        ),
        (
            SmtpError::StartTlsRefused {
                code: 454,
                text: s("4.7.0 TLS not available"),
            }
            .into(),
            false,
        ),
        (SmtpError::StartTlsNotSupported.into(), false),
        (SmtpError::Closed { during: "EHLO" }.into(), false),
        (
            SmtpError::Protocol {
                detail: s("expected a reply line \"NNN text\", found \"SSH-2.0\""),
            }
            .into(),
            false,
        ),
        (SmtpError::DataBeforeTls { bytes: 16 }.into(), false),
        (SmtpError::BadHeloName { name: s("a b") }.into(), false),
        (
            SmtpError::OutOfStep {
                detail: s("250 ok answered MAIL FROM, then sent 20 more bytes"),
            }
            .into(),
            false,
        ),
        (
            SmtpError::UnexpectedReply {
                command: "DATA",
                code: 250,
                text: s("2.0.0 ok"),
            }
            .into(),
            false,
        ),
        (
            SmtpError::BadCommand {
                detail: s("the argument of RCPT TO must not contain CR, LF or NUL"),
            }
            .into(),
            false,
        ),
        (DeliveryError::NullMx.into(), false),
        (
            DeliveryError::NoMatchingMx {
                hosts: vec![s("mx.example.net")],
            }
            .into(),
            false,
        ),
        (
            DeliveryError::AllFailed {
                attempts: 2,
                temporary: true,
            }
            .into(),
            true,
        ),
        (
            DeliveryError::DomainNotFound {
                domain: s("example.invalid"),
            }
            .into(),
            false,
        ),
        (
            DeliveryError::NoUsableMx {
                domain: s("example.com"),
                found: 2,
            }
            .into(),
            false,
        ),
        (
            DeliveryError::AddressLiteral {
                literal: s("[192.0.2.1]"),
            }
            .into(),
            false,
        ),
        (
            DeliveryError::NoDomain {
                address: s("postmaster"),
            }
            .into(),
            false,
        ),
        (
            DeliveryError::OtherDomain {
                address: s("bob@example.net"),
                domain: s("example.com"),
            }
            .into(),
            false,
        ),
        (
            DeliveryError::DeadlineExceeded {
                ms: 240_000,
                attempts: 4,
            }
            .into(),
            false,
        ),
        (
            ConnectError::MxLookup {
                domain: s("example.com"),
                detail: s("ETIMEOUT"),
            }
            .into(),
            false,
        ),
        (
            ConnectError::AddressNotFound {
                host: s("mx1.example.com"),
                detail: s("ENOTFOUND"),
            }
            .into(),
            false,
        ),
        (
            ConnectError::AddressLookup {
                host: s("mx1.example.com"),
                detail: s("ESERVFAIL"),
            }
            .into(),
            false,
        ),
        (
            ConnectError::Refused {
                address: s("192.0.2.1:25"),
                detail: s("ECONNREFUSED"),
            }
            .into(),
            false,
        ),
        (
            ConnectError::Timeout {
                during: s("the greeting"),
                ms: 60_000,
            }
            .into(),
            false,
        ),
        (
            ConnectError::TlsHandshake {
                detail: s("alert protocol version"),
            }
            .into(),
            false,
        ),
        (
            ConnectError::AddressRefused {
                host: s("mx.example.com"),
                address: s("127.0.0.1"),
                kind: "loopback",
                rfc: "RFC 1122 §3.2.1.3",
            }
            .into(),
            false,
        ),
        (
            ConnectError::AddressInvalid {
                host: s("mx.example.com"),
                address: s("mx.example.net"),
            }
            .into(),
            false,
        ),
        (
            ReportError::TooLarge {
                size: 20_000_000,
                limit: 16 * 1024 * 1024,
            }
            .into(),
            false,
        ),
        (
            ReportError::NotJson {
                line: 1,
                column: 2,
                detail: s("expected value"),
            }
            .into(),
            false,
        ),
        (ReportError::TooDeep { limit: 32 }.into(), false),
        (ReportError::NotObject { found: "an array" }.into(), false),
        (
            ReportError::Missing {
                path: s("policies"),
            }
            .into(),
            false,
        ),
        (
            ReportError::WrongType {
                path: s("policies"),
                expected: "an array",
                found: "a string",
            }
            .into(),
            false,
        ),
        (
            ReportError::BadCount {
                path: s("policies[0].summary.total-failure-session-count"),
                found: s("-1"),
            }
            .into(),
            false,
        ),
        (
            ReportError::BadDate {
                path: s("date-range.start-datetime"),
                found: s("yesterday"),
            }
            .into(),
            false,
        ),
        (
            ReportError::ResultType {
                found: s("tls-timeout"),
            }
            .into(),
            false,
        ),
        (
            ReportError::Input {
                detail: s("organization must not be empty"),
            }
            .into(),
            false,
        ),
        (
            SocketmapError::NetstringLength { found: s("GET /") }.into(),
            false,
        ),
        (
            SocketmapError::NetstringLengthDigits {
                digits: 7,
                limit: 6,
            }
            .into(),
            false,
        ),
        (
            SocketmapError::RequestTooLarge {
                length: 99999999,
                limit: 4096,
            }
            .into(),
            false,
        ),
        (SocketmapError::NetstringComma { found: b';' }.into(), false),
        (
            SocketmapError::NetstringTruncated { buffered: 12 }.into(),
            false,
        ),
        (
            SocketmapError::Request {
                detail: s("no space between the map name and the key"),
            }
            .into(),
            false,
        ),
        (
            SocketmapError::ReplyTooLarge {
                size: 100_042,
                limit: 100_000,
            }
            .into(),
            false,
        ),
    ]
}

/// Every code, once, in the order of the error types.
pub fn catalogue() -> Vec<CodeInfo> {
    let mut seen = std::collections::HashSet::new();
    samples()
        .into_iter()
        .filter(|(e, _)| seen.insert(e.code()))
        .map(|(e, depends)| CodeInfo {
            code: e.code(),
            tlsrpt: e.tlsrpt_result().to_string(),
            temporary: (!depends).then(|| e.is_temporary()),
            rfc: e.rfc(),
            example: e.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variant of an error: an exhaustive match, so a new variant does not compile until it is
    /// named here, and the test then wants a sample of it.
    fn variant(e: &Error) -> &'static str {
        match e {
            Error::Record(r) => match r {
                RecordError::Multiple { .. } => "record-multiple",
                RecordError::Invalid(_) => "record-invalid",
            },
            Error::TlsRptRecord(r) => match r {
                TlsRptRecordError::Multiple { .. } => "tlsrpt-record-multiple",
                TlsRptRecordError::Invalid(_) => "tlsrpt-record-invalid",
            },
            Error::Policy(PolicyError::Invalid(_)) => "policy-invalid",
            Error::Mx(m) => match m {
                MxError::HostInvalid { .. } => "mx-host-invalid",
                MxError::PatternInvalid { .. } => "mx-pattern-invalid",
            },
            Error::Fetch(f) => match f {
                FetchError::Failed { kind, .. } => match kind {
                    FetchFailure::Timeout => "fetch-timeout",
                    FetchFailure::TooLarge => "fetch-too-large",
                    FetchFailure::Truncated { .. } => "fetch-truncated",
                    FetchFailure::Certificate => "fetch-certificate",
                    FetchFailure::Tls
                    | FetchFailure::Connect
                    | FetchFailure::Dns
                    | FetchFailure::Protocol => "fetch-other",
                },
                FetchError::HttpStatus { .. } => "http-status",
                FetchError::Redirect { .. } => "redirect",
                FetchError::ContentType { .. } => "content-type",
            },
            Error::Dns(DnsError::Temporary { .. }) => "dns",
            Error::Domain(DomainError::Invalid { .. }) => "domain",
            Error::Certificate(c) => match c {
                CertificateError::HostMismatch { .. } => "cert-host",
                CertificateError::Expired { .. } => "cert-expired",
                CertificateError::NotTrusted { .. } => "cert-trust",
                CertificateError::Invalid { .. } => "cert-invalid",
            },
            Error::Smtp(s) => match s {
                SmtpError::Refused { .. } => "smtp-refused",
                SmtpError::StartTlsRefused { .. } => "starttls-refused",
                SmtpError::StartTlsNotSupported => "starttls-missing",
                SmtpError::Closed { .. } => "smtp-closed",
                SmtpError::Protocol { .. } => "smtp-protocol",
                SmtpError::DataBeforeTls { .. } => "smtp-injection",
                SmtpError::BadHeloName { .. } => "smtp-helo",
                SmtpError::OutOfStep { .. } => "smtp-out-of-step",
                SmtpError::UnexpectedReply { .. } => "smtp-unexpected",
                SmtpError::BadCommand { .. } => "smtp-bad-command",
            },
            Error::Delivery(d) => match d {
                DeliveryError::NullMx => "null-mx",
                DeliveryError::NoMatchingMx { .. } => "no-matching-mx",
                DeliveryError::AllFailed { .. } => "all-failed",
                DeliveryError::DomainNotFound { .. } => "nxdomain",
                DeliveryError::NoUsableMx { .. } => "no-usable-mx",
                DeliveryError::AddressLiteral { .. } => "literal",
                DeliveryError::NoDomain { .. } => "no-domain",
                DeliveryError::OtherDomain { .. } => "other-domain",
                DeliveryError::DeadlineExceeded { .. } => "deadline",
            },
            Error::Connect(c) => match c {
                ConnectError::MxLookup { .. } => "mx-lookup",
                ConnectError::AddressNotFound { .. } => "address-not-found",
                ConnectError::AddressLookup { .. } => "address-lookup",
                ConnectError::Refused { .. } => "connect-refused",
                ConnectError::Timeout { .. } => "timeout",
                ConnectError::TlsHandshake { .. } => "tls-handshake",
                ConnectError::AddressRefused { .. } => "address-refused",
                ConnectError::AddressInvalid { .. } => "address-invalid",
            },
            Error::Report(r) => match r {
                ReportError::TooLarge { .. } => "report-too-large",
                ReportError::NotJson { .. } => "report-not-json",
                ReportError::TooDeep { .. } => "report-too-deep",
                ReportError::NotObject { .. } => "report-not-object",
                ReportError::Missing { .. } => "report-missing",
                ReportError::WrongType { .. } => "report-wrong-type",
                ReportError::BadCount { .. } => "report-count",
                ReportError::BadDate { .. } => "report-date",
                ReportError::ResultType { .. } => "report-result-type",
                ReportError::Input { .. } => "report-input",
            },
            Error::Socketmap(e) => match e {
                SocketmapError::NetstringLength { .. } => "socketmap-length",
                SocketmapError::NetstringLengthDigits { .. } => "socketmap-digits",
                SocketmapError::RequestTooLarge { .. } => "socketmap-too-large",
                SocketmapError::NetstringComma { .. } => "socketmap-comma",
                SocketmapError::NetstringTruncated { .. } => "socketmap-truncated",
                SocketmapError::Request { .. } => "socketmap-request",
                SocketmapError::ReplyTooLarge { .. } => "socketmap-reply",
            },
            // The host's own classification: its code is the host's, not one of ours.
            Error::Host { .. } => "host",
        }
    }

    #[test]
    fn every_variant_has_a_sample_and_every_code_is_kebab_case() {
        let samples = samples();
        let variants: std::collections::HashSet<_> =
            samples.iter().map(|(e, _)| variant(e)).collect();
        // Every name `variant` can return except the host's own and the fetch kinds that share
        // `policy-fetch-error` with `fetch-other`'s sample (Connect).
        let all = [
            "tlsrpt-record-multiple",
            "tlsrpt-record-invalid",
            "record-multiple",
            "record-invalid",
            "policy-invalid",
            "mx-host-invalid",
            "mx-pattern-invalid",
            "fetch-timeout",
            "fetch-too-large",
            "fetch-truncated",
            "fetch-certificate",
            "fetch-other",
            "http-status",
            "redirect",
            "content-type",
            "dns",
            "domain",
            "cert-host",
            "cert-expired",
            "cert-trust",
            "cert-invalid",
            "smtp-refused",
            "starttls-refused",
            "starttls-missing",
            "smtp-closed",
            "smtp-protocol",
            "smtp-injection",
            "smtp-helo",
            "smtp-out-of-step",
            "smtp-unexpected",
            "smtp-bad-command",
            "null-mx",
            "no-matching-mx",
            "all-failed",
            "nxdomain",
            "no-usable-mx",
            "literal",
            "no-domain",
            "deadline",
            "mx-lookup",
            "address-not-found",
            "address-lookup",
            "connect-refused",
            "timeout",
            "tls-handshake",
            "report-too-large",
            "report-not-json",
            "report-too-deep",
            "report-not-object",
            "report-missing",
            "report-wrong-type",
            "report-count",
            "report-date",
            "report-result-type",
            "report-input",
            "socketmap-length",
            "socketmap-digits",
            "socketmap-too-large",
            "socketmap-comma",
            "socketmap-truncated",
            "socketmap-request",
            "socketmap-reply",
        ];
        for v in all {
            assert!(variants.contains(v), "no sample of {v}");
        }
        let list = catalogue();
        for c in &list {
            assert!(
                !c.code.is_empty()
                    && c.code.split('-').all(|w| !w.is_empty()
                        && w.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())),
                "{}",
                c.code
            );
            assert!(!c.example.is_empty(), "{}: an example message", c.code);
            assert!(
                c.tlsrpt.starts_with("sts-")
                    || c.tlsrpt.starts_with("certificate-")
                    || ["validation-failure", "starttls-not-supported"]
                        .contains(&c.tlsrpt.as_str()),
                "{}: {}",
                c.code,
                c.tlsrpt
            );
        }
        // Pinned: public interface (tests and users rely on them).
        for code in [
            "delivery-failed",
            "domain-not-found",
            "mx-null",
            "mx-not-in-policy",
            "smtp-out-of-step",
            "smtp-unexpected-reply",
            "tls-handshake-failed",
            "policy-truncated",
            "invalid-argument",
        ] {
            assert!(list.iter().any(|c| c.code == code), "{code}");
        }
    }

    /// `temporary` is the error's own answer where it is fixed, and null where it depends on the
    /// case: an SMTP refusal (4yz or 5yz) and a delivery whose MX hosts failed for good or not.
    #[test]
    fn temporariness_is_given_exactly_where_it_is_fixed() {
        let list = catalogue();
        let of = |code: &str| list.iter().find(|c| c.code == code).unwrap().temporary;
        assert_eq!(of("smtp-refused"), None);
        assert_eq!(of("delivery-failed"), None);
        assert_eq!(of("dns-temporary"), Some(true));
        assert_eq!(of("mx-connect-failed"), Some(true));
        assert_eq!(of("policy-invalid"), Some(false));
        assert_eq!(of("mx-address-not-found"), Some(false));
        assert_eq!(list.iter().filter(|c| c.temporary.is_none()).count(), 2);
    }
}
