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

/// The subject and detail of the enhanced code for a failure that kept the message from being
/// delivered (RFC 3463 §3.5, §3.8; RFC 5248 registry); the class (4 or 5) is whether it may pass.
fn enhanced_for(code: &str) -> &'static str {
    match code {
        // X.7.5 cryptographic failure: the certificate or TLS itself failed.
        c if c.starts_with("certificate-")
            || c == "validation-failure"
            || c == "tls-handshake-failed" =>
        {
            "7.5"
        }
        // X.7.10 encryption needed: STARTTLS required by the policy but not available.
        "starttls-not-supported" | "starttls-refused" | "smtp-data-before-tls" => "7.10",
        // X.4.3 directory server failure: DNS did not answer.
        "dns-temporary" | "mx-lookup-failed" | "mx-address-lookup-failed" => "4.3",
        // X.7.0 other security: the policy forbids every MX.
        "mx-not-in-policy" => "7.0",
        // RFC 7505 §4.2: a null MX domain accepts no mail: "recipient address has null MX".
        "mx-null" => "1.10",
        // X.1.2 bad destination system address: the domain does not exist, is no domain name,
        // or is an address literal the relay does not route.
        "domain-not-found" | "domain-invalid" | "recipient-address-literal" => "1.2",
        // X.1.3 bad destination mailbox address syntax: no domain part at all.
        "recipient-no-domain" => "1.3",
        // X.4.4 unable to route: no MX record names a usable host, or no host has an address.
        // An MX address in a special-purpose range (RFC 6890) routes nowhere on the internet.
        "mx-unusable" | "mx-address-not-found" | "mx-address-refused" | "mx-address-invalid" => {
            "4.4"
        }
        // X.4.1 no answer from host.
        "mx-timeout" | "delivery-deadline" => "4.1",
        // X.3.0 other or undefined mail system status: the MX refused the session.
        "smtp-refused" => "3.0",
        // X.5.0 other protocol status: the MX does not speak SMTP as it must.
        "smtp-protocol-error" | "smtp-out-of-step" | "smtp-unexpected-reply" => "5.0",
        _ => "4.2",
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
    // Only a cause that no retry can fix becomes a 5xx; everything else stays queued upstream.
    let permanent = !failure.is_temporary();
    let enhanced = format!(
        "{}.{}",
        if permanent { 5 } else { 4 },
        enhanced_for(code_str)
    );
    let mode = mode.map_or_else(|| "no policy".to_string(), |m| format!("mode {m}"));
    let via = mx.map_or_else(String::new, |m| format!(" via {m}"));
    let text = clean(&format!(
        "MTA-STS {policy_domain} ({mode}){via}: {code_str}: {failure}"
    ));
    RelayReply {
        code: if permanent { 550 } else { 451 },
        enhanced,
        text,
    }
}

/// The domain a recipient is routed by (RFC 5321 §4.1.2 `Mailbox = Local-part "@" ( Domain /
/// address-literal )`), normalised to its lowercase A-label, or why the relay cannot route it:
/// no domain part (a bare `postmaster`, §4.5.1), an address literal (§4.1.3: no domain, so no
/// MTA-STS policy could apply), or a domain that is not a domain name. All three are permanent.
pub fn recipient_domain(address: &str) -> Result<String, Error> {
    use crate::error::DeliveryError;
    let Some((_, domain)) = address.rsplit_once('@') else {
        return Err(DeliveryError::NoDomain {
            address: address.into(),
        }
        .into());
    };
    if domain.starts_with('[') {
        return Err(DeliveryError::AddressLiteral {
            literal: domain.into(),
        }
        .into());
    }
    crate::domain::normalize_domain(domain)
}

/// Whether `address` may go over a connection to `domain`'s MX: its domain (normalised) is
/// `domain`. RFC 5321 §5.1: the MX is chosen by the recipient's domain, and RFC 8461 §5: so is the
/// policy; a recipient of another domain over this connection would bypass both.
pub fn check_recipient_domain(address: &str, domain: &str) -> Result<(), Error> {
    let own = crate::domain::normalize_domain(domain)?;
    if recipient_domain(address)? == own {
        return Ok(());
    }
    Err(crate::error::DeliveryError::OtherDomain {
        address: address.into(),
        domain: own,
    }
    .into())
}

/// A recipient's domain part as it may be shown in a reply (no control characters, bounded).
pub fn shown_domain(address: &str) -> String {
    let d = address.rsplit_once('@').map_or("(none)", |(_, d)| d);
    let d = if d.is_empty() { "(none)" } else { d };
    clean(&d.chars().take(255).collect::<String>().to_lowercase())
}

/// The MX's own reply, passed on to the local MTA: its code, enhanced code and words, with the MX
/// named at the end; every line carries the enhanced code (RFC 2034 §4). A 421 closes the MX's
/// channel, not the relay's: the local MTA hears 451 with the MX's words (RFC 5321 §3.8).
pub fn mirror_reply(reply: &crate::smtp::Reply, mx: &str) -> RelayReply {
    let code = if reply.code == 421 { 451 } else { reply.code };
    let class = (code / 100).to_string();
    let enhanced = crate::smtp::enhanced_code(reply)
        .filter(|e| e.starts_with(class.as_str()))
        .map_or_else(|| format!("{class}.0.0"), str::to_string);
    let words: Vec<String> = reply
        .lines
        .iter()
        .map(|l| {
            let l = l.trim_end();
            let rest = match l.split_once(' ') {
                Some((first, rest)) if looks_enhanced(first) => rest,
                None if looks_enhanced(l) => "",
                _ => l,
            };
            clean(rest)
        })
        .collect();
    let text = format!("{} [{}]", words.join(" / ").trim(), clean(mx))
        .trim()
        .to_string();
    RelayReply {
        code,
        enhanced,
        text,
    }
}

fn looks_enhanced(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..]
            .iter()
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// What the relay itself says to the local MTA at the end of DATA when the MX's reply is not the
/// answer (DESIGN: relay, no loss).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The delivery journal has this message as accepted by the MX already (a retry after a crash
    /// between the MX's 250 and ours): 250, and nothing is sent again.
    AlreadyDelivered,
    /// The same message is being delivered in another session right now.
    InFlight,
    /// The local MTA went away before its end of data: nothing was ended at the MX.
    Incomplete,
    /// RFC 6531 §3.2: the message needs SMTPUTF8 and the MX does not offer it.
    NeedsSmtpUtf8 { mx: String },
    /// RFC 1870 §6: larger than the relay's announced SIZE.
    TooBig { limit: u64 },
    /// The journal could not be written before the end of data: nothing was ended at the MX.
    JournalFailed { detail: String },
    /// The transaction was aborted while it waited downstream (the client left, RSET, shutdown).
    Aborted,
    /// RFC 5321 §3.8: the relay is shutting down; the client tries again later.
    ShuttingDown,
    /// The client's address is outside the allow list (RFC 5321 §3.1: 554 at connection).
    NotAllowed { client: String },
    /// A command before MAIL that needs it (RFC 5321 §4.1.4: bad sequence of commands).
    NeedMail,
    /// RFC 4954 §6: AUTH is not enabled on this relay.
    AuthDisabled,
    /// RFC 4954 §6: 538 encryption required for the requested authentication mechanism.
    AuthNeedsTls,
    /// RFC 4954 §6: 535 authentication credentials invalid.
    AuthFailed,
    /// RFC 4954 §6: 454 temporary authentication failure.
    AuthTemporary { detail: String },
    /// A bug in the relay: the message stays queued upstream.
    InternalError,
}

pub fn notice_reply(notice: &Notice) -> RelayReply {
    let (code, enhanced, text) = match notice {
        Notice::AlreadyDelivered => (250, "2.0.0", "already delivered: the relay's delivery journal has this message as accepted by the MX; not sent again".to_string()),
        Notice::InFlight => (451, "4.4.0", "the same message is being delivered in another session now; try again later".to_string()),
        Notice::Incomplete => (451, "4.4.2", "message incomplete: the connection ended before the end of data; nothing was delivered".to_string()),
        Notice::NeedsSmtpUtf8 { mx } => (553, "5.6.7", format!("{} does not support SMTPUTF8, which this message needs", clean(mx))),
        Notice::TooBig { limit } => (552, "5.3.4", format!("message exceeds {limit} octets")),
        Notice::JournalFailed { detail } => (451, "4.3.0", format!("delivery journal write failed: {}", clean(detail))),
        Notice::Aborted => (451, "4.4.2", "transaction aborted by the client".to_string()),
        Notice::ShuttingDown => (421, "4.3.2", "the relay is shutting down, try again later".to_string()),
        Notice::NotAllowed { client } => (554, "5.7.1", format!("{} may not relay through this host", clean(client))),
        Notice::NeedMail => (503, "5.5.1", "need MAIL command".to_string()),
        Notice::AuthDisabled => (502, "5.5.1", "authentication is not enabled".to_string()),
        Notice::AuthNeedsTls => (538, "5.7.11", "encryption required for authentication".to_string()),
        Notice::AuthFailed => (535, "5.7.8", "authentication credentials invalid".to_string()),
        Notice::AuthTemporary { detail } => (454, "4.7.0", format!("temporary authentication failure: {}", clean(detail))),
        Notice::InternalError => (451, "4.3.0", "internal error in the relay".to_string()),
    };
    RelayReply {
        code,
        enhanced: enhanced.into(),
        text: clean(&text),
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
    fn each_failure_has_its_enhanced_subject_and_detail() {
        // RFC 3463 §3.5, §3.8 and the RFC 5248 registry: X.7.5 cryptographic failure, X.7.10
        // encryption needed, X.4.3 directory server failure, X.7.0 other security, X.1.10 null
        // MX (RFC 7505 §4.2), X.1.2 / X.1.3 bad address, X.4.4 unable to route, X.4.1 no
        // answer, X.3.0 the MX's system, X.5.0 protocol, X.4.2 the rest.
        for (code, want) in [
            ("certificate-expired", "7.5"),
            ("certificate-host-mismatch", "7.5"),
            ("validation-failure", "7.5"),
            ("tls-handshake-failed", "7.5"),
            ("starttls-not-supported", "7.10"),
            ("starttls-refused", "7.10"),
            ("smtp-data-before-tls", "7.10"),
            ("dns-temporary", "4.3"),
            ("mx-lookup-failed", "4.3"),
            ("mx-address-lookup-failed", "4.3"),
            ("mx-not-in-policy", "7.0"),
            ("mx-null", "1.10"),
            ("domain-not-found", "1.2"),
            ("domain-invalid", "1.2"),
            ("recipient-address-literal", "1.2"),
            ("recipient-no-domain", "1.3"),
            ("mx-unusable", "4.4"),
            ("mx-address-not-found", "4.4"),
            ("mx-address-refused", "4.4"),
            ("mx-address-invalid", "4.4"),
            ("mx-timeout", "4.1"),
            ("delivery-deadline", "4.1"),
            ("smtp-refused", "3.0"),
            ("smtp-protocol-error", "5.0"),
            ("smtp-out-of-step", "5.0"),
            ("smtp-unexpected-reply", "5.0"),
            ("smtp-closed", "4.2"),
            ("certificate", "4.2"),
        ] {
            assert_eq!(enhanced_for(code), want, "{code}");
        }
    }

    #[test]
    fn shown_domains_are_the_lower_cased_domain_part_or_none() {
        assert_eq!(shown_domain("User@Example.COM"), "example.com");
        assert_eq!(shown_domain("a@b@Example.org"), "example.org", "the last @");
        assert_eq!(shown_domain("postmaster"), "(none)");
        assert_eq!(shown_domain("user@"), "(none)");
        assert_eq!(shown_domain("u@exa\r\nmple.com"), "exa  mple.com");
        let long = format!("u@{}", "a".repeat(300));
        assert_eq!(shown_domain(&long), "a".repeat(255), "bounded");
    }

    #[test]
    fn only_a_well_formed_enhanced_code_is_taken_off_a_mirrored_line() {
        // RFC 3463 §2: class.subject.detail, class 2, 4 or 5, subject and detail 1-3 digits.
        let r = |lines: &[&str]| crate::smtp::Reply {
            code: 550,
            lines: lines.iter().map(|l| l.to_string()).collect(),
        };
        assert_eq!(
            mirror_reply(&r(&["5.7.1"]), "mx").text,
            "[mx]",
            "a code alone"
        );
        assert_eq!(
            mirror_reply(&r(&["5.7.1 denied"]), "mx").text,
            "denied [mx]"
        );
        assert_eq!(mirror_reply(&r(&["5.123.456 x"]), "mx").text, "x [mx]");
        for kept in [
            "5.1 short",
            "9.1.1 bad class",
            "5.x.1 letters",
            "5.1234.1 long",
            "5.1.1.1 four",
            "5..1 empty",
        ] {
            assert_eq!(mirror_reply(&r(&[kept]), "mx").text, format!("{kept} [mx]"));
        }
        assert_eq!(mirror_reply(&r(&["9.9.9"]), "mx").text, "9.9.9 [mx]");
    }

    #[test]
    fn reply_text_is_one_line_of_at_most_400_bytes_cut_on_a_character() {
        // RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets with its code; the text is
        // kept to 400 bytes (and "...") so an MX's long or multi-line text never breaks it.
        let a400 = "a".repeat(400);
        assert_eq!(clean(&a400), a400, "exactly 400: kept");
        assert_eq!(clean(&"a".repeat(401)), format!("{a400}..."));
        // "é" is two bytes: starting at byte 399 it straddles the cut, so it goes whole.
        let straddle = format!("{}é", "a".repeat(399));
        assert_eq!(clean(&straddle), format!("{}...", "a".repeat(399)));
        let four = format!("{}\u{1f600}b", "a".repeat(398));
        assert_eq!(clean(&four), format!("{}...", "a".repeat(398)));
        let ends_at = format!("{}éb", "a".repeat(398));
        assert_eq!(
            clean(&ends_at),
            format!("{}é...", "a".repeat(398)),
            "a character ending at 400 stays"
        );
        assert_eq!(clean("one\r\ntwo\tthree\0"), "one  two three ");
    }

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
    fn recipients_the_relay_cannot_route_are_refused_for_good() {
        for (address, code, enhanced) in [
            ("postmaster", "recipient-no-domain", "5.1.3"),
            ("u@[127.0.0.1]", "recipient-address-literal", "5.1.2"),
            ("u@[IPv6:::1]", "recipient-address-literal", "5.1.2"),
            ("u@exa mple.com", "domain-invalid", "5.1.2"),
            ("u@", "domain-invalid", "5.1.2"),
        ] {
            let e = recipient_domain(address).unwrap_err();
            assert_eq!(e.code(), code, "{address}");
            let r = failure_reply(&shown_domain(address), None, None, &e);
            assert_eq!(
                (r.code, r.enhanced.as_str()),
                (550, enhanced),
                "{address}: {}",
                r.text
            );
            assert!(r.text.contains(code));
        }
        assert_eq!(recipient_domain("U@Example.COM.").unwrap(), "example.com");
        assert_eq!(
            recipient_domain("\"a@b\"@example.com").unwrap(),
            "example.com"
        );
    }

    #[test]
    fn recipients_of_another_domain_are_refused() {
        // (address, domain of the connection, expected code or "" for allowed)
        let cases = [
            ("bob@Example.COM", "example.com", "", "case-insensitive"),
            ("bob@example.com.", "EXAMPLE.com", "", "trailing dot"),
            (
                "bob@bücher.example",
                "xn--bcher-kva.example",
                "",
                "U-label vs A-label",
            ),
            (
                "bob@example.net",
                "example.com",
                "recipient-other-domain",
                "another domain",
            ),
            (
                "bob@sub.example.com",
                "example.com",
                "recipient-other-domain",
                "a subdomain is another domain",
            ),
            (
                "bob@[192.0.2.1]",
                "example.com",
                "recipient-address-literal",
                "a literal",
            ),
            (
                "postmaster",
                "example.com",
                "recipient-no-domain",
                "no domain",
            ),
        ];
        for (address, domain, code, why) in cases {
            let got = check_recipient_domain(address, domain)
                .err()
                .map(|e| e.code());
            assert_eq!(got.unwrap_or(""), code, "{why}");
        }
    }

    #[test]
    fn mirrored_replies_keep_the_mx_words_and_name_it() {
        let r = |code, lines: &[&str]| crate::smtp::Reply {
            code,
            lines: lines.iter().map(|l| l.to_string()).collect(),
        };
        let m = mirror_reply(
            &r(550, &["5.1.1 no such user", "5.1.1 really"]),
            "mx1.example.com",
        );
        assert_eq!(
            (m.code, m.enhanced.as_str(), m.text.as_str()),
            (550, "5.1.1", "no such user / really [mx1.example.com]")
        );
        let m = mirror_reply(&r(421, &["4.3.2 shutting down"]), "mx");
        assert_eq!(
            (m.code, m.enhanced.as_str()),
            (451, "4.3.2"),
            "421 is the MX's channel, not ours"
        );
        let m = mirror_reply(&r(451, &["try later"]), "mx");
        assert_eq!(
            (m.enhanced.as_str(), m.text.as_str()),
            ("4.0.0", "try later [mx]"),
            "no enhanced code: X.0.0"
        );
        let m = mirror_reply(&r(550, &["4.1.1 wrong class"]), "mx");
        assert_eq!(
            m.enhanced, "5.0.0",
            "an enhanced code of another class is not taken"
        );
        let m = mirror_reply(&r(554, &["bad\u{7}\r\n250 ok"]), "mx");
        assert!(
            !m.text.contains('\n') && !m.text.contains('\u{7}'),
            "no control characters"
        );
        assert_eq!(notice_reply(&Notice::AlreadyDelivered).code, 250);
        assert_eq!(
            notice_reply(&Notice::TooBig { limit: 10 }).enhanced,
            "5.3.4"
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
