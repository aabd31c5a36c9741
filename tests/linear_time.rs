//! "No input takes more than linear time" (issue 14), made checkable without a clock: each case
//! builds an adversarial input of `units` repetitions of something a hostile peer controls (long
//! runs of separators, many lines, mx entries, records, netstrings, JSON members, a long label)
//! for one parser or state machine the fuzz targets cover, and runs it once.
//!
//! - `cargo test --test linear_time` (no variables set): every case, at 1 and 2 units of its base
//!   size, ends as it is built to end (so the measure exercises what it names: 4096 distinct
//!   extensions are read as 4096 extensions, not refused at the ninth byte).
//! - `LINEAR_CASE=<name> LINEAR_UNITS=<n>`: builds that case's input, runs it once inside
//!   [`measured`] and prints `<bytes> <outcome>`. `fuzz/linear-time.sh` runs this under
//!   `valgrind --tool=callgrind`, counting instructions inside [`measured`] only (building the
//!   input is not counted), and compares the instructions per input byte across sizes.
//!   `LINEAR_CASE=list` prints `<name> <base>` per case.
//!
//! Instruction counts are the same on every run whatever else the machine does, so the check
//! holds on a shared, noisy machine where a timed assertion would not.

use mtasts::delivery::{AddressAnswer, Delivery, Limits, MxAnswer, MxRecord, Options, Step};
use mtasts::discovery::{Discovery, Status, Step as DStep, TxtAnswer};
use mtasts::smtp::{Command, ReplyReader, SmtpClient, StartTls, Step as SStep};
use mtasts::socketmap::NetstringDecoder;
use mtasts::tlsrpt::record::parse_tlsrpt_record;
use mtasts::tlsrpt::report::read_report;
use mtasts::{
    lint_policy, lint_record, match_mx, parse_policy, parse_record, select_record, FetchAnswer,
    MxPattern,
};

/// A built input: its size in bytes and the run that reads it, giving a short outcome.
struct Built {
    bytes: usize,
    run: Box<dyn FnMut() -> String>,
}

fn built(bytes: usize, run: impl FnMut() -> String + 'static) -> Built {
    Built {
        bytes,
        run: Box::new(run),
    }
}

struct Case {
    name: &'static str,
    /// Units at the smallest measured size (the script measures 1, 4, 16 and 64 times this).
    base: usize,
    build: fn(usize) -> Built,
    /// The outcome of a run on `units` units: what the input was built to make the code do.
    expect: fn(usize) -> String,
}

/// Runs one parse; callgrind counts the instructions from entry to return (`--toggle-collect`).
#[inline(never)]
fn measured(run: &mut dyn FnMut() -> String) -> String {
    run()
}

fn code<T>(r: Result<T, mtasts::Error>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.code().into(),
    }
}

/// `n` distinct non-ASCII characters (U+0100 on: below the surrogates for any `n` used here).
fn distinct_non_ascii(n: usize) -> String {
    (0..n as u32)
        .map(|i| char::from_u32(0x100 + i).unwrap_or('é'))
        .collect()
}

const POLICY_HEAD: &str = "version: STSv1\nmode: testing\nmax_age: 86400\n";

fn mx_lines(units: usize) -> String {
    (0..units)
        .map(|i| format!("mx: mx{i}.example.com\n"))
        .collect()
}

/// The delivery options of every delivery case: default limits, no TLS requirement.
fn options() -> Options {
    Options {
        helo_name: "relay.example.org".into(),
        port: 25,
        require_tls: false,
        limits: Limits::default(),
    }
}

const NOW_MS: u64 = 1_830_297_600_000;

/// A delivery to example.com under a testing policy for `*.example.com`, polled to its first
/// Connect (one MX, one address).
fn connected_delivery() -> Delivery {
    let policy = parse_policy(&format!("{POLICY_HEAD}mx: *.example.com\n")).unwrap();
    let mut d = Delivery::new("example.com", Some((policy, Some("1".into()))), options()).unwrap();
    assert!(matches!(d.poll(NOW_MS), Step::ResolveMx { .. }));
    d.on_mx(MxAnswer::Records(vec![MxRecord {
        exchange: "mx1.example.com".into(),
        priority: 10,
    }]));
    assert!(matches!(d.poll(NOW_MS), Step::ResolveAddresses { .. }));
    d.on_addresses(AddressAnswer::Addresses(vec!["192.0.2.1".into()]));
    assert!(matches!(d.poll(NOW_MS), Step::Connect { .. }));
    d.on_connected(Some("198.51.100.1"));
    d
}

fn step_name(s: &Step) -> String {
    match s {
        Step::ResolveMx { .. } => "resolve-mx".into(),
        Step::ResolveAddresses { host } => format!("resolve-addresses {host}"),
        Step::Connect { address, .. } => format!("connect {address}"),
        Step::Send(b) => format!("send {}", String::from_utf8_lossy(b).trim_end()),
        Step::Read { .. } => "read".into(),
        Step::StartTls { server_name, .. } => format!("starttls {server_name}"),
        Step::Close => "close".into(),
        Step::Ready(_) => "ready".into(),
        Step::Done(f) => format!("done {}", f.error.code()),
        Step::Probed => "probed".into(),
    }
}

const CASES: &[Case] = &[
    // RFC 8461 §3.1 TXT record: many distinct extensions (each checked against those before).
    Case {
        name: "record-extensions",
        base: 64,
        build: |u| {
            let text: String = std::iter::once("v=STSv1; id=1".to_string())
                .chain((0..u).map(|i| format!("; x{i}=v")))
                .collect();
            built(text.len(), move || match parse_record(&text) {
                Ok(r) => format!("ok {}", r.extensions.len()),
                Err(e) => e.code().into(),
            })
        },
        expect: |u| format!("ok {u}"),
    },
    // A run of ";": every empty field is a problem with a column (lint).
    Case {
        name: "record-separators",
        base: 256,
        build: |u| {
            let text = format!("v=STSv1; id=1{}", ";".repeat(u + 1));
            built(text.len(), move || {
                let lint = lint_record(&text, None);
                let last = lint.diagnostics.last().map_or("", |d| d.code);
                format!("{} {}", code(parse_record(&text)), last)
            })
        },
        // More than 200 problems for every size measured: the list ends with the truncation note.
        expect: |u| {
            let last = if u > 200 {
                "lint-truncated"
            } else {
                "record-separator"
            };
            format!("record-invalid {last}")
        },
    },
    // §3.1 selection: many records, each of many strings, one of them MTA-STS.
    Case {
        name: "record-select",
        base: 64,
        build: |u| {
            let mut records: Vec<Vec<String>> = (0..u)
                .map(|i| (0..8).map(|j| format!("v=spf1 a{i}.{j} ")).collect())
                .collect();
            records.insert(
                u / 2,
                "v=STSv1; id=20261202".chars().map(String::from).collect(),
            );
            let bytes = records.iter().flatten().map(String::len).sum();
            built(bytes, move || match select_record(&records) {
                Ok(Some(r)) => format!("id {}", r.id),
                other => format!("{other:?}"),
            })
        },
        expect: |_| "id 20261202".into(),
    },
    // RFC 8461 §3.2 policy: many mx lines.
    Case {
        name: "policy-mx",
        base: 64,
        build: |u| {
            let text = format!("{POLICY_HEAD}{}", mx_lines(u));
            built(text.len(), move || match parse_policy(&text) {
                Ok(p) => format!("ok {}", p.mx.len()),
                Err(e) => e.code().into(),
            })
        },
        expect: |u| format!("ok {u}"),
    },
    // Lint of many lines that each have problems: repeated mx (hashed), unknown keys, trailing
    // whitespace, blank lines; far past the 200-diagnostic cap.
    Case {
        name: "policy-lint",
        base: 64,
        build: |u| {
            let body: String = (0..u)
                .map(|i| format!("mx: MX{i}.example.com\nmx: mx{i}.example.com \nMode{i}: x\n\n"))
                .collect();
            let text = format!("{POLICY_HEAD}{body}");
            built(text.len(), move || {
                let lint = lint_policy(&text);
                let mx = lint.policy.map_or(0, |p| p.mx.len());
                format!(
                    "mx {mx}, last {}",
                    lint.diagnostics.last().map_or("", |d| d.code)
                )
            })
        },
        expect: |u| format!("mx {}, last lint-truncated", 2 * u),
    },
    // Many extension keys (hashed once there are more than 16).
    Case {
        name: "policy-extensions",
        base: 64,
        build: |u| {
            let body: String = (0..u).map(|i| format!("ext{i}: value {i}\n")).collect();
            let text = format!("{POLICY_HEAD}mx: mx.example.com\n{body}");
            built(text.len(), move || match parse_policy(&text) {
                Ok(p) => format!("ok {}", p.extensions.len()),
                Err(e) => e.code().into(),
            })
        },
        expect: |u| format!("ok {u}"),
    },
    // An mx value that is one long U-label (§3.2 wants A-labels; the message offers the A-label).
    Case {
        name: "policy-mx-idn",
        base: 64,
        build: |u| {
            let text = format!("{POLICY_HEAD}mx: {}.example\n", distinct_non_ascii(u));
            built(text.len(), move || code(parse_policy(&text)))
        },
        expect: |_| "policy-invalid".into(),
    },
    // RFC 8461 §4.1 matching: a host of many labels.
    Case {
        name: "mx-host-labels",
        base: 256,
        build: |u| {
            let patterns = vec![MxPattern::parse("*.example.com").unwrap()];
            let host = format!("{}example.com.", "a.".repeat(u));
            built(host.len(), move || match match_mx(&patterns, &host) {
                Ok(m) => format!("match {}", m.is_some()),
                Err(e) => mtasts::Error::from(e).code().into(),
            })
        },
        expect: |_| "match false".into(),
    },
    // Host normalisation: one long U-label, converted to its A-label before matching.
    Case {
        name: "mx-host-idn",
        base: 64,
        build: |u| {
            let patterns = vec![MxPattern::parse("*.example.com").unwrap()];
            let host = format!("{}.example.com", distinct_non_ascii(u));
            built(host.len(), move || {
                code(match_mx(&patterns, &host).map_err(mtasts::Error::from))
            })
        },
        expect: |_| "mx-host-invalid".into(),
    },
    // RFC 8460 §3 TLS-RPT record: many distinct extensions.
    Case {
        name: "tlsrpt-record-extensions",
        base: 64,
        build: |u| {
            let text: String = std::iter::once("v=TLSRPTv1; rua=mailto:r@example.com".to_string())
                .chain((0..u).map(|i| format!("; x{i}=v")))
                .collect();
            built(text.len(), move || match parse_tlsrpt_record(&text) {
                Ok(r) => format!("ok {}", r.extensions.len()),
                Err(e) => e.code().into(),
            })
        },
        expect: |u| format!("ok {u}"),
    },
    // A rua list of many URIs (each checked against those before for repeats).
    Case {
        name: "tlsrpt-record-rua",
        base: 64,
        build: |u| {
            let list: Vec<String> = (0..u).map(|i| format!("mailto:r{i}@example.com")).collect();
            let text = format!("v=TLSRPTv1; rua={}", list.join(","));
            built(text.len(), move || match parse_tlsrpt_record(&text) {
                Ok(r) => format!("ok {}", r.rua.len()),
                Err(e) => e.code().into(),
            })
        },
        expect: |u| format!("ok {u}"),
    },
    // RFC 8460 §4.4 report reader: many policies, each with failure details.
    Case {
        name: "tlsrpt-report-policies",
        base: 16,
        build: |u| {
            let policy = |i: usize| {
                format!(
                    r#"{{"policy":{{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce"],"policy-domain":"d{i}.example","mx-host":["*.d{i}.example"]}},"summary":{{"total-successful-session-count":{i},"total-failure-session-count":3}},"failure-details":[{{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.1","receiving-mx-hostname":"mx.d{i}.example","failed-session-count":1}},{{"result-type":"validation-failure","sending-mta-ip":"192.0.2.2","failed-session-count":2}}]}}"#
                )
            };
            let policies: Vec<String> = (0..u).map(policy).collect();
            let text = format!(
                r#"{{"organization-name":"Example","date-range":{{"start-datetime":"2026-12-01T00:00:00Z","end-datetime":"2026-12-01T23:59:59Z"}},"contact-info":"mailto:r@example.org","report-id":"r1","policies":[{}]}}"#,
                policies.join(",")
            );
            built(text.len(), move || match read_report(&text) {
                Ok(s) => format!("ok {} problems {}", s.policies.len(), s.problems.len()),
                Err(e) => e.code().into(),
            })
        },
        expect: |u| format!("ok {u} problems 0"),
    },
    // Deeply nested JSON (30 levels, the limit is 32), many times, and long escaped strings.
    Case {
        name: "tlsrpt-report-nested",
        base: 16,
        build: |u| {
            let deep = format!("{}{}", "[".repeat(28), "]".repeat(28));
            let nested = vec![deep; u].join(",");
            let long = "\\u00e9\\n".repeat(u * 8);
            let text = format!(
                r#"{{"organization-name":"{long}","date-range":{{"start-datetime":"2026-12-01T00:00:00Z","end-datetime":"2026-12-01T23:59:59Z"}},"contact-info":"mailto:r@example.org","report-id":"r1","x-extension":[{nested}],"policies":[]}}"#
            );
            built(text.len(), move || match read_report(&text) {
                Ok(s) => format!("ok {} chars", s.organization.chars().count()),
                Err(e) => e.code().into(),
            })
        },
        expect: |u| format!("ok {} chars", u * 16),
    },
    // RFC 5321 §4.2 reply reader: one multi-line reply of `u` long lines in one read, up to the
    // 256-line limit (the largest size measured is exactly the limit).
    Case {
        name: "smtp-reply-lines",
        base: 4,
        build: |u| {
            let line = "x".repeat(1000);
            let text: String = (0..u)
                .map(|i| format!("250{}{line}\r\n", if i + 1 == u { ' ' } else { '-' }))
                .collect();
            built(text.len(), move || {
                let mut r = ReplyReader::default();
                r.push(text.as_bytes());
                match r.next_reply() {
                    Ok(Some(reply)) => format!("{} x{}", reply.code, reply.lines.len()),
                    other => format!("{other:?}"),
                }
            })
        },
        expect: |u| format!("250 x{u}"),
    },
    // One reply line trickled a byte per read, up to the 4096-byte line limit.
    Case {
        name: "smtp-reply-trickle",
        base: 60,
        build: |u| {
            let text = format!("220 {}\r\n", "x".repeat(u));
            built(text.len(), move || {
                let mut r = ReplyReader::default();
                let mut out = String::from("none");
                for b in text.as_bytes() {
                    r.push(std::slice::from_ref(b));
                    match r.next_reply() {
                        Ok(None) => {}
                        Ok(Some(reply)) => out = format!("{} {}", reply.code, reply.text().len()),
                        Err(e) => out = e.0,
                    }
                }
                out
            })
        },
        expect: |u| format!("220 {u}"),
    },
    // Many replies in one read (a pipelining peer), taken one by one.
    Case {
        name: "smtp-reply-pipelined",
        base: 64,
        build: |u| {
            let text = "250 2.1.5 ok\r\n".repeat(u);
            built(text.len(), move || {
                let mut r = ReplyReader::default();
                r.push(text.as_bytes());
                let mut n = 0;
                while let Ok(Some(_)) = r.next_reply() {
                    n += 1;
                }
                format!("{n} replies")
            })
        },
        expect: |u| format!("{u} replies"),
    },
    // The dialogue up to STARTTLS: an EHLO answer of `u` keyword lines (up to 256), in 7-byte
    // reads.
    Case {
        name: "smtp-starttls-ehlo",
        base: 4,
        build: |u| {
            let ehlo: String = (0..u)
                .map(|i| {
                    let sep = if i + 1 == u { ' ' } else { '-' };
                    let word = if i + 1 == u {
                        "STARTTLS".into()
                    } else {
                        format!("X-EXT{i} a b c")
                    };
                    format!("250{sep}{word}\r\n")
                })
                .collect();
            let server = [
                b"220 mx.example.com ESMTP\r\n".to_vec(),
                ehlo.into_bytes(),
                b"220 go\r\n".to_vec(),
            ];
            let bytes = server.iter().map(Vec::len).sum();
            built(bytes, move || {
                let mut c = StartTls::new("relay.example.org").unwrap();
                let mut chunks = server.iter().flat_map(|s| s.chunks(7));
                loop {
                    match c.poll() {
                        SStep::Send(_) => {}
                        SStep::Read => match chunks.next() {
                            Some(chunk) => c.on_data(chunk),
                            None => c.on_close(),
                        },
                        SStep::StartTls { extensions } => {
                            break format!("starttls {}", extensions.len())
                        }
                        other => break format!("{other:?}"),
                    }
                }
            })
        },
        expect: |u| format!("starttls {}", u.saturating_sub(1).max(1)),
    },
    // The client's transaction: `u` RCPT commands, each answer trickled a byte per read.
    Case {
        name: "smtp-client-rcpts",
        base: 64,
        build: |u| {
            let answer = b"250 2.1.5 recipient ok\r\n";
            built(u * answer.len(), move || {
                let mut c = SmtpClient::new();
                let mut accepted = 0;
                for i in 0..u {
                    c.command(Command::Rcpt, &format!("<u{i}@example.com>"))
                        .unwrap();
                    for b in answer {
                        if let Ok(Some(_)) = c.on_data(std::slice::from_ref(b)) {
                            accepted += 1;
                        }
                    }
                }
                format!("{accepted} accepted")
            })
        },
        expect: |u| format!("{u} accepted"),
    },
    // socketmap_table(5) netstrings: many tiny requests in one read.
    Case {
        name: "socketmap-tiny",
        base: 256,
        build: |u| {
            let text = "1:a,".repeat(u);
            built(text.len(), move || {
                let mut d = NetstringDecoder::new(2048);
                let feed = d.feed(text.as_bytes());
                format!(
                    "{} requests, error {:?}",
                    feed.requests.len(),
                    feed.error.map(|e| e.code())
                )
            })
        },
        expect: |u| format!("{u} requests, error None"),
    },
    // One long request trickled a byte per read (under a limit raised to let it through).
    Case {
        name: "socketmap-trickle",
        base: 256,
        build: |u| {
            let text = format!(
                "{}:{},",
                u + 16,
                "postfix example.com"
                    .repeat(u + 16)
                    .get(..u + 16)
                    .unwrap_or("")
            );
            built(text.len(), move || {
                let mut d = NetstringDecoder::new(1 << 20);
                let mut got = Vec::new();
                for b in text.as_bytes() {
                    d.push(std::slice::from_ref(b));
                    while let Ok(Some(r)) = d.next_request() {
                        got.push(r.len());
                    }
                }
                format!("{got:?}")
            })
        },
        expect: |u| format!("[{}]", u + 16),
    },
    // RFC 8461 §3.3 discovery fed a large TXT answer (many records, many strings) and a policy of
    // many mx lines (the largest size stays under the 64 KiB policy limit).
    Case {
        name: "discovery-large",
        base: 40,
        build: |u| {
            let mut records: Vec<Vec<String>> = (0..u)
                .map(|i| {
                    (0..4)
                        .map(|j| format!("v=spf1 ip4:192.0.2.{j} a{i} "))
                        .collect()
                })
                .collect();
            records.push(vec!["v=STSv1; id=2026".into()]);
            let body = format!("{POLICY_HEAD}{}", mx_lines(u)).into_bytes();
            let bytes = records.iter().flatten().map(String::len).sum::<usize>() + body.len();
            built(bytes, move || {
                let mut d = Discovery::new("example.com", None, 1_800_000_000, 0).unwrap();
                loop {
                    match d.poll() {
                        DStep::ResolveTxt { .. } => d.on_txt(TxtAnswer::Records(records.clone())),
                        DStep::FetchPolicy { .. } => d.on_policy(FetchAnswer::Response {
                            status: 200,
                            content_type: Some("text/plain".into()),
                            location: None,
                            body: body.clone(),
                        }),
                        DStep::Done { outcome } => {
                            let mx = outcome.policy.map_or(0, |p| p.mx.len());
                            break format!("{:?} {mx}", outcome.status);
                        }
                    }
                }
            })
        },
        expect: |u| format!("{:?} {u}", Status::Found),
    },
    // RFC 8461 §4.1/§5 delivery plan: an MX answer of many hosts under a policy of many patterns
    // (each host matches the pattern listed in the reverse place).
    Case {
        name: "delivery-mx",
        base: 32,
        build: |u| {
            // One pattern no host matches, so that the policy parses at 0 units too (the baseline).
            let text = format!("{POLICY_HEAD}mx: other.example.net\n{}", mx_lines(u));
            let policy = parse_policy(&text).unwrap();
            let records: Vec<MxRecord> = (0..u)
                .map(|i| MxRecord {
                    exchange: format!("MX{}.example.com.", u - 1 - i),
                    priority: 10,
                })
                .collect();
            let bytes = text.len() + records.iter().map(|r| r.exchange.len()).sum::<usize>();
            built(bytes, move || {
                let mut d = Delivery::new(
                    "example.com",
                    Some((policy.clone(), Some("1".into()))),
                    options(),
                )
                .unwrap();
                d.poll(NOW_MS);
                d.on_mx(MxAnswer::Records(records.clone()));
                step_name(&d.poll(NOW_MS))
            })
        },
        expect: |u| format!("resolve-addresses mx{}.example.com", u - 1),
    },
    // Many addresses for one MX host.
    Case {
        name: "delivery-addresses",
        base: 64,
        build: |u| {
            let list: Vec<String> = (0..u)
                .map(|i| format!("2001:db8::{:x}:{:x}", i / 65536, i % 65536))
                .collect();
            let bytes = list.iter().map(String::len).sum();
            built(bytes, move || {
                let policy = parse_policy(&format!("{POLICY_HEAD}mx: *.example.com\n")).unwrap();
                let mut d = Delivery::new("example.com", Some((policy, None)), options()).unwrap();
                d.poll(NOW_MS);
                d.on_mx(MxAnswer::Records(vec![MxRecord {
                    exchange: "mx1.example.com".into(),
                    priority: 10,
                }]));
                d.poll(NOW_MS);
                d.on_addresses(AddressAnswer::Addresses(list.clone()));
                step_name(&d.poll(NOW_MS))
            })
        },
        // The first address, in its canonical text form (RFC 5952).
        expect: |_| {
            let first: std::net::Ipv6Addr = "2001:db8::0:0".parse().unwrap();
            format!("connect {first}")
        },
    },
    // The delivery's dialogue: a greeting and an EHLO answer of `u` lines (up to 256) in one read.
    Case {
        name: "delivery-ehlo",
        base: 4,
        build: |u| {
            let greeting: String = (0..u)
                .map(|i| {
                    format!(
                        "220{}mx.example.com says hello {i}\r\n",
                        if i + 1 == u { ' ' } else { '-' }
                    )
                })
                .collect();
            let ehlo: String = (0..u)
                .map(|i| {
                    let last = i + 1 == u;
                    let word = if last {
                        "STARTTLS".into()
                    } else {
                        format!("X-EXT{i} a b c")
                    };
                    format!("250{}{word}\r\n", if last { ' ' } else { '-' })
                })
                .collect();
            built(greeting.len() + ehlo.len(), move || {
                let mut d = connected_delivery();
                let mut last = String::new();
                for input in [&greeting, &ehlo] {
                    d.poll(NOW_MS); // Read
                    d.on_data(input.as_bytes());
                    last = step_name(&d.poll(NOW_MS));
                }
                last
            })
        },
        expect: |_| "send STARTTLS".into(),
    },
];

fn main() {
    let Ok(name) = std::env::var("LINEAR_CASE") else {
        // Check mode: each case ends as built, at two sizes.
        for case in CASES {
            for units in [case.base, 2 * case.base] {
                let mut b = (case.build)(units);
                let got = measured(&mut b.run);
                assert_eq!(got, (case.expect)(units), "{} at {units} units", case.name);
            }
        }
        println!("linear_time: {} cases end as built", CASES.len());
        return;
    };
    if name == "list" {
        for case in CASES {
            println!("{} {}", case.name, case.base);
        }
        return;
    }
    let case = CASES
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("LINEAR_CASE={name}: no such case (LINEAR_CASE=list)"));
    let units: usize = std::env::var("LINEAR_UNITS")
        .ok()
        .and_then(|u| u.parse().ok())
        .expect("LINEAR_UNITS=<number of units>");
    let mut b = (case.build)(units);
    let got = measured(&mut b.run);
    println!("{} {got}", b.bytes);
}
