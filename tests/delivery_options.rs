//! The delivery machine's address rules and given MX list (src/delivery/address.rs): special-purpose
//! addresses refused and recorded (RFC 6890), family preference and exclusion, the local address
//! per family, a pre-resolved MX list that skips the lookups, and the server's greeting and EHLO
//! lines handed out with the connection. No TLS: the scripted servers offer no STARTTLS, and no
//! policy applies, so each ends in `deliver-plaintext`.

use mtasts::delivery::{
    AddressAnswer, AddressRules, Delivery, Family, Limits, MxAnswer, MxRecord, Options, Ready, Step,
};
use std::collections::HashMap;

fn options() -> Options {
    Options {
        helo_name: "relay.example.org".into(),
        port: 25,
        require_tls: false,
        limits: Limits::default(),
    }
}

struct Run {
    asked_mx: bool,
    asked_addresses: Vec<String>,
    /// (address, local address) of each connect.
    dialled: Vec<(String, Option<String>)>,
    ready: Option<Ready>,
    code: Option<String>,
}

/// Runs `d` against DNS `hosts` (name → addresses) where every address answers as a plain SMTP
/// server whose only good address is `good` (others refuse the TCP connect).
fn run(d: &mut Delivery, mx: &[(&str, u16)], hosts: &[(&str, &[&str])], good: &str) -> Run {
    let hosts: HashMap<String, Vec<String>> = hosts
        .iter()
        .map(|(h, a)| (h.to_string(), a.iter().map(|s| s.to_string()).collect()))
        .collect();
    let mut r = Run {
        asked_mx: false,
        asked_addresses: vec![],
        dialled: vec![],
        ready: None,
        code: None,
    };
    let mut script: Vec<&[u8]> = Vec::new();
    for _ in 0..100 {
        match d.poll(1) {
            Step::ResolveMx { .. } => {
                r.asked_mx = true;
                d.on_mx(MxAnswer::Records(
                    mx.iter()
                        .map(|(e, p)| MxRecord {
                            exchange: e.to_string(),
                            priority: *p,
                        })
                        .collect(),
                ));
            }
            Step::ResolveAddresses { host } => {
                r.asked_addresses.push(host.clone());
                match hosts.get(&host) {
                    Some(a) => d.on_addresses(AddressAnswer::Addresses(a.clone())),
                    None => d.on_addresses(AddressAnswer::NxDomain),
                }
            }
            Step::Connect {
                address,
                local_address,
                ..
            } => {
                r.dialled.push((address.clone(), local_address));
                if address == good {
                    d.on_connected(Some("192.0.2.99"));
                    script = vec![
                        b"220-mx.example.com ESMTP\r\n220 hello\r\n",
                        b"250-mx.example.com\r\n250 SIZE 1000\r\n",
                    ];
                    script.reverse();
                } else {
                    d.on_connect_failed("ECONNREFUSED");
                }
            }
            Step::Send(_) => {}
            Step::Read { .. } => match script.pop() {
                Some(chunk) => d.on_data(chunk),
                None => d.on_close(),
            },
            Step::StartTls { .. } => panic!("no STARTTLS offered"),
            Step::Close => {}
            Step::Ready(ready) => {
                r.ready = Some(ready);
                return r;
            }
            Step::Done(f) => {
                r.code = Some(f.error.code().to_string());
                return r;
            }
            Step::Probed => return r,
        }
    }
    panic!("the delivery did not end");
}

fn delivery(rules: AddressRules) -> Delivery {
    let mut d = Delivery::new("example.com", None, options()).unwrap();
    d.set_address_rules(rules);
    d
}

#[test]
fn special_purpose_addresses_are_refused_and_recorded() {
    let mx = [("mx1.example.com", 10), ("mx2.example.com", 20)];
    let hosts: &[(&str, &[&str])] = &[
        ("mx1.example.com", &["127.0.0.1", "10.0.0.5"]),
        ("mx2.example.com", &["fe80::1", "8.8.8.8"]),
    ];
    let mut d = delivery(AddressRules::default());
    let r = run(&mut d, &mx, hosts, "8.8.8.8");
    assert_eq!(
        r.dialled,
        [("8.8.8.8".to_string(), None)],
        "only the global address"
    );
    assert!(r.ready.is_some());
    let refused: Vec<(&str, &str)> = d
        .attempts()
        .iter()
        .filter(|a| a.result == "mx-address-refused")
        .map(|a| (a.address.as_deref().unwrap(), a.rfc.unwrap()))
        .collect();
    assert_eq!(
        refused,
        [
            ("127.0.0.1", "RFC 1122 §3.2.1.3"),
            ("10.0.0.5", "RFC 1918 §3"),
            ("fe80::1", "RFC 4291 §2.5.6")
        ]
    );
    let a = &d.attempts()[0];
    assert!(!a.temporary && a.sending_ip.is_none(), "{a:?}");
    assert!(a.message.as_deref().unwrap().contains("loopback"), "{a:?}");

    // Only private addresses: the delivery fails for good, each address said why.
    let only = &[("mx1.example.com", &["127.0.0.1"][..])];
    let r = run(
        &mut delivery(AddressRules::default()),
        &mx[..1],
        only,
        "127.0.0.1",
    );
    assert_eq!(r.code.as_deref(), Some("delivery-failed"));
    assert!(r.dialled.is_empty(), "nothing dialled");
    // The lab's rules: loopback is dialled.
    let r = run(
        &mut delivery(AddressRules::permissive()),
        &mx[..1],
        only,
        "127.0.0.1",
    );
    assert!(r.ready.is_some());
    // A machine given no rules dials what it is given (tests, vectors).
    let mut d = Delivery::new("example.com", None, options()).unwrap();
    assert!(run(&mut d, &mx[..1], only, "127.0.0.1").ready.is_some());
    // A name where an address should be is never dialled, allowed or not.
    let names = &[("mx1.example.com", &["mx.evil.example", "127.0.0.1"][..])];
    let mut d = delivery(AddressRules::permissive());
    let r = run(&mut d, &mx[..1], names, "127.0.0.1");
    assert_eq!(r.dialled.len(), 1);
    assert_eq!(d.attempts()[0].result, "mx-address-invalid");
}

#[test]
fn family_preference_and_exclusion() {
    let mx = [("mx1.example.com", 10)];
    let hosts: &[(&str, &[&str])] = &[("mx1.example.com", &["8.8.8.8", "2a00::1", "8.8.4.4"])];
    let order = |family| {
        let mut d = delivery(AddressRules {
            family,
            ..AddressRules::default()
        });
        run(&mut d, &mx, hosts, "none")
            .dialled
            .into_iter()
            .map(|(a, _)| a)
            .collect::<Vec<_>>()
    };
    assert_eq!(order(Family::Any), ["8.8.8.8", "2a00::1", "8.8.4.4"]);
    assert_eq!(order(Family::PreferV6), ["2a00::1", "8.8.8.8", "8.8.4.4"]);
    assert_eq!(order(Family::OnlyV6), ["2a00::1"]);
    assert_eq!(order(Family::OnlyV4), ["8.8.8.8", "8.8.4.4"]);
    // A host with no address of the family: recorded as such, and nothing is dialled.
    let v6only: &[(&str, &[&str])] = &[("mx1.example.com", &["2a00::1"])];
    let mut d = delivery(AddressRules {
        family: Family::OnlyV4,
        ..AddressRules::default()
    });
    let r = run(&mut d, &mx, v6only, "2a00::1");
    assert!(r.dialled.is_empty());
    let a = &d.attempts()[0];
    assert_eq!(a.result, "mx-address-not-found");
    assert!(a.message.as_deref().unwrap().contains("ipv4-only"), "{a:?}");
}

#[test]
fn local_address_of_the_target_family() {
    let mx = [("mx1.example.com", 10)];
    let hosts: &[(&str, &[&str])] = &[("mx1.example.com", &["2a00::1", "8.8.8.8"])];
    let rules = AddressRules::default()
        .with_local(&["192.0.2.7".to_string()])
        .unwrap();
    let r = run(&mut delivery(rules), &mx, hosts, "8.8.8.8");
    assert_eq!(
        r.dialled,
        [
            ("2a00::1".to_string(), None),
            ("8.8.8.8".to_string(), Some("192.0.2.7".to_string()))
        ],
        "IPv6 unbound, IPv4 from the IPv4 local address"
    );
}

#[test]
fn given_mx_list_skips_the_lookups() {
    let mut d = delivery(AddressRules::default());
    d.give_mx(
        vec![
            MxRecord {
                exchange: "MX2.example.com.".into(),
                priority: 20,
            },
            MxRecord {
                exchange: "mx1.example.com".into(),
                priority: 10,
            },
        ],
        vec![
            Some(vec!["8.8.4.4".into()]),
            Some(vec!["127.0.0.1".into(), "8.8.8.8".into()]),
        ],
    );
    let r = run(&mut d, &[], &[], "8.8.4.4");
    assert!(!r.asked_mx && r.asked_addresses.is_empty(), "no DNS at all");
    let dialled: Vec<&str> = r.dialled.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        dialled,
        ["8.8.8.8", "8.8.4.4"],
        "preference order; given addresses screened"
    );
    assert_eq!(d.attempts()[0].result, "mx-address-refused");
    let ready = r.ready.unwrap();
    assert_eq!(ready.mx.host, "mx2.example.com");

    // Without addresses, the given hosts are looked up.
    let mut d = delivery(AddressRules::default());
    d.give_mx(
        vec![MxRecord {
            exchange: "mx1.example.com".into(),
            priority: 10,
        }],
        vec![None],
    );
    let r = run(&mut d, &[], &[("mx1.example.com", &["8.8.8.8"])], "8.8.8.8");
    assert!(!r.asked_mx);
    assert_eq!(r.asked_addresses, ["mx1.example.com"]);
    assert!(r.ready.is_some());
}

#[test]
fn greeting_and_ehlo_come_with_the_connection() {
    let mx = [("mx1.example.com", 10)];
    let r = run(
        &mut delivery(AddressRules::default()),
        &mx,
        &[("mx1.example.com", &["8.8.8.8"])],
        "8.8.8.8",
    );
    let ready = r.ready.unwrap();
    assert_eq!(ready.greeting, ["mx.example.com ESMTP", "hello"]);
    assert_eq!(ready.ehlo, ["mx.example.com", "SIZE 1000"]);
}
