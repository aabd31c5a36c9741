//! What one attempt's TLS result means for delivery under the policy's mode (RFC 8461 §5).

use super::Candidate;
use crate::error::{ConnectError, DeliveryError, Error, SmtpError};
use crate::policy::Mode;
use serde::Serialize;

/// What happened on one connection, as far as TLS goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsResult {
    /// STARTTLS and the handshake completed; `certificate` is the §4.2 verdict.
    Secured { certificate: Result<(), Error> },
    /// The server offered no STARTTLS.
    NoStartTls,
    /// STARTTLS was offered but TLS could not be established (handshake failure).
    HandshakeFailed { detail: String },
    /// The SMTP dialogue failed before TLS (refused, closed, not SMTP) or the TCP connect failed.
    Unreachable { error: Error },
}

/// The decision for one attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Send the message over this connection (TLS verified, or as the mode allows).
    Deliver,
    /// Send it in plaintext: no policy or mode none, and STARTTLS not offered (opportunistic).
    DeliverPlaintext,
    /// Close this connection and try the next candidate.
    TryNext,
    /// Probe only: under enforce the host matches no policy pattern, so a sender never dials it
    /// (RFC 8461 §5); what it showed is recorded for the person looking.
    Excluded,
}

/// The decision and the failure to record for TLS-RPT (`None` for a success). Serialised as
/// `{ verdict, failure }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Judgement {
    pub verdict: Verdict,
    pub failure: Option<Error>,
}

/// Applies the mode to one attempt (RFC 8461 §5). `require_tls`: the caller refuses plaintext
/// and invalid certificates even without a policy.
pub fn judge(
    mode: Option<Mode>,
    candidate: &Candidate,
    tls: TlsResult,
    require_tls: bool,
) -> Judgement {
    let strict = mode == Some(Mode::Enforce);
    let reporting = matches!(mode, Some(Mode::Enforce | Mode::Testing));
    let judged = |verdict, failure: Option<Error>| Judgement { verdict, failure };
    // §4.1: under testing, an MX outside the policy is delivered to but reported.
    let mismatch = (mode == Some(Mode::Testing) && candidate.matched.is_none()).then(|| {
        Error::from(DeliveryError::NoMatchingMx {
            hosts: vec![candidate.host.clone()],
        })
    });
    match tls {
        TlsResult::Unreachable { error } => judged(Verdict::TryNext, Some(error)),
        TlsResult::Secured {
            certificate: Ok(()),
        } => judged(Verdict::Deliver, mismatch),
        TlsResult::Secured {
            certificate: Err(e),
        } => {
            // §5: enforce never delivers over an invalid certificate; testing delivers and
            // reports; without a policy TLS is opportunistic.
            if strict || require_tls {
                judged(Verdict::TryNext, Some(e))
            } else {
                judged(Verdict::Deliver, reporting.then_some(e))
            }
        }
        TlsResult::NoStartTls => {
            let e = Error::from(SmtpError::StartTlsNotSupported);
            if strict || require_tls {
                judged(Verdict::TryNext, Some(e))
            } else {
                judged(Verdict::DeliverPlaintext, reporting.then_some(e))
            }
        }
        TlsResult::HandshakeFailed { detail } => {
            let e = Error::from(ConnectError::TlsHandshake { detail });
            // Spec: a failed handshake leaves no usable connection in any mode; the next MX (or
            // a plaintext retry, which opportunistic senders may make) is the host's choice.
            judged(Verdict::TryNext, Some(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SmtpError;
    use crate::policy::Mode;

    #[test]
    #[allow(clippy::type_complexity)]
    fn mode_table() {
        let matching = Candidate {
            host: "mx.example.com".into(),
            priority: 0,
            matched: Some("*.example.com".into()),
            implicit: false,
        };
        let stray = Candidate {
            matched: None,
            ..matching.clone()
        };
        let bad_cert = || TlsResult::Secured {
            certificate: Err(crate::error::CertificateError::Expired {
                detail: String::new(),
            }
            .into()),
        };
        let ok = || TlsResult::Secured {
            certificate: Ok(()),
        };
        use Verdict::*;
        // (mode, candidate, tls, require_tls, verdict, failure code, reason)
        let cases: Vec<(
            Option<Mode>,
            &Candidate,
            TlsResult,
            bool,
            Verdict,
            Option<&str>,
            &str,
        )> = vec![
            (
                Some(Mode::Enforce),
                &matching,
                ok(),
                false,
                Deliver,
                None,
                "enforce, verified",
            ),
            (
                Some(Mode::Enforce),
                &matching,
                bad_cert(),
                false,
                TryNext,
                Some("certificate-expired"),
                "enforce never delivers over a bad certificate",
            ),
            (
                Some(Mode::Enforce),
                &matching,
                TlsResult::NoStartTls,
                false,
                TryNext,
                Some("starttls-not-supported"),
                "enforce needs STARTTLS",
            ),
            (
                Some(Mode::Testing),
                &matching,
                bad_cert(),
                false,
                Deliver,
                Some("certificate-expired"),
                "testing delivers and reports",
            ),
            (
                Some(Mode::Testing),
                &matching,
                TlsResult::NoStartTls,
                false,
                DeliverPlaintext,
                Some("starttls-not-supported"),
                "testing delivers in plaintext and reports",
            ),
            (
                Some(Mode::Testing),
                &stray,
                ok(),
                false,
                Deliver,
                Some("mx-not-in-policy"),
                "testing reports an MX outside the policy",
            ),
            (
                Some(Mode::None),
                &stray,
                bad_cert(),
                false,
                Deliver,
                None,
                "mode none: opportunistic, nothing reported",
            ),
            (
                None,
                &stray,
                TlsResult::NoStartTls,
                false,
                DeliverPlaintext,
                None,
                "no policy: plaintext allowed",
            ),
            (
                None,
                &stray,
                TlsResult::NoStartTls,
                true,
                TryNext,
                Some("starttls-not-supported"),
                "caller requires TLS",
            ),
            (
                None,
                &stray,
                bad_cert(),
                true,
                TryNext,
                Some("certificate-expired"),
                "caller requires a valid certificate",
            ),
            (
                None,
                &stray,
                TlsResult::HandshakeFailed { detail: "x".into() },
                false,
                TryNext,
                Some("tls-handshake-failed"),
                "no connection after a failed handshake",
            ),
            (
                Some(Mode::Enforce),
                &matching,
                TlsResult::Unreachable {
                    error: SmtpError::Closed { during: "EHLO" }.into(),
                },
                false,
                TryNext,
                Some("smtp-closed"),
                "unreachable",
            ),
        ];
        for (mode, cand, tls, require, verdict, code, why) in cases {
            let j = judge(mode, cand, tls, require);
            assert_eq!(j.verdict, verdict, "{why}");
            assert_eq!(j.failure.as_ref().map(Error::code), code, "{why}");
        }
    }

    #[test]
    fn only_testing_reports_an_mx_outside_the_policy() {
        // (mode, matched pattern, reason) for a verified TLS session: no failure to report unless
        // testing met an MX the policy does not list (RFC 8461 §4.1, §5; RFC 8460 §4.3).
        let candidate = |matched: Option<&str>| Candidate {
            host: "mx.example.com".into(),
            priority: 0,
            matched: matched.map(str::to_string),
            implicit: false,
        };
        let cases = [
            (
                Some(Mode::Testing),
                Some("*.example.com"),
                None,
                "testing, a listed MX",
            ),
            (
                Some(Mode::Testing),
                None,
                Some("mx-not-in-policy"),
                "testing, an MX not listed",
            ),
            (
                None,
                None,
                None,
                "no policy: nothing is listed and nothing reported",
            ),
            (Some(Mode::None), None, None, "mode none: nothing reported"),
            (
                Some(Mode::Enforce),
                Some("*.example.com"),
                None,
                "enforce, a listed MX",
            ),
        ];
        for (mode, matched, code, why) in cases {
            let ok = TlsResult::Secured {
                certificate: Ok(()),
            };
            let j = judge(mode, &candidate(matched), ok, false);
            assert_eq!(j.verdict, Verdict::Deliver, "{why}");
            assert_eq!(j.failure.as_ref().map(Error::code), code, "{why}");
        }
    }
}
