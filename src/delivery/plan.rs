//! Which MX hosts to try, in which order (RFC 8461 §4.1, §5; RFC 5321 §5.1; RFC 7505).

use crate::error::{DeliveryError, Error};
use crate::mx::{normalize_host, MxIndex};
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
        // Spec: an unusable exchange among others (e.g. "." next to real hosts) is skipped.
        if let Ok(h) = normalize_host(&r.exchange) {
            hosts.push((h.to_ascii_lowercase(), r.priority, false));
        }
    }
    if hosts.is_empty() {
        // RFC 5321 §5.1: MX records exist, so the domain itself is not the implicit MX; none of
        // them names a host, and no retry changes that until the DNS does.
        return Err(DeliveryError::NoUsableMx {
            domain,
            found: records.len(),
        }
        .into());
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
    // RFC 8461 §4.1, for every host of the answer at once (hosts are normalised above).
    let index = policy.map(|p| MxIndex::new(&p.mx));
    for (host, priority, implicit) in hosts {
        let matched = index
            .as_ref()
            .and_then(|i| i.first_match(&host))
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
        let t = |enforce, a: &[bool]| DeliveryError::all_failed(enforce, a).is_temporary();
        assert!(t(true, &[false, false]), "enforce: never final");
        assert!(t(false, &[false, true]));
        assert!(!t(false, &[false, false]), "every MX said 5yz");
        assert!(t(false, &[]), "nothing tried is not a verdict");
    }

    #[test]
    fn mx_records_that_name_no_host_are_final() {
        let e = plan("example.com", &[rec("not a host", 10), rec("..", 20)], None).unwrap_err();
        assert_eq!((e.code(), e.is_temporary()), ("mx-unusable", false));
        let p = plan(
            "example.com",
            &[rec(".", 0), rec("mx.example.com", 10)],
            None,
        )
        .unwrap();
        assert_eq!(
            p.candidates.len(),
            1,
            "a null MX among real ones is skipped"
        );
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
}
