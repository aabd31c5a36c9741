//! The delivery state machine against a scripted world: MX records, addresses, and per-address
//! servers that behave well or badly (RFC 8461 §4, §5; RFC 5321 §5.1; RFC 3207). The clock is
//! moved by the harness, so limits and deadlines are exact and instant.

use mtasts::delivery::{
    AddressAnswer, Delivery, Failure, Limits, MxAnswer, MxRecord, Options, Ready, Step,
};
use mtasts::{parse_policy, CertificateError};
use std::collections::HashMap;

#[derive(Clone, Copy)]
enum Tls {
    Ok,
    BadCert,
    Fails,
}

#[derive(Clone)]
enum Server {
    /// TCP connect refused.
    Refuse,
    /// Accepts TCP and never says anything.
    Silent,
    Smtp(Smtp),
}

/// What an SMTP server answers: greeting, EHLO, STARTTLS, and how its TLS goes.
#[derive(Clone, Copy)]
struct Smtp {
    greeting: &'static [u8],
    ehlo: &'static [u8],
    starttls: &'static [u8],
    tls: Tls,
}

const SMTP: Smtp = Smtp {
    greeting: b"220 mx ESMTP\r\n",
    ehlo: b"250-mx\r\n250 STARTTLS\r\n",
    starttls: b"220 go\r\n",
    tls: Tls::Ok,
};
const GOOD: Server = Server::Smtp(SMTP);
const BAD_CERT: Server = Server::Smtp(Smtp {
    tls: Tls::BadCert,
    ..SMTP
});
const TLS_FAILS: Server = Server::Smtp(Smtp {
    tls: Tls::Fails,
    ..SMTP
});
const REFUSES_STARTTLS: Server = Server::Smtp(Smtp {
    starttls: b"454 4.7.0 TLS not available\r\n",
    ..SMTP
});
const NO_STARTTLS: Server = Server::Smtp(Smtp {
    ehlo: b"250-mx\r\n250 SIZE 1000\r\n",
    ..SMTP
});
const GOES_AWAY: Server = Server::Smtp(Smtp {
    greeting: b"554 5.3.2 no service\r\n",
    ..SMTP
});
const BUSY: Server = Server::Smtp(Smtp {
    greeting: b"220 mx\r\n",
    ehlo: b"421 4.3.2 busy\r\n",
    ..SMTP
});

struct World {
    mx: MxAnswer,
    hosts: HashMap<String, AddressAnswer>,
    servers: HashMap<String, Server>,
}

struct Run {
    /// Ready or Done; `Err(None)` for a probe's end.
    outcome: Result<Ready, Option<Failure>>,
    quits: usize,
    dialled: Vec<String>,
    elapsed_ms: u64,
    delivery: Delivery,
}

fn policy(mode: &str) -> Option<(mtasts::Policy, Option<String>)> {
    let p = parse_policy(&format!(
        "version: STSv1\nmode: {mode}\nmx: *.example.com\nmax_age: 86400\n"
    ))
    .unwrap();
    Some((p, Some("2024".into())))
}

fn options(limits: Limits) -> Options {
    Options {
        helo_name: "relay.example.org".into(),
        port: 25,
        require_tls: false,
        limits,
    }
}

fn run(world: &World, policy: Option<(mtasts::Policy, Option<String>)>, limits: Limits) -> Run {
    drive(
        world,
        Delivery::new("example.com", policy, options(limits)).unwrap(),
    )
}

fn drive(world: &World, mut d: Delivery) -> Run {
    let mut quits = 0;
    let mut now = 1_000_000u64;
    let start = now;
    let mut dialled = Vec::new();
    let mut pending: Vec<&'static [u8]> = Vec::new();
    let mut server: Option<Server> = None;
    for _ in 0..10_000 {
        match d.poll(now) {
            Step::ResolveMx { name } => {
                assert_eq!(name, "example.com");
                d.on_mx(world.mx.clone());
            }
            Step::ResolveAddresses { host } => {
                let answer = world
                    .hosts
                    .get(&host)
                    .cloned()
                    .unwrap_or(AddressAnswer::NxDomain);
                d.on_addresses(answer);
            }
            Step::Connect {
                address,
                timeout_ms,
                ..
            } => {
                dialled.push(address.clone());
                let s = world
                    .servers
                    .get(&address)
                    .cloned()
                    .unwrap_or(Server::Refuse);
                pending.clear();
                match &s {
                    Server::Refuse => {
                        now += 1;
                        d.on_connect_failed("ECONNREFUSED");
                        continue;
                    }
                    Server::Silent => {}
                    Server::Smtp(smtp) => pending.push(smtp.greeting),
                }
                assert!(timeout_ms > 0);
                server = Some(s);
                d.on_connected(None);
            }
            Step::Send(bytes) => {
                let line = String::from_utf8(bytes).unwrap();
                if let Some(Server::Smtp(Smtp { ehlo, starttls, .. })) = &server {
                    if line.starts_with("EHLO ") {
                        pending.push(ehlo);
                    } else if line == "STARTTLS\r\n" {
                        pending.push(starttls);
                    } else if line.starts_with("HELO ") {
                        pending.push(b"250 mx\r\n");
                    } else if line == "QUIT\r\n" {
                        quits += 1;
                        pending.push(b"221 bye\r\n");
                    }
                }
                assert!(
                    !line.starts_with("MAIL"),
                    "the machine never sends mail commands"
                );
            }
            Step::Read { timeout_ms } => {
                if pending.is_empty() {
                    now += timeout_ms;
                    d.on_timeout();
                } else {
                    now += 5;
                    d.on_data(pending.remove(0));
                }
            }
            Step::StartTls { server_name, .. } => {
                assert!(
                    server_name.ends_with("example.com") || server_name.ends_with("example.net")
                );
                now += 10;
                match &server {
                    Some(Server::Smtp(Smtp { tls: Tls::Ok, .. })) => {
                        d.on_tls_verified(Ok(()), "TLSv1.3")
                    }
                    Some(Server::Smtp(Smtp {
                        tls: Tls::BadCert, ..
                    })) => d.on_tls_verified(
                        Err(CertificateError::Expired {
                            detail: "notAfter".into(),
                        }
                        .into()),
                        "TLSv1.3",
                    ),
                    _ => d.on_tls_failed("alert handshake failure"),
                }
            }
            Step::Close => server = None,
            Step::Ready(r) => {
                return Run {
                    outcome: Ok(r),
                    quits,
                    dialled,
                    elapsed_ms: now - start,
                    delivery: d,
                }
            }
            Step::Done(f) => {
                return Run {
                    outcome: Err(Some(f)),
                    quits,
                    dialled,
                    elapsed_ms: now - start,
                    delivery: d,
                }
            }
            Step::Probed => {
                return Run {
                    outcome: Err(None),
                    quits,
                    dialled,
                    elapsed_ms: now - start,
                    delivery: d,
                }
            }
        }
    }
    panic!("the delivery did not finish");
}

fn mx(hosts: &[(&str, u16)]) -> MxAnswer {
    MxAnswer::Records(
        hosts
            .iter()
            .map(|(h, p)| MxRecord {
                exchange: h.to_string(),
                priority: *p,
            })
            .collect(),
    )
}

/// A world where mxN.example.com has address 192.0.2.N served by `servers[N-1]`.
fn world(servers: &[Server]) -> World {
    let mut w = World {
        mx: MxAnswer::NoRecords,
        hosts: HashMap::new(),
        servers: HashMap::new(),
    };
    let mut records = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        let host = format!("mx{}.example.com", i + 1);
        let address = format!("192.0.2.{}", i + 1);
        w.hosts.insert(
            host.clone(),
            AddressAnswer::Addresses(vec![address.clone()]),
        );
        w.servers.insert(address, s.clone());
        records.push(MxRecord {
            exchange: host,
            priority: 10 + i as u16,
        });
    }
    w.mx = MxAnswer::Records(records);
    w
}

fn results(run: &Run) -> Vec<String> {
    run.delivery
        .attempts()
        .iter()
        .map(|a| a.result.clone())
        .collect()
}

/// (code, reply code, enhanced code); for "every MX failed", the code of the last failure, which
/// is what the reply names.
fn failure(run: &Run) -> (&str, u16, &str) {
    let f = run
        .outcome
        .as_ref()
        .expect_err("expected no delivery")
        .as_ref()
        .expect("a failure");
    let mut code = f.error.code_str();
    if code == "delivery-failed" {
        code = run
            .delivery
            .attempts()
            .last()
            .map_or(code, |a| a.result.as_str());
        assert!(
            f.reply.text.contains(code),
            "the reply names the last failure: {}",
            f.reply.text
        );
    }
    (code, f.reply.code, f.reply.enhanced.as_str())
}

#[test]
fn enforce_delivers_only_over_verified_tls() {
    let r = run(
        &world(&[BAD_CERT, GOOD]),
        policy("enforce"),
        Limits::default(),
    );
    let ready = r.outcome.as_ref().unwrap();
    assert_eq!(
        (ready.mx.host.as_str(), ready.trace.result),
        ("mx2.example.com", "verified")
    );
    assert_eq!(results(&r), ["certificate-expired", "success"]);
    assert_eq!(
        ready.trace.policy_id.as_deref(),
        Some("2024"),
        "the policy id reaches the trace header"
    );
    let r = run(
        &world(&[TLS_FAILS, REFUSES_STARTTLS, NO_STARTTLS]),
        policy("enforce"),
        Limits {
            max_sessions: 5,
            ..Limits::default()
        },
    );
    assert_eq!(
        failure(&r),
        ("starttls-not-supported", 451, "4.7.10"),
        "enforce never falls back to plaintext"
    );
    assert_eq!(r.dialled.len(), 3);
    assert_eq!(
        results(&r),
        [
            "tls-handshake-failed",
            "starttls-refused",
            "starttls-not-supported"
        ]
    );
}

#[test]
fn testing_and_no_policy_retry_in_plaintext_when_tls_fails() {
    for (policy, why) in [
        (policy("testing"), "testing"),
        (None, "no policy"),
        (policy("none"), "mode none"),
    ] {
        let r = run(
            &world(&[TLS_FAILS, REFUSES_STARTTLS]),
            policy,
            Limits::default(),
        );
        let ready = r
            .outcome
            .as_ref()
            .unwrap_or_else(|f| panic!("{why}: {f:?}"));
        assert_eq!(
            ready.verdict,
            mtasts::delivery::Verdict::DeliverPlaintext,
            "{why}"
        );
        assert_eq!(ready.trace.result, "plaintext", "{why}");
        assert_eq!(
            ready.mx.host, "mx1.example.com",
            "{why}: the retry starts at the most preferred MX"
        );
        let a = r.delivery.attempts();
        assert_eq!(
            results(&r),
            [
                "tls-handshake-failed",
                "starttls-refused",
                "plaintext-fallback"
            ],
            "{why}"
        );
        assert!(
            a[2].fallback && a[2].tlsrpt.is_none(),
            "{why}: the retry is no TLS session to report"
        );
        assert_eq!(a[0].tlsrpt.as_deref(), Some("validation-failure"));
        assert_eq!(a[1].tlsrpt.as_deref(), Some("starttls-not-supported"));
    }
    // Testing delivers over an invalid certificate without any retry (reported).
    let r = run(&world(&[BAD_CERT]), policy("testing"), Limits::default());
    assert_eq!(r.outcome.as_ref().unwrap().trace.result, "unverified");
    assert_eq!(
        r.delivery.attempts()[0].tlsrpt.as_deref(),
        Some("certificate-expired")
    );
}

#[test]
fn testing_mx_outside_the_policy_with_a_valid_certificate_is_verified() {
    let mut w = world(&[GOOD]);
    w.mx = mx(&[("mx.example.net", 10)]);
    w.hosts.insert(
        "mx.example.net".into(),
        AddressAnswer::Addresses(vec!["192.0.2.1".into()]),
    );
    let r = run(&w, policy("testing"), Limits::default());
    assert_eq!(r.outcome.as_ref().unwrap().trace.result, "verified");
    assert_eq!(
        results(&r),
        ["mx-not-in-policy"],
        "reported for TLS-RPT all the same"
    );
    let r = run(&w, policy("enforce"), Limits::default());
    assert_eq!(failure(&r), ("mx-not-in-policy", 451, "4.7.0"));
}

#[test]
fn permanent_failures_are_5xx_with_their_enhanced_code() {
    let mut w = world(&[GOOD]);
    w.mx = MxAnswer::NxDomain;
    assert_eq!(
        failure(&run(&w, None, Limits::default())),
        ("domain-not-found", 550, "5.1.2")
    );
    assert_eq!(
        failure(&run(&w, policy("enforce"), Limits::default())),
        ("domain-not-found", 550, "5.1.2"),
        "NXDOMAIN even with a cached policy"
    );
    w.mx = MxAnswer::NoRecords; // implicit MX: the domain itself, which has no address
    assert_eq!(
        failure(&run(&w, None, Limits::default())),
        ("domain-not-found", 550, "5.1.2")
    );
    w.mx = mx(&[("not a host", 10), ("..", 20)]);
    assert_eq!(
        failure(&run(&w, None, Limits::default())),
        ("mx-unusable", 550, "5.4.4")
    );
    w.mx = mx(&[(".", 0)]);
    assert_eq!(
        failure(&run(&w, None, Limits::default())),
        ("mx-null", 550, "5.1.10")
    );
    let r = run(&world(&[GOES_AWAY, GOES_AWAY]), None, Limits::default());
    assert_eq!(
        failure(&r),
        ("smtp-refused", 550, "5.3.0"),
        "every MX refused for good"
    );
    let r = run(
        &world(&[GOES_AWAY, GOES_AWAY]),
        policy("enforce"),
        Limits::default(),
    );
    assert_eq!(failure(&r).1, 451, "enforce: never final");
    w.mx = MxAnswer::Temporary("ETIMEOUT".into());
    assert_eq!(
        failure(&run(&w, None, Limits::default())),
        ("mx-lookup-failed", 451, "4.4.3")
    );
    for f in [
        failure(&run(&w, None, Limits::default())),
        failure(&run(&world(&[Server::Refuse]), None, Limits::default())),
    ] {
        assert_eq!(f.1, 451);
    }
    let r = run(&world(&[GOOD]), None, Limits::default());
    assert!(r.outcome.is_ok());
    let text = &failure(&run(&world(&[Server::Refuse]), None, Limits::default()))
        .2
        .to_string();
    assert!(!text.is_empty(), "never an empty reason");
}

#[test]
fn forty_silent_mx_hosts_cost_at_most_the_address_limit_and_the_deadline() {
    let r = run(&world(&vec![Server::Silent; 40]), None, Limits::default());
    assert!(r.dialled.len() <= 5, "smtp_mx_address_limit");
    assert!(
        r.elapsed_ms <= Limits::default().deadline_ms,
        "{} ms",
        r.elapsed_ms
    );
    let (code, reply, _) = failure(&r);
    assert_eq!(
        (code, reply),
        ("delivery-deadline", 451),
        "the deadline came first (4 x 60 s)"
    );
    let r = run(
        &world(&vec![Server::Silent; 40]),
        None,
        Limits {
            reply_ms: 10_000,
            ..Limits::default()
        },
    );
    assert_eq!(r.dialled.len(), 5, "smtp_mx_address_limit");
    assert_eq!(failure(&r), ("mx-timeout", 451, "4.4.1"));
    // Greeting servers that refuse for now count as sessions: two, then stop.
    let r = run(&world(&vec![BUSY; 40]), None, Limits::default());
    assert_eq!(r.dialled.len(), 2, "smtp_mx_session_limit");
    assert_eq!(failure(&r).1, 451, "hosts left untried: never final");
    // One overall deadline: 3 silent hosts at 60 s a greeting, 100 s for everything.
    let limits = Limits {
        deadline_ms: 100_000,
        ..Limits::default()
    };
    let r = run(&world(&vec![Server::Silent; 3]), None, limits);
    assert_eq!(failure(&r).0, "delivery-deadline");
    assert!(r.elapsed_ms <= 100_000 + 1, "{} ms", r.elapsed_ms);
    assert_eq!(r.dialled.len(), 2);
}

#[test]
fn a_probe_tries_every_address_says_quit_and_never_mail() {
    let mut w = world(&[GOOD]);
    w.hosts.insert(
        "mx1.example.com".into(),
        AddressAnswer::Addresses(vec![
            "192.0.2.1".into(),
            "192.0.2.2".into(),
            "192.0.2.3".into(),
            "192.0.2.4".into(),
        ]),
    );
    w.servers.insert("192.0.2.2".into(), BAD_CERT);
    w.servers.insert("192.0.2.3".into(), NO_STARTTLS);
    w.servers.insert("192.0.2.4".into(), TLS_FAILS);
    w.hosts.insert(
        "mx.example.net".into(),
        AddressAnswer::Addresses(vec!["192.0.2.1".into()]),
    );
    let probe = |policy, host: &str| {
        drive(
            &w,
            Delivery::probe("example.com", policy, host, options(Limits::default())).unwrap(),
        )
    };
    let r = probe(policy("enforce"), "mx1.example.com");
    assert!(matches!(r.outcome, Err(None)), "a probe ends with Probed");
    assert_eq!(
        results(&r),
        [
            "success",
            "certificate-expired",
            "starttls-not-supported",
            "tls-handshake-failed"
        ]
    );
    assert_eq!(
        r.quits, 3,
        "QUIT after each dialogue that got that far (not after a failed handshake)"
    );
    let a = r.delivery.attempts();
    assert_eq!(
        (a[0].starttls, a[2].starttls, a[3].starttls),
        (Some(true), Some(false), Some(true))
    );
    assert_eq!(
        a[1].certificate.as_ref().map(|c| (c.ok, c.code.as_deref())),
        Some((false, Some("certificate-expired")))
    );
    assert_eq!(a[1].verdict, mtasts::delivery::Verdict::TryNext);
    assert_eq!(a[1].rfc, Some("RFC 8461 §4.2"));
    // Under testing the same host is delivered to despite the certificate; no plaintext retry in a probe.
    let r = probe(policy("testing"), "mx1.example.com");
    let v: Vec<_> = r
        .delivery
        .attempts()
        .iter()
        .map(|a| a.verdict.clone())
        .collect();
    use mtasts::delivery::Verdict::*;
    assert_eq!(v, [Deliver, Deliver, DeliverPlaintext, TryNext]);
    // Under enforce a host outside the policy is probed for the person looking, and excluded.
    let r = probe(policy("enforce"), "mx.example.net");
    assert_eq!(r.delivery.attempts()[0].verdict, Excluded);
    assert_eq!(r.delivery.attempts()[0].result, "success", "what it showed");
}

#[test]
fn hostile_dialogues_fail_the_attempt_not_the_process() {
    const ENDLESS: Server = Server::Smtp(Smtp {
        greeting: b"220 mx\r\n",
        ehlo: b"250-x\r\n250-x\r\n250-x\r\n250-x\r\n",
        ..SMTP
    });
    const GARBAGE: Server = Server::Smtp(Smtp {
        greeting: b"\x16\x03\x01\x00garbage\r\n",
        ..SMTP
    });
    const INJECT: Server = Server::Smtp(Smtp {
        starttls: b"220 go\r\n250 injected\r\n",
        ..SMTP
    });
    let r = run(
        &world(&[GARBAGE, INJECT, ENDLESS, GOOD]),
        policy("enforce"),
        Limits {
            max_sessions: 9,
            ..Limits::default()
        },
    );
    assert_eq!(
        results(&r),
        [
            "smtp-protocol-error",
            "smtp-data-before-tls",
            "mx-timeout",
            "success"
        ]
    );
}

/// The shared delivery vectors (tests/vectors/delivery.json), also run through the package by
/// tests/js/delivery-vectors.test.mjs with the same harness rules: one verdict everywhere.
mod vectors {
    use mtasts::delivery::{AddressAnswer, Delivery, Limits, MxAnswer, MxRecord, Options, Step};
    use mtasts::TrustAnchors;
    use serde_json::Value;

    /// 2028-01-01T00:00:00Z, when the tests/pki certificates are valid.
    const START_MS: u64 = 1_830_297_600_000;

    fn der(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/pki/{name}.der",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn text<'a>(server: &'a Value, key: &str, default: &'a str) -> &'a str {
        server.get(key).and_then(Value::as_str).unwrap_or(default)
    }

    fn run(case: &Value) -> (String, Vec<String>, usize) {
        let policy = case["policy"].as_object().map(|p| {
            let mx: Vec<String> = p["mx"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| format!("mx: {}\n", m.as_str().unwrap()))
                .collect();
            let text = format!(
                "version: STSv1\nmode: {}\n{}max_age: 86400\n",
                p["mode"].as_str().unwrap(),
                mx.concat()
            );
            (
                mtasts::parse_policy(&text).unwrap(),
                Some("vector1".to_string()),
            )
        });
        let l = &case["limits"];
        let d = Limits::default();
        let limits = Limits {
            reply_ms: l["replyMs"].as_u64().unwrap_or(d.reply_ms),
            deadline_ms: l["deadlineMs"].as_u64().unwrap_or(d.deadline_ms),
            ..d
        };
        let options = Options {
            helo_name: "relay.example.org".into(),
            port: 25,
            require_tls: false,
            limits,
        };
        let mut anchors = TrustAnchors::new();
        anchors.add_der(&der("ca-rsa"));
        anchors.add_der(&der("ca-ec"));
        let mut m = Delivery::new("example.test", policy, options).unwrap();
        let mut now = START_MS;
        let mut dialled = 0;
        let mut server = Value::Null;
        let mut pending: Vec<String> = Vec::new();
        for _ in 0..10_000 {
            match m.poll(now) {
                Step::ResolveMx { .. } => match &case["mx"] {
                    Value::Array(list) => m.on_mx(MxAnswer::Records(
                        list.iter()
                            .map(|r| MxRecord {
                                exchange: r[0].as_str().unwrap().into(),
                                priority: r[1].as_u64().unwrap() as u16,
                            })
                            .collect(),
                    )),
                    Value::String(k) if k == "nxdomain" => m.on_mx(MxAnswer::NxDomain),
                    Value::String(k) if k == "nodata" => m.on_mx(MxAnswer::NoRecords),
                    _ => m.on_mx(MxAnswer::Temporary("ETIMEOUT".into())),
                },
                Step::ResolveAddresses { host } => match &case["hosts"][&host] {
                    Value::Array(list) => m.on_addresses(AddressAnswer::Addresses(
                        list.iter().map(|a| a.as_str().unwrap().into()).collect(),
                    )),
                    Value::String(k) if k == "nodata" => {
                        m.on_addresses(AddressAnswer::NoAddresses("ENODATA".into()))
                    }
                    Value::String(k) if k == "temporary" => {
                        m.on_addresses(AddressAnswer::Temporary("ETIMEOUT".into()))
                    }
                    _ => m.on_addresses(AddressAnswer::NxDomain),
                },
                Step::Connect { address, .. } => {
                    dialled += 1;
                    server = case["servers"][&address].clone();
                    pending.clear();
                    match &server {
                        Value::Object(_) => {
                            pending.push(text(&server, "greeting", "220 mx ESMTP\r\n").into());
                            m.on_connected(None);
                        }
                        Value::String(s) if s == "silent" => m.on_connected(None),
                        _ => {
                            now += 1;
                            m.on_connect_failed("ECONNREFUSED");
                        }
                    }
                }
                Step::Send(bytes) => {
                    let line = String::from_utf8(bytes).unwrap();
                    if server.is_object() {
                        if line.starts_with("EHLO ") {
                            pending
                                .push(text(&server, "ehlo", "250-mx\r\n250 STARTTLS\r\n").into());
                        } else if line == "STARTTLS\r\n" {
                            pending.push(text(&server, "starttls", "220 go\r\n").into());
                        } else if line.starts_with("HELO ") {
                            pending.push("250 mx\r\n".into());
                        }
                    }
                }
                Step::Read { timeout_ms } => {
                    if pending.is_empty() {
                        now += timeout_ms;
                        m.on_timeout();
                    } else {
                        now += 5;
                        m.on_data(pending.remove(0).as_bytes());
                    }
                }
                Step::StartTls { .. } => {
                    now += 10;
                    if server["tls"].as_str() == Some("fails") {
                        m.on_tls_failed("alert handshake failure");
                    } else {
                        let names = server["tls"]["chain"]
                            .as_array()
                            .cloned()
                            .unwrap_or_else(|| vec![Value::from("mx-rsa")]);
                        let chain: Vec<Vec<u8>> =
                            names.iter().map(|n| der(n.as_str().unwrap())).collect();
                        m.on_tls(&chain, &anchors, None, "TLSv1.3", None);
                    }
                }
                Step::Close => server = Value::Null,
                Step::Ready(r) => {
                    let verdict = serde_json::to_value(&r.verdict).unwrap();
                    let got = format!(
                        "ready {} {} {}",
                        r.mx.host,
                        verdict.as_str().unwrap(),
                        r.trace.result
                    );
                    return (
                        got,
                        m.attempts().iter().map(|a| a.result.clone()).collect(),
                        dialled,
                    );
                }
                Step::Done(f) => {
                    let got = format!(
                        "done {} {} {}",
                        f.error.code(),
                        f.reply.code,
                        f.reply.enhanced
                    );
                    return (
                        got,
                        m.attempts().iter().map(|a| a.result.clone()).collect(),
                        dialled,
                    );
                }
                Step::Probed => panic!("{}: a delivery never ends as a probe", case["name"]),
            }
        }
        panic!("{}: the delivery did not finish", case["name"]);
    }

    #[test]
    fn delivery_vectors() {
        let path = format!("{}/tests/vectors/delivery.json", env!("CARGO_MANIFEST_DIR"));
        let cases: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(cases.len() >= 15);
        for case in &cases {
            let name = case["name"].as_str().unwrap();
            let e = &case["expect"];
            let want = if let Some(r) = e.get("ready") {
                format!(
                    "ready {} {} {}",
                    r["mx"].as_str().unwrap(),
                    r["verdict"].as_str().unwrap(),
                    r["trace"].as_str().unwrap()
                )
            } else {
                let d = &e["done"];
                format!(
                    "done {} {} {}",
                    d["code"].as_str().unwrap(),
                    d["reply"][0],
                    d["reply"][1].as_str().unwrap()
                )
            };
            let (got, attempts, dialled) = run(case);
            assert_eq!(got, want, "{name}");
            let want_attempts: Vec<String> = e["attempts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect();
            assert_eq!(attempts, want_attempts, "{name}");
            if let Some(n) = e["dialled"].as_u64() {
                assert_eq!(dialled as u64, n, "{name}");
            }
        }
    }
}

#[test]
fn a_clock_at_the_end_of_time_does_not_panic() {
    let mut d = Delivery::new("example.com", None, options(Limits::default())).unwrap();
    assert!(matches!(d.poll(u64::MAX - 1), Step::ResolveMx { .. }));
    d.on_mx(MxAnswer::NoRecords);
    d.on_addresses(AddressAnswer::Addresses(vec!["192.0.2.1".into()]));
    for _ in 0..5 {
        let _ = d.poll(u64::MAX);
    }
}

/// Random hosts: every answer, in any order, at any time, with any bytes. The machine must never
/// panic, and must end (Ready, Done or Probed) within a bounded number of steps.
#[test]
fn random_hosts_never_panic_and_always_finish() {
    let mut seed = 0x5eed_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let chunks: [&[u8]; 10] = [
        b"220 mx\r\n",
        b"250-mx\r\n250 STARTTLS\r\n",
        b"220 go\r\n",
        b"454 no\r\n",
        b"250 mx\r\n",
        b"\xff\xfe\r\n",
        b"2",
        b"50 x\r\n",
        b"",
        b"554 bye\r\n",
    ];
    for round in 0..2000 {
        let policy = match next() % 4 {
            0 => None,
            1 => policy("enforce"),
            2 => policy("testing"),
            _ => policy("none"),
        };
        let limits = Limits {
            deadline_ms: 1 + next() % 500_000,
            reply_ms: 1 + next() % 100_000,
            ..Limits::default()
        };
        let mut d = if round % 5 == 0 {
            Delivery::probe("example.com", policy, "mx1.example.com", options(limits)).unwrap()
        } else {
            Delivery::new("example.com", policy, options(limits)).unwrap()
        };
        let mut now = next() % 1_000_000_000;
        let mut finished = false;
        for _ in 0..5000 {
            now += next() % 50_000;
            match d.poll(now) {
                Step::Ready(_) | Step::Done(_) | Step::Probed => {
                    finished = true;
                    break;
                }
                _ => {}
            }
            // Any input, whatever was asked.
            match next() % 12 {
                0 => d.on_mx(MxAnswer::Records(
                    (0..next() % 4)
                        .map(|i| MxRecord {
                            exchange: format!("mx{i}.example.com"),
                            priority: (next() % 3) as u16,
                        })
                        .collect(),
                )),
                1 => d.on_mx(
                    [
                        MxAnswer::NoRecords,
                        MxAnswer::NxDomain,
                        MxAnswer::Temporary("x".into()),
                    ][(next() % 3) as usize]
                        .clone(),
                ),
                2 => d.on_addresses(AddressAnswer::Addresses(
                    (0..next() % 3).map(|i| format!("192.0.2.{i}")).collect(),
                )),
                3 => d.on_addresses(
                    [
                        AddressAnswer::NxDomain,
                        AddressAnswer::NoAddresses("x".into()),
                        AddressAnswer::Temporary("y".into()),
                    ][(next() % 3) as usize]
                        .clone(),
                ),
                4 => d.on_connected(None),
                5 => d.on_connect_failed("ECONNREFUSED"),
                6 | 7 => d.on_data(chunks[(next() % chunks.len() as u64) as usize]),
                8 => d.on_close(),
                9 => d.on_timeout(),
                10 => d.on_tls_verified(
                    if next() % 2 == 0 {
                        Ok(())
                    } else {
                        Err(CertificateError::NotTrusted {
                            detail: String::new(),
                        }
                        .into())
                    },
                    "TLSv1.3",
                ),
                _ => d.on_tls_failed("alert"),
            }
        }
        assert!(finished, "round {round}: the machine did not finish");
    }
}

/// The facts a TLS-RPT record and the trace header take from the machine (RFC 8460 §4.4:
/// `policy-type` is `sts` for enforce and testing, `no-policy-found` for `none` and no policy).
#[test]
fn the_machine_reports_its_domain_policy_type_id_and_mode() {
    for (mode, policy_type) in [
        ("enforce", "sts"),
        ("testing", "sts"),
        ("none", "no-policy-found"),
    ] {
        let d = Delivery::new("example.com", policy(mode), options(Limits::default())).unwrap();
        assert_eq!(d.domain(), "example.com");
        assert_eq!(d.policy_type(), policy_type, "{mode}");
        assert_eq!(d.policy_id(), Some("2024"), "{mode}");
        assert_eq!(d.mode_str(), Some(mode));
    }
    let d = Delivery::new("Example.NET", None, options(Limits::default())).unwrap();
    assert_eq!(d.policy_type(), "no-policy-found");
    assert_eq!((d.policy_id(), d.mode_str()), (None, None));
    assert_eq!(
        d.domain(),
        "example.net",
        "normalised as every domain is (lower case)"
    );
}

/// Each step's timeout is its own limit or the time left before the delivery's deadline, whichever
/// is less; a machine polled again before its answer came asks for the same thing again.
#[test]
fn timeouts_are_the_step_limit_or_the_time_left_and_a_repeated_poll_repeats_the_request() {
    let limits = Limits {
        deadline_ms: 10_000,
        connect_ms: 3_000,
        reply_ms: 5_000,
        tls_ms: 8_000,
        ..Limits::default()
    };
    let mut d = Delivery::new("example.com", None, options(limits)).unwrap();
    // The deadline counts from the first poll: 1_000 + 10_000.
    for _ in 0..2 {
        assert!(matches!(d.poll(1_000), Step::ResolveMx { name } if name == "example.com"));
    }
    d.on_mx(MxAnswer::NoRecords); // RFC 5321 §5.1: the domain itself is the implicit MX
    for _ in 0..2 {
        assert!(matches!(d.poll(1_000), Step::ResolveAddresses { host } if host == "example.com"));
    }
    d.on_addresses(AddressAnswer::Addresses(vec!["192.0.2.1".into()]));
    for now in [1_000, 8_000] {
        match d.poll(now) {
            Step::Connect {
                address,
                timeout_ms,
                ..
            } => assert_eq!((address.as_str(), timeout_ms), ("192.0.2.1", 3_000)),
            other => panic!("expected Connect, got {other:?}"),
        }
    }
    // Connected at 8_000 (3_000 left, the connect limit too): the greeting may take 5_000 but only
    // 3_000 are left.
    d.on_connected(None);
    assert!(
        matches!(d.poll(8_000), Step::Read { timeout_ms: 3_000 }),
        "greeting read bounded by the deadline"
    );
    d.on_data(b"220 mx.example.com ESMTP\r\n");
    assert!(matches!(d.poll(8_000), Step::Send(_)));
    assert!(matches!(d.poll(8_000), Step::Read { .. }));
    d.on_data(b"250-mx.example.com\r\n250 STARTTLS\r\n");
    assert!(matches!(d.poll(8_000), Step::Send(b) if b == b"STARTTLS\r\n"));
    assert!(matches!(d.poll(8_000), Step::Read { .. }));
    d.on_data(b"220 go ahead\r\n");
    // At 9_000 the handshake may take 8_000, but 2_000 are left; asked again, the same.
    for _ in 0..2 {
        match d.poll(9_000) {
            Step::StartTls {
                server_name,
                timeout_ms,
            } => assert_eq!((server_name.as_str(), timeout_ms), ("example.com", 2_000)),
            other => panic!("expected StartTls, got {other:?}"),
        }
    }
}

#[test]
fn the_session_limit_counts_failed_handshakes_and_judged_sessions() {
    // Two sessions per pass (the default): a third MX is never dialled, however good it is, and
    // the failure stays temporary because a later try may reach it.
    let two = Limits {
        max_sessions: 2,
        ..Limits::default()
    };
    for (first, why) in [
        (TLS_FAILS, "a failed TLS handshake is a session"),
        (BAD_CERT, "a session judged on its certificate is a session"),
        (NO_STARTTLS, "a session without STARTTLS is a session"),
    ] {
        let r = run(
            &world(&[first.clone(), first, GOOD]),
            policy("enforce"),
            two.clone(),
        );
        assert_eq!(r.dialled, ["192.0.2.1", "192.0.2.2"], "{why}");
        assert_eq!(failure(&r).1, 451, "{why}: limits reached with an MX left");
    }
}

#[test]
fn an_address_limit_with_hosts_left_is_never_a_permanent_failure() {
    // mx1 refuses for good (554 greeting); mx2 would take the mail but the address limit is 1.
    let one = Limits {
        max_addresses: 1,
        ..Limits::default()
    };
    let r = run(&world(&[GOES_AWAY, GOOD]), None, one);
    assert_eq!(r.dialled, ["192.0.2.1"]);
    assert_eq!(
        failure(&r).1,
        451,
        "mx2 was not tried: a later try may reach it"
    );
    // The same refusal with nothing left untried is final (RFC 5321 §4.2.1: 5yz).
    let r = run(&world(&[GOES_AWAY]), None, Limits::default());
    assert_eq!(failure(&r).1, 550);
}

#[test]
fn an_mx_host_that_does_not_exist_is_skipped_not_taken_for_the_domain() {
    // RFC 5321 §5.1: NXDOMAIN for an MX host is that host's failure; only for the implicit MX
    // (the domain itself) does it mean the domain does not exist.
    let mut w = world(&[GOOD, GOOD]);
    w.hosts.remove("mx1.example.com"); // the harness answers NXDOMAIN
    let r = run(&w, policy("enforce"), Limits::default());
    assert_eq!(r.outcome.as_ref().unwrap().mx.host, "mx2.example.com");
    let a = &r.delivery.attempts()[0];
    assert_eq!(
        (a.host.as_str(), a.result.as_str(), a.detail.as_deref()),
        ("mx1.example.com", "mx-address-not-found", Some("NXDOMAIN"))
    );
}

#[test]
fn a_refused_starttls_is_retried_in_plaintext_and_recorded_as_offered() {
    // RFC 8461 §5 (testing) with RFC 3207 §4.1: a 454 to STARTTLS on the only MX; the retry
    // in the clear delivers.
    let r = run(
        &world(&[REFUSES_STARTTLS]),
        policy("testing"),
        Limits::default(),
    );
    assert_eq!(
        r.outcome.as_ref().unwrap().verdict,
        mtasts::delivery::Verdict::DeliverPlaintext
    );
    assert_eq!(results(&r), ["starttls-refused", "plaintext-fallback"]);
    let a = r.delivery.attempts();
    assert_eq!(
        a[0].starttls,
        Some(true),
        "the server answered STARTTLS: offered"
    );
    assert_eq!(a[1].starttls, None, "the retry does not ask");
    // Under enforce no retry, and a refused connection has seen no STARTTLS at all.
    let r = run(
        &world(&[REFUSES_STARTTLS]),
        policy("enforce"),
        Limits::default(),
    );
    assert_eq!(results(&r), ["starttls-refused"]);
    let r = run(
        &world(&[Server::Refuse]),
        policy("testing"),
        Limits::default(),
    );
    let a = &r.delivery.attempts()[0];
    assert_eq!((a.result.as_str(), a.starttls), ("mx-connect-failed", None));
    assert_eq!(
        a.detail.as_deref(),
        Some("ECONNREFUSED"),
        "the host's word for it"
    );
    assert!(
        a.message.as_deref().unwrap().contains("192.0.2.1:25"),
        "{:?}",
        a.message
    );
}

#[test]
fn a_refused_ipv6_address_is_named_in_brackets() {
    let mut w = world(&[Server::Refuse]);
    w.hosts.insert(
        "mx1.example.com".into(),
        AddressAnswer::Addresses(vec!["2001:db8::1".into()]),
    );
    let r = run(&w, None, Limits::default());
    let a = &r.delivery.attempts()[0];
    assert!(
        a.message.as_deref().unwrap().contains("[2001:db8::1]:25"),
        "{:?}",
        a.message
    );
}

#[test]
fn a_host_without_addresses_is_told_apart_from_one_without_the_family_allowed() {
    use mtasts::delivery::{AddressRules, Family};
    let rules = AddressRules {
        family: Family::OnlyV4,
        ..AddressRules::permissive()
    };
    for (list, want) in [
        (vec![], "no A or AAAA record"),
        (
            vec!["2001:db8::1".to_string()],
            "no IPv4 address (ipv4-only)",
        ),
    ] {
        let mut w = world(&[GOOD]);
        w.hosts.insert(
            "mx1.example.com".into(),
            AddressAnswer::Addresses(list.clone()),
        );
        let mut d = Delivery::new("example.com", None, options(Limits::default())).unwrap();
        d.set_address_rules(rules.clone());
        let r = drive(&w, d);
        let a = &r.delivery.attempts()[0];
        assert_eq!(
            (a.result.as_str(), a.detail.as_deref()),
            ("mx-address-not-found", Some(want)),
            "{list:?}"
        );
    }
}
