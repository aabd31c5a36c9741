//! The reply to one `smtp_tls_policy_maps` lookup, from the domain's MTA-STS policy.
//!
//! Postfix's `secure` level checks the MX certificate against the names in `match=`; a name with a
//! leading dot (`.example.com`) matches *any depth* of subdomains, while an MTA-STS wildcard
//! `*.example.com` matches *exactly one* label (RFC 8461 §4.1). Answering `match=.example.com`
//! for `*.example.com` would widen the policy (a certificate for `a.b.example.com` would pass).
//! So a wildcard pattern is answered with the concrete MX host names of the domain that it
//! matches, looked up by the host through the same DNS as everything else. The trade-off: the
//! answer follows the MX set of the moment of the lookup (an MX host added later is not
//! listed until the answer is made again), and a wildcard policy costs one MX lookup.
//!
//! Replies (socketmap_table(5)): `OK <data>`, `NOTFOUND `, `TEMP <reason>`, `TIMEOUT <reason>`,
//! `PERM <reason>`. `NOTFOUND` lets Postfix use its default TLS level, which is what RFC 8461 §5
//! asks for a domain without an active policy.

use crate::delivery::MxRecord;
use crate::error::SocketmapError;
use crate::mx::normalize_host;
use crate::policy::{format_policy, Mode, Policy};
use crate::socketmap::netstring::MAX_REPLY;
use crate::socketmap::request::Skip;
use serde::Serialize;

/// Per-zone options (a zone is selected by the map name of the request).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneOptions {
    /// Answer `testing` policies as `enforce` ones (postfix-mta-sts-resolver's `strict_testing`).
    /// Off by default: RFC 8461 §5 says a `testing` policy must not stop delivery.
    pub strict_testing: bool,
    /// Add the Postfix ≥ 3.10 attributes (`policy_type`, `policy_domain`, `policy_ttl`,
    /// `{ policy_string = ... }`, `mx_host_pattern`) for Postfix's own TLSRPT and
    /// `smtp_tls_enforce_sts_mx_patterns`. Off by default: older Postfix refuses them.
    pub sts_attributes: bool,
}

/// The MX records of the policy domain, as the host's DNS answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MxAnswer {
    Records(Vec<MxRecord>),
    /// NXDOMAIN or no MX records (RFC 5321 §5.1: the domain itself is the MX then).
    NoRecords,
    /// The lookup failed for now; `timeout` when it was not answered in time.
    Temporary {
        detail: String,
        timeout: bool,
    },
}

/// One reply, before framing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Ok(String),
    NotFound,
    Temp(String),
    Timeout(String),
    Perm(String),
}

impl Reply {
    /// The reply as sent inside the netstring.
    pub fn text(&self) -> String {
        match self {
            Reply::Ok(data) => format!("OK {data}"),
            // socketmap_table(5) writes it with the space: "NOTFOUND ".
            Reply::NotFound => "NOTFOUND ".to_string(),
            Reply::Temp(reason) => format!("TEMP {reason}"),
            Reply::Timeout(reason) => format!("TIMEOUT {reason}"),
            Reply::Perm(reason) => format!("PERM {reason}"),
        }
    }

    pub fn class(&self) -> &'static str {
        match self {
            Reply::Ok(_) => "ok",
            Reply::NotFound => "notfound",
            Reply::Temp(_) => "temp",
            Reply::Timeout(_) => "timeout",
            Reply::Perm(_) => "perm",
        }
    }
}

/// The reply and why, for logs and `mtasts query`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub reply: Reply,
    /// One sentence for people.
    pub reason: String,
    /// The names in `match=` (empty unless the reply is `OK`).
    pub matched: Vec<String>,
    /// The mode of the policy that was applied, if any.
    pub mode: Option<Mode>,
}

impl Serialize for Answer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Answer", 5)?;
        st.serialize_field("reply", &self.reply.text())?;
        st.serialize_field("class", self.reply.class())?;
        st.serialize_field("reason", &self.reason)?;
        st.serialize_field("match", &self.matched)?;
        st.serialize_field("mode", &self.mode.map(Mode::as_str))?;
        st.end()
    }
}

/// Postfix `match=` keywords (postconf(5), smtp_tls_secure_cert_match): a policy `mx: hostname`
/// sent as is would mean "whatever host was dialled", and `nexthop` "the recipient domain".
const POSTFIX_MATCH_KEYWORDS: [&str; 3] = ["hostname", "nexthop", "dot-nexthop"];

fn applies(policy: &Policy, zone: &ZoneOptions) -> bool {
    match policy.mode {
        Mode::Enforce => true,
        Mode::Testing => zone.strict_testing,
        Mode::None => false,
    }
}

/// Whether [`answer`] needs the domain's MX records: an applied policy with a wildcard pattern.
pub fn needs_mx(policy: Option<&Policy>, zone: &ZoneOptions) -> bool {
    policy.is_some_and(|p| applies(p, zone) && p.mx.iter().any(|m| m.is_wildcard()))
}

fn not_found(reason: String, mode: Option<Mode>) -> Answer {
    Answer {
        reply: Reply::NotFound,
        reason,
        matched: Vec::new(),
        mode,
    }
}

/// The reply for a key that names no policy domain.
pub fn skip_answer(skip: &Skip) -> Answer {
    let reason = match skip {
        Skip::ParentDomain => {
            "a parent-domain lookup: RFC 8461 §4.1 policies apply to their own domain only".into()
        }
        Skip::AddressLiteral => {
            "an address literal has no domain and so no MTA-STS policy (RFC 8461 §4)".into()
        }
        Skip::NotADomain(why) => format!("the key is not a domain name: {why}"),
    };
    not_found(reason, None)
}

/// The reply to a request that is not `name key`.
pub fn request_error_answer(e: &SocketmapError) -> Answer {
    Answer {
        reply: Reply::Perm(e.to_string()),
        reason: e.to_string(),
        matched: Vec::new(),
        mode: None,
    }
}

/// The reply for `domain` under `policy` (None: no policy applies, whatever the reason).
/// `ttl` is the seconds left before the policy expires; `mx` the MX answer when
/// [`needs_mx`] said so (None otherwise).
pub fn answer(
    domain: &str,
    policy: Option<&Policy>,
    ttl: u64,
    zone: &ZoneOptions,
    mx: Option<&MxAnswer>,
) -> Answer {
    let Some(policy) = policy else {
        return not_found(
            format!(
                "{domain} has no usable MTA-STS policy: deliver as without MTA-STS (RFC 8461 §5)"
            ),
            None,
        );
    };
    let mode = Some(policy.mode);
    match policy.mode {
        Mode::None => {
            return not_found(
                "mode none: as if there were no policy (RFC 8461 §5)".into(),
                mode,
            )
        }
        Mode::Testing if !zone.strict_testing => {
            return not_found(
                "mode testing: delivery must not fail because of the policy (RFC 8461 §5); strict_testing is off".into(),
                mode,
            )
        }
        _ => {}
    }
    let temp = |reason: String| Answer {
        reply: Reply::Temp(reason.clone()),
        reason,
        matched: Vec::new(),
        mode,
    };

    let mut names: Vec<String> = Vec::new();
    let mut keywords = Vec::new();
    for p in policy.mx.iter().filter(|p| !p.is_wildcard()) {
        if POSTFIX_MATCH_KEYWORDS.contains(&p.as_str()) {
            // Spec: sent as is, Postfix would read the keyword, not the name (a wider match).
            keywords.push(p.as_str().to_string());
            continue;
        }
        push(&mut names, p.as_str());
    }
    let wildcards: Vec<_> = policy.mx.iter().filter(|p| p.is_wildcard()).collect();
    if !wildcards.is_empty() {
        match mx {
            None => {
                return temp(format!(
                    "the MX hosts of {domain} were not looked up; the wildcard patterns need them"
                ))
            }
            Some(MxAnswer::Temporary { detail, timeout }) => {
                let reason = format!("the MX lookup of {domain} failed ({detail}); the wildcard patterns of its enforce policy need it");
                return Answer {
                    reply: if *timeout {
                        Reply::Timeout(reason.clone())
                    } else {
                        Reply::Temp(reason.clone())
                    },
                    reason,
                    matched: Vec::new(),
                    mode,
                };
            }
            Some(MxAnswer::NoRecords) => {}
            Some(MxAnswer::Records(records)) => {
                // Stable order: by preference, then name (DNS answers come in any order).
                let mut hosts: Vec<(u16, String)> = records
                    .iter()
                    .filter_map(|r| {
                        normalize_host(&r.exchange)
                            .ok()
                            .map(|h| (r.priority, h.to_ascii_lowercase()))
                    })
                    .collect();
                hosts.sort();
                for (_, host) in &hosts {
                    // RFC 8461 §4.1: "*" matches exactly one label.
                    if wildcards.iter().any(|w| w.matches(host)) {
                        push(&mut names, host);
                    }
                }
            }
        }
    }
    if names.is_empty() {
        // Never "secure match=" with nothing after it. RFC 8461 §5: under enforce, mail is not
        // delivered to MX hosts that do not match; it waits (TEMP defers it) for the policy or
        // the MX set to change.
        let mut reason = format!(
            "no MX host of {domain} matches its {} policy (RFC 8461 §4.1: \"*\" matches exactly one label); mail waits (§5)",
            policy.mode.as_str()
        );
        if !keywords.is_empty() {
            reason.push_str(&format!(
                "; {} left out: Postfix reads it as a match keyword",
                keywords.join(", ")
            ));
        }
        return temp(reason);
    }

    let base = format!("secure match={} servername=hostname", names.join(":"));
    let mut reason = format!(
        "{} policy: the MX certificate must be valid for {} (RFC 8461 §4.2)",
        policy.mode.as_str(),
        names.join(", ")
    );
    if !keywords.is_empty() {
        reason.push_str(&format!(
            "; {} left out: Postfix reads it as a match keyword",
            keywords.join(", ")
        ));
    }
    let mut data = base.clone();
    if zone.sts_attributes {
        match sts_attributes(domain, policy, ttl) {
            Some(attrs) => {
                data.push(' ');
                data.push_str(&attrs);
            }
            None => {
                reason.push_str("; Postfix 3.10 attributes left out: a policy line holds a brace")
            }
        }
    }
    if data.len() + 3 > MAX_REPLY && data.len() != base.len() {
        reason.push_str("; Postfix 3.10 attributes left out: the reply would pass 100000 bytes");
        data = base;
    }
    if data.len() + 3 > MAX_REPLY {
        return temp(format!(
            "the answer for {domain} would pass the 100000-byte socketmap reply limit ({} names)",
            names.len()
        ));
    }
    Answer {
        reply: Reply::Ok(data),
        reason,
        matched: names,
        mode,
    }
}

/// Appends `name` unless it is there already (the first place counts).
fn push(names: &mut Vec<String>, name: &str) {
    if !names.iter().any(|n| n == name) {
        names.push(name.to_string());
    }
}

/// Postfix ≥ 3.10 (postconf(5) smtp_tls_policy_maps): the policy as Postfix reports it in its own
/// TLSRPT and checks with smtp_tls_enforce_sts_mx_patterns. None when a policy line holds a brace,
/// which Postfix's `{ name = value }` syntax cannot carry.
fn sts_attributes(domain: &str, policy: &Policy, ttl: u64) -> Option<String> {
    let text = format_policy(policy);
    let mut out = format!("policy_type=sts policy_domain={domain} policy_ttl={ttl}");
    for line in text.lines() {
        if line.contains('{') || line.contains('}') {
            return None;
        }
        out.push_str(&format!(" {{ policy_string = {line} }}"));
    }
    for p in &policy.mx {
        out.push_str(&format!(" mx_host_pattern={}", p.as_str()));
    }
    Some(out)
}
