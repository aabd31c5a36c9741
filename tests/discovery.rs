//! Discovery and cache semantics with a moved clock (RFC 8461 §3.3, §5.1, §10.2).

use mtasts::discovery::{Source, StoreAction};
use mtasts::{CacheEntry, Discovery, FetchAnswer, FetchFailure, Outcome, Status, Step, TxtAnswer};

const DAY: u64 = 86_400;
const T0: u64 = 1_700_000_000;

fn policy(max_age: u64, mx: &str) -> String {
    format!("version: STSv1\nmode: enforce\nmx: {mx}\nmax_age: {max_age}\n")
}

fn ok(body: &str) -> FetchAnswer {
    FetchAnswer::Response {
        status: 200,
        content_type: Some("text/plain".into()),
        location: None,
        body: body.as_bytes().to_vec(),
    }
}

fn txt(id: &str) -> TxtAnswer {
    TxtAnswer::Records(vec![vec![format!("v=STSv1; id={id}")]])
}

/// Runs discovery with scripted answers; returns the outcome and how many fetches were asked.
fn run(
    cached: Option<CacheEntry>,
    now: u64,
    dns: TxtAnswer,
    http: FetchAnswer,
) -> (Outcome, usize, usize) {
    let mut d = Discovery::new("Example.COM.", cached, now, 300).unwrap();
    let (mut queries, mut fetches) = (0, 0);
    loop {
        match d.poll() {
            Step::ResolveTxt { name } => {
                assert_eq!(name, "_mta-sts.example.com");
                queries += 1;
                d.on_txt(dns.clone());
            }
            Step::FetchPolicy {
                url,
                host,
                max_bytes,
            } => {
                assert_eq!(url, "https://mta-sts.example.com/.well-known/mta-sts.txt");
                assert_eq!(host, "mta-sts.example.com");
                assert_eq!(max_bytes, 65536);
                fetches += 1;
                d.on_policy(http.clone());
            }
            Step::Done { outcome } => return (outcome, queries, fetches),
        }
        assert!(queries + fetches < 10, "discovery must end");
    }
}

fn entry_of(o: &Outcome) -> CacheEntry {
    match &o.store {
        StoreAction::Put { entry } => entry.clone(),
        other => panic!("expected a store put, got {other:?}"),
    }
}

fn codes(o: &Outcome) -> Vec<&'static str> {
    o.errors.iter().map(|e| e.code()).collect()
}

fn fetched(max_age: u64) -> CacheEntry {
    let (o, _, _) = run(None, T0, txt("v1"), ok(&policy(max_age, "mx.example.com")));
    assert_eq!(o.status, Status::Found);
    entry_of(&o)
}

#[test]
fn first_fetch_stores_the_policy() {
    let (o, q, f) = run(None, T0, txt("v1"), ok(&policy(DAY * 7, "mx.example.com")));
    assert_eq!((o.status, q, f), (Status::Found, 1, 1));
    assert_eq!(o.source, Some(Source::Network));
    assert_eq!(o.domain, "example.com");
    assert_eq!((o.fetched_at, o.expires_at), (Some(T0), Some(T0 + 7 * DAY)));
    assert_eq!(entry_of(&o).id, "v1");
    assert_eq!(
        o.fresh_until,
        Some(T0 + 300),
        "reusable until the next TXT check is due"
    );
}

#[test]
fn fresh_cache_needs_no_io_at_all() {
    let (o, q, f) = run(Some(fetched(DAY * 7)), T0 + 10, TxtAnswer::NoRecord, ok(""));
    assert_eq!((o.status, q, f), (Status::Cached, 0, 0));
    assert_eq!(o.store, StoreAction::Keep);
    assert_eq!(o.fresh_until, Some(T0 + 300));
    let (o, _, _) = run(Some(fetched(200)), T0 + 10, TxtAnswer::NoRecord, ok(""));
    assert_eq!(
        o.fresh_until,
        Some(T0 + 200),
        "never past the policy's expiry"
    );
}

#[test]
fn failures_and_no_policy_are_never_reused_without_asking() {
    let (o, _, _) = run(None, T0, TxtAnswer::NoRecord, ok(""));
    assert_eq!(o.fresh_until, None);
    let (o, _, _) = run(
        Some(fetched(DAY)),
        T0 + 3600,
        TxtAnswer::Temporary { detail: "x".into() },
        ok(""),
    );
    assert_eq!(
        (o.status, o.fresh_until),
        (Status::Cached, None),
        "cached applies, but DNS is asked again next time"
    );
}

#[test]
fn id_unchanged_means_no_fetch() {
    let (o, q, f) = run(
        Some(fetched(DAY * 7)),
        T0 + 3600,
        txt("v1"),
        ok("must not be fetched"),
    );
    assert_eq!((o.status, q, f), (Status::Cached, 1, 0));
    assert_eq!(
        entry_of(&o).checked_at,
        T0 + 3600,
        "the check time is recorded"
    );
    assert_eq!(entry_of(&o).fetched_at, T0, "the policy's age is not reset");
}

#[test]
fn id_changed_means_fetch_and_replace() {
    let (o, _, f) = run(
        Some(fetched(DAY * 7)),
        T0 + 3600,
        txt("v2"),
        ok(&policy(DAY, "new.example.com")),
    );
    assert_eq!((o.status, f), (Status::Found, 1));
    assert_eq!(o.policy.as_ref().unwrap().mx[0].as_str(), "new.example.com");
    assert_eq!(entry_of(&o).id, "v2");
}

#[test]
fn id_changed_but_fetch_fails_keeps_the_cached_policy() {
    for bad in [
        FetchAnswer::Failed {
            kind: FetchFailure::Timeout,
            detail: String::new(),
        },
        FetchAnswer::Response {
            status: 404,
            content_type: None,
            location: None,
            body: vec![],
        },
        ok("mode: enforce"),
    ] {
        let (o, _, f) = run(Some(fetched(DAY * 7)), T0 + 3600, txt("v2"), bad);
        assert_eq!((o.status, f), (Status::Cached, 1));
        assert_eq!(
            o.id.as_deref(),
            Some("v1"),
            "only a valid policy replaces the cached one"
        );
        assert_eq!(o.store, StoreAction::Keep);
        assert_eq!(o.errors.len(), 1);
    }
}

#[test]
fn txt_removed_keeps_the_cached_policy_until_expiry() {
    // §10.2 downgrade defence: an attacker who strips the TXT record gains nothing.
    let cached = fetched(DAY * 7);
    let (o, _, _) = run(Some(cached.clone()), T0 + DAY, TxtAnswer::NoRecord, ok(""));
    assert_eq!(o.status, Status::Cached);
    let (o, _, _) = run(
        Some(cached.clone()),
        T0 + 7 * DAY - 1,
        TxtAnswer::NoRecord,
        ok(""),
    );
    assert_eq!(o.status, Status::Cached, "one second before expiry");
    let (o, _, _) = run(Some(cached), T0 + 7 * DAY, TxtAnswer::NoRecord, ok(""));
    assert_eq!(
        (o.status, o.store.clone()),
        (Status::None, StoreAction::Delete),
        "expired: no policy"
    );
}

#[test]
fn dns_failure_is_temporary_not_none() {
    let tmp = TxtAnswer::Temporary {
        detail: "ETIMEOUT".into(),
    };
    let (o, _, f) = run(None, T0, tmp.clone(), ok(""));
    assert_eq!((o.status, f), (Status::Temperror, 0));
    assert_eq!(codes(&o), ["dns-temporary"]);
    assert_eq!(o.errors[0].tlsrpt_result(), "sts-policy-fetch-error");
    let (o, _, _) = run(Some(fetched(DAY)), T0 + 3600, tmp.clone(), ok(""));
    assert_eq!(
        (o.status, codes(&o)),
        (Status::Cached, vec!["dns-temporary"])
    );
    let (o, _, _) = run(Some(fetched(DAY)), T0 + DAY, tmp, ok(""));
    assert_eq!(
        (o.status, o.store.clone()),
        (Status::Temperror, StoreAction::Keep),
        "expired + DNS down: nothing deleted"
    );
}

#[test]
fn expired_cache_and_failing_fetch_is_no_policy_with_the_error() {
    let (o, _, _) = run(
        Some(fetched(DAY)),
        T0 + 2 * DAY,
        txt("v1"),
        FetchAnswer::Failed {
            kind: FetchFailure::Connect,
            detail: "ECONNREFUSED".into(),
        },
    );
    assert_eq!(
        (o.status, codes(&o)),
        (Status::None, vec!["policy-fetch-error"])
    );
    assert!(o.policy.is_none());
}

#[test]
fn proactive_refresh_near_expiry_even_with_the_same_id() {
    let cached = fetched(DAY * 4);
    let (o, _, f) = run(
        Some(cached.clone()),
        T0 + 3 * DAY,
        txt("v1"),
        ok(&policy(DAY * 4, "mx.example.com")),
    );
    assert_eq!(
        (o.status, f),
        (Status::Found, 1),
        "at 75% of max_age the policy is fetched again"
    );
    assert_eq!(o.expires_at, Some(T0 + 7 * DAY));
    let (_, _, f) = run(Some(cached), T0 + 3 * DAY - 1, txt("v1"), ok(""));
    assert_eq!(f, 0, "not before");
}

#[test]
fn forced_refresh_fetches_with_the_same_id_and_keeps_the_cache_on_failure() {
    let cached = fetched(DAY * 7);
    let mut d = Discovery::new("example.com", Some(cached), T0 + 10, 300).unwrap();
    d.force_fetch();
    assert!(
        matches!(d.poll(), Step::ResolveTxt { .. }),
        "no freshness shortcut"
    );
    d.on_txt(txt("v1"));
    assert!(
        matches!(d.poll(), Step::FetchPolicy { .. }),
        "fetched although the id is unchanged"
    );
    d.on_policy(FetchAnswer::Failed {
        kind: FetchFailure::Timeout,
        detail: String::new(),
    });
    let Step::Done { outcome } = d.poll() else {
        panic!("done")
    };
    assert_eq!(
        (outcome.status, outcome.store),
        (Status::Cached, StoreAction::Keep)
    );
}

#[test]
fn no_record_and_record_errors() {
    let (o, _, f) = run(None, T0, TxtAnswer::NoRecord, ok(""));
    assert_eq!((o.status, f, o.errors.len()), (Status::None, 0, 0));
    let two = TxtAnswer::Records(vec![
        vec!["v=STSv1; id=1".into()],
        vec!["v=STSv1; id=2".into()],
    ]);
    let (o, _, _) = run(None, T0, two, ok(""));
    assert_eq!(
        (o.status, codes(&o)),
        (Status::None, vec!["record-multiple"])
    );
    let (o, _, _) = run(None, T0, txt("bad-id!"), ok(""));
    assert_eq!(codes(&o), ["record-invalid"]);
    let (o, _, _) = run(
        None,
        T0,
        TxtAnswer::Records(vec![vec!["v=spf1 -all".into()]]),
        ok(""),
    );
    assert_eq!(
        (o.status, o.errors.len()),
        (Status::None, 0),
        "non-STS TXT records are ignored"
    );
}

#[test]
fn fetch_failures_give_their_codes() {
    let cases = [
        (
            FetchAnswer::Response {
                status: 404,
                content_type: None,
                location: None,
                body: vec![],
            },
            "policy-http-status",
            "sts-policy-fetch-error",
        ),
        (
            FetchAnswer::Response {
                status: 302,
                content_type: None,
                location: Some("https://elsewhere/".into()),
                body: vec![],
            },
            "policy-redirect",
            "sts-policy-fetch-error",
        ),
        (
            FetchAnswer::Response {
                status: 200,
                content_type: Some("text/html".into()),
                location: None,
                body: vec![],
            },
            "policy-content-type",
            "sts-policy-invalid",
        ),
        (
            FetchAnswer::Failed {
                kind: FetchFailure::Certificate,
                detail: "x".into(),
            },
            "policy-webpki-invalid",
            "sts-webpki-invalid",
        ),
        (
            FetchAnswer::Failed {
                kind: FetchFailure::TooLarge,
                detail: "x".into(),
            },
            "policy-too-large",
            "sts-policy-fetch-error",
        ),
        (
            ok("{\"mode\": \"enforce\"}"),
            "policy-invalid",
            "sts-policy-invalid",
        ),
    ];
    for (answer, code, tlsrpt) in cases {
        let (o, _, _) = run(None, T0, txt("v1"), answer);
        assert_eq!((o.status, codes(&o)), (Status::None, vec![code]));
        assert_eq!(o.errors[0].tlsrpt_result(), tlsrpt, "{code}");
    }
}

#[test]
fn bad_domains_are_refused() {
    for d in ["", "a..b", "exa mple.com", "-x.example"] {
        let e = Discovery::new(d, None, T0, 0).err().expect(d);
        assert_eq!(e.code(), "domain-invalid");
    }
    assert_eq!(
        Discovery::new("Bücher.example", None, T0, 0)
            .unwrap()
            .domain(),
        "xn--bcher-kva.example"
    );
}

/// An answer nobody asked for changes nothing: a fetch result while the TXT lookup is awaited,
/// and any answer after Done (a fuzz find: on_policy reset the machine to its start).
#[test]
fn answers_out_of_turn_are_ignored() {
    let mut d = Discovery::new("example.com", None, T0, 300).unwrap();
    assert!(matches!(d.poll(), Step::ResolveTxt { .. }));
    d.on_policy(ok(&policy(DAY, "mx.example.com")));
    d.on_policy(FetchAnswer::Failed {
        kind: FetchFailure::Timeout,
        detail: String::new(),
    });
    // Still waiting for the TXT answer, which is taken.
    assert!(matches!(d.poll(), Step::ResolveTxt { .. }));
    d.on_txt(txt("id1"));
    assert!(matches!(d.poll(), Step::FetchPolicy { .. }));
    d.on_txt(TxtAnswer::NoRecord); // not asked now: ignored
    d.on_policy(ok(&policy(DAY, "mx.example.com")));
    let Step::Done { outcome } = d.poll() else {
        panic!("not done")
    };
    assert_eq!(outcome.status, Status::Found);
    // After Done, nothing brings it back to asking.
    d.on_policy(ok(&policy(DAY, "other.example.com")));
    d.on_txt(txt("id2"));
    for _ in 0..3 {
        let Step::Done { outcome: again } = d.poll() else {
            panic!("a step after Done")
        };
        assert_eq!(again, outcome);
    }
}
