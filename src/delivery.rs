//! Which MX hosts to try, and what an attempt's TLS result means for delivery (RFC 8461 §4, §5;
//! RFC 5321 §5.1; RFC 7505).
//!
//! The host looks up MX records, dials, runs STARTTLS and hands the peer chain to
//! [`crate::verify_chain`]; this module orders and filters the candidates and turns each attempt
//! into a verdict and a TLS-RPT-ready result.

use crate::error::{Error, MxError, SmtpError};
use crate::mx::normalize_host;
use crate::policy::{Mode, Policy};
use serde::{Deserialize, Serialize};

/// One MX record as the host's DNS returned it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct MxRecord {
    pub exchange: String,
    pub priority: u16,
}

/// A host to try, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// Lowercase A-label host name without the trailing dot: the name dialled, sent as SNI and
    /// checked against the certificate (§4.2).
    pub host: String,
    pub priority: u16,
    /// The policy pattern that matched (§4.1), when there is a policy.
    pub matched: Option<String>,
    /// True when no MX record exists and the domain itself is tried (RFC 5321 §5.1).
    pub implicit: bool,
}

/// The candidates, and the MX hosts left out because the policy does not list them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub mode: Option<&'static str>,
    pub candidates: Vec<Candidate>,
    pub excluded: Vec<Candidate>,
}

/// Why no delivery can even be attempted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryError {
    /// RFC 7505: the domain publishes a null MX ("." at preference 0): it accepts no mail.
    NullMx,
    /// RFC 8461 §5: in enforce mode no MX host matches the policy; delivery must not happen.
    NoMatchingMx { hosts: Vec<String> },
    /// Every candidate was tried and none could be used.
    AllFailed { attempts: usize, temporary: bool },
}

impl DeliveryError {
    pub fn code(&self) -> &'static str {
        match self {
            DeliveryError::NullMx => "mx-null",
            DeliveryError::NoMatchingMx { .. } => "mx-not-in-policy",
            DeliveryError::AllFailed { .. } => "delivery-failed",
        }
    }

    pub fn is_temporary(&self) -> bool {
        match self {
            DeliveryError::NullMx => false,
            // RFC 8461 §5: a sender that cannot deliver under an enforce policy keeps trying
            // later; the policy or the MX set may change.
            DeliveryError::NoMatchingMx { .. } => true,
            DeliveryError::AllFailed { temporary, .. } => *temporary,
        }
    }
}

impl DeliveryError {
    /// The failure after every candidate was tried. RFC 8461 §5: under enforce a failure is never
    /// final (the policy is checked again before the next try); otherwise it is final only when
    /// every attempt failed for good (a 5yz refusal).
    pub fn all_failed(mode: Option<Mode>, attempts_temporary: &[bool]) -> DeliveryError {
        let temporary = mode == Some(Mode::Enforce)
            || attempts_temporary.iter().any(|&t| t)
            || attempts_temporary.is_empty();
        DeliveryError::AllFailed {
            attempts: attempts_temporary.len(),
            temporary,
        }
    }
}

/// Orders the MX records by preference and applies the policy's MX patterns (§4.1, §5).
pub fn plan(domain: &str, records: &[MxRecord], policy: Option<&Policy>) -> Result<Plan, Error> {
    let domain = crate::domain::normalize_domain(domain)?;
    // RFC 7505 §3: a single MX record with an empty (root) exchange means "no mail".
    if records.len() == 1 && matches!(records[0].exchange.as_str(), "" | ".") {
        return Err(DeliveryError::NullMx.into());
    }
    let mut hosts: Vec<(String, u16, bool)> = Vec::new();
    if records.is_empty() {
        // RFC 5321 §5.1: no MX records: the domain itself is the implicit MX, preference 0.
        hosts.push((domain.clone(), 0, true));
    }
    for r in records {
        match normalize_host(&r.exchange) {
            Ok(h) => hosts.push((h.to_ascii_lowercase(), r.priority, false)),
            // Spec: an unusable exchange among others (e.g. "." next to real hosts) is skipped.
            Err(MxError::HostInvalid { .. }) | Err(_) => continue,
        }
    }
    // RFC 5321 §5.1: lower preference first; equal preferences keep the order given (the host may
    // shuffle them for load spreading).
    hosts.sort_by_key(|&(_, p, _)| p);
    hosts.dedup_by(|a, b| a.0 == b.0);
    let mode = policy.map(|p| p.mode);
    let mut plan = Plan {
        mode: mode.map(Mode::as_str),
        candidates: Vec::new(),
        excluded: Vec::new(),
    };
    for (host, priority, implicit) in hosts {
        let matched = policy
            .and_then(|p| crate::mx::match_mx(&p.mx, &host).ok().flatten())
            .map(|m| m.as_str().to_string());
        let c = Candidate {
            host,
            priority,
            matched,
            implicit,
        };
        // §5: in enforce mode, MX hosts that do not match are not delivered to at all.
        if mode == Some(Mode::Enforce) && c.matched.is_none() {
            plan.excluded.push(c);
        } else {
            plan.candidates.push(c);
        }
    }
    if mode == Some(Mode::Enforce) && plan.candidates.is_empty() {
        return Err(DeliveryError::NoMatchingMx {
            hosts: plan.excluded.iter().map(|c| c.host.clone()).collect(),
        }
        .into());
    }
    Ok(plan)
}

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

impl TlsResult {
    /// Reads the host's report: `{ kind: "secured", certificate: { ok, code, message } }`,
    /// `{ kind: "no-starttls" }`, `{ kind: "handshake-failed", detail }` or
    /// `{ kind: "unreachable", error: { code, message, temporary, tlsrpt } }`.
    pub fn from_host(report: &serde_json::Value) -> TlsResult {
        let text = |v: &serde_json::Value, k: &str| {
            v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
        };
        match report.get("kind").and_then(|k| k.as_str()) {
            Some("secured") => {
                let cert = &report["certificate"];
                let certificate = if cert.get("ok").and_then(|v| v.as_bool()) == Some(true) {
                    Ok(())
                } else {
                    // The verifier's own verdict, passed back unchanged (its code is the RFC 8460
                    // result type).
                    let code = Some(text(cert, "code"))
                        .filter(|c| !c.is_empty())
                        .unwrap_or_else(|| "validation-failure".into());
                    Err(Error::Host {
                        tlsrpt: code.clone(),
                        code,
                        message: text(cert, "message"),
                        temporary: true,
                    })
                };
                TlsResult::Secured { certificate }
            }
            Some("no-starttls") => TlsResult::NoStartTls,
            Some("handshake-failed") => TlsResult::HandshakeFailed {
                detail: text(report, "detail"),
            },
            _ => {
                let e = &report["error"];
                let code = Some(text(e, "code"))
                    .filter(|c| !c.is_empty())
                    .unwrap_or_else(|| "host-failure".into());
                TlsResult::Unreachable {
                    error: Error::Host {
                        code,
                        message: text(e, "message"),
                        temporary: e.get("temporary").and_then(|v| v.as_bool()).unwrap_or(true),
                        tlsrpt: Some(text(e, "tlsrpt"))
                            .filter(|t| !t.is_empty())
                            .unwrap_or_else(|| "validation-failure".into()),
                    },
                }
            }
        }
    }
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
            let e = Error::from(crate::error::CertificateError::Invalid {
                detail: format!("TLS handshake failed: {detail}"),
            });
            // Spec: a failed handshake leaves no usable connection in any mode; the next MX (or
            // a plaintext retry, which opportunistic senders may make) is the host's choice.
            judged(Verdict::TryNext, Some(e))
        }
    }
}

impl From<DeliveryError> for Error {
    fn from(e: DeliveryError) -> Self {
        Error::Delivery(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_policy;

    fn rec(h: &str, p: u16) -> MxRecord {
        MxRecord {
            exchange: h.into(),
            priority: p,
        }
    }

    fn policy(mode: &str) -> Policy {
        parse_policy(&format!(
            "version: STSv1\nmode: {mode}\nmx: *.example.com\nmax_age: 86400\n"
        ))
        .unwrap()
    }

    #[test]
    fn all_failed_is_temporary_unless_every_attempt_was_final() {
        let t = |mode, a: &[bool]| DeliveryError::all_failed(mode, a).is_temporary();
        assert!(
            t(Some(Mode::Enforce), &[false, false]),
            "enforce: never final"
        );
        assert!(t(Some(Mode::Testing), &[false, true]));
        assert!(
            !t(Some(Mode::Testing), &[false, false]),
            "every MX said 5yz"
        );
        assert!(!t(None, &[false]));
        assert!(t(None, &[]), "nothing tried is not a verdict");
    }

    #[test]
    fn ordering_filtering_and_special_mx() {
        let records = [
            rec("b.example.com.", 20),
            rec("evil.example.net", 5),
            rec("A.example.com", 10),
        ];
        let p = plan("example.com", &records, Some(&policy("enforce"))).unwrap();
        let hosts: Vec<&str> = p.candidates.iter().map(|c| c.host.as_str()).collect();
        assert_eq!(
            hosts,
            ["a.example.com", "b.example.com"],
            "sorted, lowercased, filtered"
        );
        assert_eq!(p.excluded[0].host, "evil.example.net");
        assert_eq!(p.candidates[0].matched.as_deref(), Some("*.example.com"));
        let p = plan("example.com", &records, Some(&policy("testing"))).unwrap();
        assert_eq!(p.candidates.len(), 3, "testing tries every MX");
        assert_eq!(p.candidates[0].host, "evil.example.net");
        let p = plan("example.com", &[], None).unwrap();
        assert!(
            p.candidates[0].implicit && p.candidates[0].host == "example.com",
            "implicit MX"
        );
        let e = plan("example.com", &[rec(".", 0)], None).unwrap_err();
        assert_eq!((e.code(), e.is_temporary()), ("mx-null", false));
        let e = plan(
            "example.com",
            &[rec("mx.example.net", 0)],
            Some(&policy("enforce")),
        )
        .unwrap_err();
        assert_eq!((e.code(), e.is_temporary()), ("mx-not-in-policy", true));
        let p = plan(
            "example.com",
            &[rec("a.example.com", 10), rec("a.example.com.", 20)],
            None,
        )
        .unwrap();
        assert_eq!(p.candidates.len(), 1, "duplicates dropped");
    }

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
                Some("validation-failure"),
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
}
