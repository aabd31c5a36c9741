//! What the relay says to the local MTA, and the trace header it adds (DESIGN: relay, no loss).
//!
//! The relay answers the local MTA only with what really happened downstream: the MX's own reply
//! when there was one, otherwise a 4xx that keeps the message in the local MTA's queue. Replies
//! carry enhanced status codes (RFC 3463, RFC 5248) and name the policy domain, the MX tried and
//! the reason, so `postqueue -p` tells an operator what is wrong.

use crate::error::Error;
use serde::Serialize;

/// An SMTP reply for the local MTA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RelayReply {
    pub code: u16,
    /// RFC 3463 enhanced status code, e.g. `4.7.5`.
    pub enhanced: String,
    pub text: String,
}

/// Reply text is one line without control characters and within RFC 5321 §4.5.3.1.5's 512
/// octets (with room for the code).
fn clean(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() > 400 {
        let mut end = 400;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str("...");
    }
    out
}

/// The enhanced code for a failure that kept the message from being delivered (RFC 3463 §3.5,
/// §3.8; RFC 5248 registry).
fn enhanced_for(code: &str) -> &'static str {
    match code {
        // X.7.5 cryptographic failure: the certificate or TLS itself failed.
        c if c.starts_with("certificate-")
            || c == "validation-failure"
            || c == "tls-handshake-failed" =>
        {
            "4.7.5"
        }
        // X.7.10 encryption needed: STARTTLS required by the policy but not available.
        "starttls-not-supported" | "starttls-refused" | "smtp-data-before-tls" => "4.7.10",
        // X.4.3 directory server failure: DNS did not answer.
        "dns-temporary" => "4.4.3",
        // X.7.0 other security: the policy forbids every MX.
        "mx-not-in-policy" => "4.7.0",
        // RFC 7505 §4.2: a null MX domain accepts no mail: 5.1.10 "recipient address has null MX".
        "mx-null" => "5.1.10",
        "mx-timeout" => "4.4.1",
        _ => "4.4.2",
    }
}

/// The reply when no MX could be used under the policy; `failure` is the reason to report (the
/// last attempt's error, or the discovery or planning error).
pub fn failure_reply(
    policy_domain: &str,
    mode: Option<&str>,
    mx: Option<&str>,
    failure: &Error,
) -> RelayReply {
    let code_str = failure.code_str();
    let enhanced = enhanced_for(code_str);
    // Only a cause that no retry can fix becomes a 5xx; everything else stays queued upstream.
    let permanent = enhanced.starts_with('5') && !failure.is_temporary();
    let mode = mode.map_or_else(|| "no policy".to_string(), |m| format!("mode {m}"));
    let via = mx.map_or_else(String::new, |m| format!(" via {m}"));
    let text = clean(&format!(
        "MTA-STS {policy_domain} ({mode}){via}: {code_str}: {failure}"
    ));
    RelayReply {
        code: if permanent { 550 } else { 451 },
        enhanced: enhanced.to_string(),
        text,
    }
}

/// RFC 5321 §4.5.3.1.8: recipients of another domain in the same transaction are deferred so the
/// local MTA sends them in a transaction of their own (one downstream connection per domain).
pub fn other_domain_reply(first_domain: &str) -> RelayReply {
    RelayReply { code: 452, enhanced: "4.5.3".into(), text: clean(&format!("one recipient domain per transaction ({first_domain} is in progress); send the others separately")) }
}

/// The facts the trace header records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace<'a> {
    /// `verified` (TLS with a §4.2-valid certificate), `unverified` (TLS, certificate not
    /// valid, delivered as the mode allowed), or `plaintext`.
    pub result: &'a str,
    pub policy_domain: &'a str,
    /// `enforce`, `testing`, `none`, or `none` when there is no policy.
    pub mode: Option<&'a str>,
    pub policy_id: Option<&'a str>,
    pub mx: &'a str,
    pub tls_version: Option<&'a str>,
}

/// Header values hold only what a token may: the fields come from validated domains, ids and
/// fixed words, but any other byte is dropped rather than trusted (no header injection).
fn token(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect()
}

/// `Name: result; domain=...; mode=...; id=...; mx=...; tls=...` with CRLF, or an error when the
/// name is not an RFC 5322 §3.6.8 field name.
pub fn trace_header(name: &str, t: &Trace) -> Option<String> {
    if name.is_empty() || !name.bytes().all(|b| (33..=126).contains(&b) && b != b':') {
        return None;
    }
    let mut v = format!(
        "{}; domain={}; mode={}",
        token(t.result),
        token(t.policy_domain),
        token(t.mode.unwrap_or("none"))
    );
    if let Some(id) = t.policy_id {
        v.push_str(&format!("; id={}", token(id)));
    }
    v.push_str(&format!("; mx={}", token(t.mx)));
    v.push_str(&format!(
        "; tls={}",
        t.tls_version.map_or_else(|| "none".to_string(), token)
    ));
    Some(format!("{name}: {v}\r\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{CertificateError, DnsError, SmtpError};

    #[test]
    fn failure_replies() {
        let cert: Error = CertificateError::Expired { detail: "x".into() }.into();
        let r = failure_reply(
            "example.com",
            Some("enforce"),
            Some("mx1.example.com"),
            &cert,
        );
        assert_eq!((r.code, r.enhanced.as_str()), (451, "4.7.5"));
        assert!(
            r.text
                .contains("example.com (mode enforce) via mx1.example.com: certificate-expired"),
            "{}",
            r.text
        );
        let dns: Error = DnsError::Temporary {
            name: "_mta-sts.example.com".into(),
            detail: "ETIMEOUT".into(),
        }
        .into();
        assert_eq!(
            failure_reply("example.com", None, None, &dns).enhanced,
            "4.4.3"
        );
        let tls: Error = SmtpError::StartTlsNotSupported.into();
        assert_eq!(
            failure_reply("example.com", Some("enforce"), Some("mx"), &tls).enhanced,
            "4.7.10"
        );
        let null: Error = crate::delivery::DeliveryError::NullMx.into();
        let r = failure_reply("example.com", None, None, &null);
        assert_eq!(
            (r.code, r.enhanced.as_str()),
            (550, "5.1.10"),
            "null MX is permanent"
        );
        let evil: Error = Error::Host {
            code: "mx-connect-failed".into(),
            message: "a\r\n250 ok".into(),
            temporary: true,
            tlsrpt: String::new(),
        };
        assert!(
            !failure_reply("example.com", None, None, &evil)
                .text
                .contains('\n'),
            "no line breaks in replies"
        );
    }

    #[test]
    fn trace_headers() {
        let t = Trace {
            result: "verified",
            policy_domain: "example.com",
            mode: Some("enforce"),
            policy_id: Some("2024"),
            mx: "mx1.example.com",
            tls_version: Some("TLSv1.3"),
        };
        assert_eq!(trace_header("MTA-STS-Verify", &t).unwrap(), "MTA-STS-Verify: verified; domain=example.com; mode=enforce; id=2024; mx=mx1.example.com; tls=TLSv1.3\r\n");
        let evil = Trace {
            mx: "mx\r\nBcc: x@evil",
            ..t.clone()
        };
        assert!(!trace_header("X", &evil).unwrap().contains("\r\nBcc"));
        assert!(trace_header("Bad Name", &t).is_none());
        assert!(trace_header("", &t).is_none());
        let plain = Trace {
            result: "plaintext",
            mode: None,
            policy_id: None,
            tls_version: None,
            ..t
        };
        assert!(trace_header("H", &plain)
            .unwrap()
            .ends_with("mode=none; mx=mx1.example.com; tls=none\r\n"));
    }
}
