//! The policy cache entry and its clock rules (RFC 8461 §3.3, §5.1, §10.2).
//!
//! The host stores entries (memory, file, Redis) and passes them back; the core decides what an
//! entry is still good for at a given `now`. Entries hold the policy as canonical text, parsed
//! again when read, so a damaged or edited store can never inject an invalid policy.

use crate::policy::{format_policy, parse_policy, Policy};
use serde::{Deserialize, Serialize};

/// A cached policy as stored. Times are seconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheEntry {
    /// The TXT record `id` the policy was fetched under.
    pub id: String,
    /// The policy in canonical form ([`format_policy`]).
    pub policy_text: String,
    pub fetched_at: u64,
    /// `fetched_at + max_age` (§3.2 max_age: "max lifetime of the policy").
    pub expires_at: u64,
    /// When the TXT record was last seen with this id.
    pub checked_at: u64,
}

/// A cache entry that parsed: the policy and its times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cached {
    pub policy: Policy,
    pub entry: CacheEntry,
}

impl CacheEntry {
    pub fn new(id: &str, policy: &Policy, now: u64) -> CacheEntry {
        CacheEntry {
            id: id.to_string(),
            policy_text: format_policy(policy),
            fetched_at: now,
            expires_at: now.saturating_add(u64::from(policy.max_age)),
            checked_at: now,
        }
    }

    /// Reads an entry back: `None` when its policy no longer parses. The expiry is never later
    /// than `fetched_at + max_age`, whatever the store says.
    pub fn load(self) -> Option<Cached> {
        let policy = parse_policy(&self.policy_text).ok()?;
        let limit = self.fetched_at.saturating_add(u64::from(policy.max_age));
        let entry = CacheEntry {
            expires_at: self.expires_at.min(limit),
            ..self
        };
        Some(Cached { policy, entry })
    }
}

impl Cached {
    /// §3.3/§5.1: a policy applies until `max_age` after it was fetched.
    pub fn is_live(&self, now: u64) -> bool {
        now < self.entry.expires_at
    }

    /// Fresh enough to use without asking DNS: live and the TXT record was checked less than
    /// `recheck_after` seconds ago.
    /// Spec: RFC 8461 leaves the TXT check frequency to the sender; checking on every delivery
    /// costs a DNS round trip per message, so the interval is the host's setting (0 = always).
    pub fn is_fresh(&self, now: u64, recheck_after: u64) -> bool {
        self.is_live(now) && now.saturating_sub(self.entry.checked_at) < recheck_after
    }

    /// §3.3 / §10.2: senders should refresh cached policies before they expire, so that a policy
    /// never lapses while mail flows. Due from 75% of the lifetime, earlier by up to 12.5% of it
    /// with `jitter` in [0, 1) (supplied by the host, which owns randomness) to spread refreshes.
    pub fn refresh_due(&self, now: u64, jitter: f64) -> bool {
        let lifetime = self.entry.expires_at.saturating_sub(self.entry.fetched_at);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let early = lifetime / 4 + (lifetime as f64 / 8.0 * jitter) as u64;
        now >= self.entry.expires_at.saturating_sub(early)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(max_age: u32, fetched_at: u64) -> Cached {
        let policy = parse_policy(&format!(
            "version: STSv1\nmode: enforce\nmx: mx.example\nmax_age: {max_age}\n"
        ))
        .unwrap();
        CacheEntry::new("id1", &policy, fetched_at).load().unwrap()
    }

    #[test]
    fn lifetime_boundaries() {
        let c = cached(86400, 1000);
        assert!(c.is_live(1000));
        assert!(c.is_live(1000 + 86399), "one second before max_age");
        assert!(
            !c.is_live(1000 + 86400),
            "expires exactly at fetched_at + max_age"
        );
        assert!(!cached(0, 1000).is_live(1000), "max_age 0 is never live");
    }

    #[test]
    fn freshness_and_refresh() {
        let c = cached(86400, 0);
        assert!(c.is_fresh(10, 300));
        assert!(!c.is_fresh(300, 300), "recheck after the interval");
        assert!(!c.is_fresh(10, 0), "0 means always check");
        assert!(!c.refresh_due(64799, 0.0));
        assert!(c.refresh_due(64800, 0.0), "75% of the lifetime");
        assert!(
            c.refresh_due(54000, 1.0),
            "jitter makes it up to 12.5% earlier"
        );
        assert!(!c.refresh_due(53999, 1.0));
        assert!(!c.refresh_due(64799, f64::NAN), "bad jitter is ignored");
    }

    #[test]
    fn tampered_entries() {
        let mut e = cached(86400, 0).entry;
        e.expires_at = u64::MAX;
        assert_eq!(
            e.clone().load().unwrap().entry.expires_at,
            86400,
            "expiry clamped to max_age"
        );
        e.policy_text = "mode: enforce".into();
        assert!(e.load().is_none(), "an invalid stored policy is no policy");
    }
}
