//! Policy discovery as a state machine (RFC 8461 §3.3, §5.1, §10.2). It asks the host to resolve
//! the TXT record and to fetch the policy, and decides from the answers and the cache.
//!
//! ```text
//! let mut d = Discovery::new(domain, cached, now, recheck_after)?;
//! loop {
//!     match d.poll() {
//!         Step::ResolveTxt { name }         => d.on_txt(host.resolve_txt(name)),
//!         Step::FetchPolicy { url, .. }     => d.on_policy(host.https_get(url)),
//!         Step::Done { outcome }        => break outcome,
//!     }
//! }
//! ```

use crate::cache::{CacheEntry, Cached};
use crate::error::{DnsError, Error};
use crate::fetch::{judge_fetch, policy_url, FetchAnswer, MAX_POLICY_BYTES};
use crate::policy::Policy;
use crate::record::select_record;
use serde::Serialize;

/// What the host's DNS said for the TXT query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxtAnswer {
    /// The records, each as its list of strings (not yet concatenated).
    Records(Vec<Vec<String>>),
    /// NXDOMAIN or no TXT data: the domain publishes no record.
    NoRecord,
    /// Timeout, SERVFAIL, refused: nothing is known. Never to be taken for `NoRecord`.
    Temporary { detail: String },
}

/// The next thing the host must do. Serialised as `{ step: "resolve-txt", name }`,
/// `{ step: "fetch-policy", url, host, maxBytes }` or `{ step: "done", outcome }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Resolve TXT at `name` and pass the answer to [`Discovery::on_txt`]. A timeout or SERVFAIL
    /// is [`TxtAnswer::Temporary`], not an empty answer.
    ResolveTxt { name: String },
    /// GET `url` over HTTPS, checking the certificate for `host` (§3.3), never following
    /// redirects, reading at most `max_bytes`, and pass the result to [`Discovery::on_policy`].
    #[serde(rename_all = "camelCase")]
    FetchPolicy {
        url: String,
        host: String,
        max_bytes: usize,
    },
    /// Discovery is over.
    Done { outcome: Outcome },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A policy was fetched now and is valid.
    Found,
    /// A cached, unexpired policy applies.
    Cached,
    /// The domain has no usable policy: deliver as without MTA-STS (§5).
    None,
    /// DNS failed temporarily and no policy is cached: nothing is known yet.
    Temperror,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Network,
    Cache,
}

/// What the host must do with its store after discovery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum StoreAction {
    Keep,
    Put { entry: CacheEntry },
    Delete,
}

/// The result of discovery for one domain.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub domain: String,
    pub status: Status,
    pub policy: Option<Policy>,
    pub id: Option<String>,
    pub fetched_at: Option<u64>,
    pub expires_at: Option<u64>,
    pub source: Option<Source>,
    /// Every failure met on the way, each with its code and TLS-RPT result type.
    pub errors: Vec<Error>,
    pub store: StoreAction,
    /// Until when (seconds) this outcome may be reused without asking DNS or the store again:
    /// the policy is live and its TXT check is recent (see [`Cached::is_fresh`]). `None` when the
    /// outcome must not be reused (no policy, or a failure to retry).
    pub fresh_until: Option<u64>,
}

enum State {
    Start,
    AwaitTxt,
    AwaitPolicy { id: String, errors: Vec<Error> },
    Done(Box<Outcome>),
}

pub struct Discovery {
    domain: String,
    cached: Option<Cached>,
    now: u64,
    recheck_after: u64,
    force_fetch: bool,
    state: State,
}

impl TxtAnswer {
    /// Reads the host's report `{ ok: true, records: string[][] }` or
    /// `{ ok: false, kind: "none" | "temporary", detail }`. Anything else is a temporary failure:
    /// a host that cannot say what happened must not make a policy disappear.
    pub fn from_host(report: &serde_json::Value) -> TxtAnswer {
        let detail = || {
            report
                .get("detail")
                .and_then(|d| d.as_str())
                .unwrap_or("unknown DNS failure")
                .to_string()
        };
        if report.get("ok").and_then(|v| v.as_bool()) == Some(true) {
            if let Ok(records) =
                serde_json::from_value::<Vec<Vec<String>>>(report["records"].clone())
            {
                return TxtAnswer::Records(records);
            }
            return TxtAnswer::Temporary {
                detail: "malformed TXT answer from the host".into(),
            };
        }
        match report.get("kind").and_then(|k| k.as_str()) {
            Some("none") => TxtAnswer::NoRecord,
            _ => TxtAnswer::Temporary { detail: detail() },
        }
    }
}

impl Discovery {
    /// `domain` is the policy domain (normalised to lowercase A-labels here); `cached` the stored
    /// entry, if any; `now` seconds since the epoch; `recheck_after` how long a TXT check stays
    /// good (see [`Cached::is_fresh`]).
    pub fn new(
        domain: &str,
        cached: Option<CacheEntry>,
        now: u64,
        recheck_after: u64,
    ) -> Result<Discovery, Error> {
        let domain = crate::domain::normalize_domain(domain)?;
        Ok(Discovery {
            domain,
            cached: cached.and_then(CacheEntry::load),
            now,
            recheck_after,
            force_fetch: false,
            state: State::Start,
        })
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Proactive refresh (§3.3, §10.2): skip the freshness shortcut and fetch the policy even if
    /// the TXT id is unchanged. Failures still keep the cached policy.
    pub fn force_fetch(&mut self) {
        self.force_fetch = true;
    }

    /// The next step. After `Done`, keeps returning the same outcome.
    pub fn poll(&mut self) -> Step {
        match &self.state {
            State::Start => {
                if let Some(c) = self
                    .cached
                    .as_ref()
                    .filter(|c| !self.force_fetch && c.is_fresh(self.now, self.recheck_after))
                {
                    let outcome = self.cached_outcome(c.clone(), Vec::new(), StoreAction::Keep);
                    return self.finish(outcome);
                }
                self.state = State::AwaitTxt;
                // §3.1: the record is at "_mta-sts." prepended to the policy domain.
                Step::ResolveTxt {
                    name: format!("_mta-sts.{}", self.domain),
                }
            }
            State::AwaitTxt => Step::ResolveTxt {
                name: format!("_mta-sts.{}", self.domain),
            },
            State::AwaitPolicy { .. } => {
                let host = format!("mta-sts.{}", self.domain);
                Step::FetchPolicy {
                    url: policy_url(&self.domain),
                    host,
                    max_bytes: MAX_POLICY_BYTES,
                }
            }
            State::Done(outcome) => Step::Done {
                outcome: outcome.as_ref().clone(),
            },
        }
    }

    /// The TXT answer. Ignored unless the last step was `ResolveTxt`.
    pub fn on_txt(&mut self, answer: TxtAnswer) {
        if !matches!(self.state, State::AwaitTxt) {
            return;
        }
        let record = match answer {
            TxtAnswer::Temporary { detail } => {
                let error = Error::from(DnsError::Temporary {
                    name: format!("_mta-sts.{}", self.domain),
                    detail,
                });
                return self.keep_cached_or(Status::Temperror, vec![error]);
            }
            TxtAnswer::NoRecord => None,
            TxtAnswer::Records(records) => match select_record(&records) {
                Ok(r) => r,
                Err(e) => return self.keep_cached_or(Status::None, vec![e]),
            },
        };
        let Some(record) = record else {
            // §3.3 / §10.2: "if no 'live' TXT record is found in DNS, but a valid (non-expired)
            // policy exists in the sender's cache, the sender MUST apply that cached policy."
            return self.keep_cached_or(Status::None, Vec::new());
        };
        if let Some(c) = self.cached.as_ref().filter(|c| c.is_live(self.now)) {
            // §3.3: fetch only when the id changed — or, proactively, before the policy expires.
            if c.entry.id == record.id && !self.force_fetch && !c.refresh_due(self.now, 0.0) {
                let entry = CacheEntry {
                    checked_at: self.now,
                    ..c.entry.clone()
                };
                let outcome =
                    self.cached_outcome(c.clone(), Vec::new(), StoreAction::Put { entry });
                self.finish(outcome);
                return;
            }
        }
        self.state = State::AwaitPolicy {
            id: record.id,
            errors: Vec::new(),
        };
    }

    /// The policy fetch result. Ignored unless the last step was `FetchPolicy`.
    pub fn on_policy(&mut self, answer: FetchAnswer) {
        // Checked before the state is taken: an answer nobody asked for (while a TXT lookup is
        // awaited, or after Done) must leave the machine as it is — it once reset it to Start,
        // so an out-of-order host restarted discovery, and one after Done made it ask again
        // (found by fuzz/checks.rs `discovery`).
        if !matches!(self.state, State::AwaitPolicy { .. }) {
            return;
        }
        let State::AwaitPolicy { id, errors } = std::mem::replace(&mut self.state, State::Start)
        else {
            return;
        };
        match judge_fetch(&answer) {
            Ok(policy) => {
                let entry = CacheEntry::new(&id, &policy, self.now);
                let outcome = Outcome {
                    domain: self.domain.clone(),
                    status: Status::Found,
                    fetched_at: Some(entry.fetched_at),
                    expires_at: Some(entry.expires_at),
                    policy: Some(policy),
                    id: Some(id),
                    source: Some(Source::Network),
                    errors,
                    store: StoreAction::Put { entry },
                    fresh_until: None,
                };
                self.finish(outcome);
            }
            Err(e) => {
                let mut errors = errors;
                errors.push(e);
                // §3.3: "If a valid TXT record is found but no policy can be fetched via HTTPS
                // (for any reason), and there is no valid (non-expired) previously cached
                // policy, senders MUST continue with delivery as though the domain has not
                // implemented MTA-STS." A cached policy is replaced only by a valid one.
                self.keep_cached_or(Status::None, errors);
            }
        }
    }

    fn cached_outcome(&self, c: Cached, errors: Vec<Error>, store: StoreAction) -> Outcome {
        Outcome {
            domain: self.domain.clone(),
            status: Status::Cached,
            id: Some(c.entry.id.clone()),
            fetched_at: Some(c.entry.fetched_at),
            expires_at: Some(c.entry.expires_at),
            policy: Some(c.policy),
            source: Some(Source::Cache),
            errors,
            store,
            fresh_until: None,
        }
    }

    /// §10.2 downgrade defence: while a cached policy is live, failures keep it in force.
    fn keep_cached_or(&mut self, status: Status, errors: Vec<Error>) {
        let outcome = match self.cached.clone().filter(|c| c.is_live(self.now)) {
            Some(c) => self.cached_outcome(c, errors, StoreAction::Keep),
            None => Outcome {
                domain: self.domain.clone(),
                status,
                policy: None,
                id: None,
                fetched_at: None,
                expires_at: None,
                source: None,
                errors,
                // An expired entry is of no more use; a temporary failure deletes nothing.
                store: if self.cached.is_some() && status == Status::None {
                    StoreAction::Delete
                } else {
                    StoreAction::Keep
                },
                fresh_until: None,
            },
        };
        self.finish(outcome);
    }

    fn finish(&mut self, mut outcome: Outcome) -> Step {
        let checked_at = match (&outcome.store, &self.cached) {
            (StoreAction::Put { entry }, _) => Some(entry.checked_at),
            (StoreAction::Keep, Some(c)) => Some(c.entry.checked_at),
            _ => None,
        };
        outcome.fresh_until = match (
            outcome.policy.is_some() && outcome.errors.is_empty(),
            checked_at,
            outcome.expires_at,
        ) {
            (true, Some(checked), Some(expires)) => {
                Some(expires.min(checked.saturating_add(self.recheck_after)))
            }
            _ => None,
        };
        self.state = State::Done(Box::new(outcome.clone()));
        Step::Done { outcome }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn host_txt_reports_keep_temporary_apart_from_no_record() {
        let temp = |d: &str| TxtAnswer::Temporary { detail: d.into() };
        // (the host's report, the answer, why) — RFC 8461 §3.3 / §10.2: only a real NXDOMAIN or
        // NODATA is "no record"; anything the host cannot vouch for is temporary, so that a
        // failing resolver never makes a cached policy disappear.
        let cases = [
            (
                json!({ "ok": true, "records": [["v=STSv1; ", "id=1"]] }),
                TxtAnswer::Records(vec![vec!["v=STSv1; ".into(), "id=1".into()]]),
                "records, strings kept apart",
            ),
            (
                json!({ "ok": true, "records": [] }),
                TxtAnswer::Records(vec![]),
                "no records",
            ),
            (
                json!({ "ok": true, "records": "v=STSv1" }),
                temp("malformed TXT answer from the host"),
                "records not string[][]",
            ),
            (
                json!({ "ok": false, "kind": "none" }),
                TxtAnswer::NoRecord,
                "NXDOMAIN/NODATA",
            ),
            (
                json!({ "ok": false, "kind": "temporary", "detail": "SERVFAIL" }),
                temp("SERVFAIL"),
                "temporary, with the host's detail",
            ),
            (
                json!({ "ok": false, "kind": "NONE" }),
                temp("unknown DNS failure"),
                "an unknown kind is temporary",
            ),
            (
                json!({ "kind": "none" }),
                TxtAnswer::NoRecord,
                "ok absent: read kind",
            ),
            (
                json!({ "ok": "true", "records": [["v=STSv1; id=1"]] }),
                temp("unknown DNS failure"),
                "ok must be the boolean true",
            ),
            (json!(null), temp("unknown DNS failure"), "not an object"),
        ];
        for (report, want, why) in cases {
            assert_eq!(TxtAnswer::from_host(&report), want, "{why}: {report}");
        }
    }
}
