//! The invariants the fuzz targets check, one function per target. Shared by the libFuzzer targets
//! (`fuzz/fuzz_targets/*.rs`, nightly, `cargo +nightly fuzz run NAME`) and the stable replay test
//! (`tests/fuzz_replay.rs`, which runs every corpus and regression file through the same function),
//! so a crash found by the fuzzer is a failing `cargo test` once its file is kept.
//!
//! Each check asserts more than "no panic": parse → format → parse is the identity; lint has an
//! error exactly when the strict parse fails; the state machines end within a bounded number of
//! steps, never ask for anything after they ended, and never hand out a connection under
//! `enforce` unless its certificate verified for an MX host the policy matches (RFC 8461 §4, §5).
#![allow(dead_code)]

use mtasts::cert::{verify_chain, HostScheme, SignatureHost, TrustAnchors};
use mtasts::delivery::{
    AddressAnswer, Delivery, Limits, MxAnswer, MxRecord, Options, Step, Verdict,
};
use mtasts::diagnostic::MAX_DIAGNOSTICS;
use mtasts::discovery::{Discovery, Status, Step as DStep, TxtAnswer};
use mtasts::domain::normalize_domain;
use mtasts::smtp::{Command, ReplyReader, SmtpClient, MAX_LINE, MAX_LINES};
use mtasts::socketmap::{encode, prepare, NetstringDecoder, Prepared, DEFAULT_MAX_REQUEST};
use mtasts::tlsrpt::record::{lint_tlsrpt_record, parse_tlsrpt_record, select_tlsrpt_record};
use mtasts::tlsrpt::report::MAX_COUNT;
use mtasts::tlsrpt::report::{
    build_reports, read_report, PolicyKind, PolicyType, ReportOptions, SessionResult, RESULT_TYPES,
};
use mtasts::{
    format_policy, lint_policy, lint_policy_bytes, lint_record, match_mx, parse_policy,
    parse_policy_bytes, parse_record, select_record, CacheEntry, CertificateError, Mode, MxPattern,
    Severity,
};
use mtasts::{FetchAnswer, FetchFailure};
use std::sync::{Mutex, OnceLock};

/// Fuzz bytes read as a stream of small decisions (libFuzzer mutates them structurally).
pub struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bytes(data)
    }
    pub fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Up to `max` bytes, the length taken from the stream.
    pub fn slice(&mut self, max: usize) -> &'a [u8] {
        let want = (self.byte() as usize * 256 + self.byte() as usize) % (max + 1);
        let n = want.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    pub fn text(&mut self, max: usize) -> String {
        String::from_utf8_lossy(self.slice(max)).into_owned()
    }
}

fn has_error(diagnostics: &[mtasts::Diagnostic]) -> bool {
    diagnostics.iter().any(|d| d.severity == Severity::Error)
}

/// `_mta-sts` TXT record (RFC 8461 §3.1): strict parse ⇔ lint without errors; selection over
/// records split from the input never panics and agrees with the parse of a lone record.
pub fn record(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parsed = parse_record(&text);
    let lint = lint_record(&text, None);
    assert_eq!(
        parsed.is_ok(),
        !has_error(&lint.diagnostics),
        "record {text:?}: parse {parsed:?} vs lint {:?}",
        lint.diagnostics
    );
    let records: Vec<Vec<&str>> = text.split('\n').map(|r| r.split('\0').collect()).collect();
    let _ = select_record(&records);
    if text.starts_with("v=STSv1;") && !text.contains('\n') && !text.contains('\0') {
        assert_eq!(
            select_record(&[[text.as_ref()]]).ok().flatten().is_some(),
            parsed.is_ok()
        );
    }
}

/// Policy file (RFC 8461 §3.2), text and bytes paths: parse ⇔ lint without errors; a parsed policy
/// formats to text that parses to the same policy, and that text is a fixed point.
pub fn policy(data: &[u8]) {
    let parsed_bytes = parse_policy_bytes(data);
    let lint_bytes = lint_policy_bytes(data);
    assert_eq!(
        parsed_bytes.is_ok(),
        !has_error(&lint_bytes.diagnostics),
        "bytes: parse {parsed_bytes:?} vs lint {:?}",
        lint_bytes.diagnostics
    );
    if let Ok(text) = std::str::from_utf8(data) {
        let parsed = parse_policy(text);
        let lint = lint_policy(text);
        assert_eq!(
            parsed.is_ok(),
            !has_error(&lint.diagnostics),
            "text {text:?}: parse {parsed:?} vs lint {:?}",
            lint.diagnostics
        );
        assert_eq!(
            parsed.is_ok(),
            parsed_bytes.is_ok(),
            "text and bytes paths disagree on {text:?}"
        );
        assert_eq!(
            parsed.as_ref().ok(),
            lint.policy.as_ref(),
            "lint's policy is the parse's"
        );
    }
    if let Ok(p) = parsed_bytes {
        let formatted = format_policy(&p);
        let again = parse_policy(&formatted)
            .unwrap_or_else(|e| panic!("formatted policy does not parse: {e}\n{formatted}"));
        assert_eq!(again, p, "parse → format → parse changed the policy");
        assert_eq!(
            format_policy(&again),
            formatted,
            "format is not a fixed point"
        );
    }
}

/// The RFC 8461 §4.1 rule, written independently: case-insensitive, `*` only as the whole
/// left-most label, matching exactly one label.
fn oracle(pattern: &str, host: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let h = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    match p.strip_prefix("*.") {
        Some(rest) => match h.split_once('.') {
            Some((first, tail)) => !first.is_empty() && tail == rest,
            None => false,
        },
        None => p == h,
    }
}

/// MX matching (§4.1): a valid pattern matches an ASCII host exactly when the oracle says so.
pub fn mx(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (pattern, host) = text.split_once('\n').unwrap_or((&text, ""));
    let Ok(p) = MxPattern::parse(pattern) else {
        return;
    };
    // parse → as_str → parse is the identity (one spelling per pattern, lower case).
    let again = MxPattern::parse(p.as_str()).expect("a pattern's text parses");
    assert_eq!(
        again.as_str(),
        p.as_str(),
        "parse → text → parse changed {pattern:?}"
    );
    assert_eq!(p.as_str(), pattern.to_ascii_lowercase());
    let matches = |h: &str| matches!(match_mx(std::slice::from_ref(&p), h), Ok(Some(_)));
    let got = matches(host);
    if host.is_ascii()
        && !host.is_empty()
        && host
            .split('.')
            .all(|l| !l.is_empty() || host.ends_with('.'))
    {
        let normal = host.strip_suffix('.').unwrap_or(host);
        if !normal.is_empty()
            && normal
                .split('.')
                .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            assert_eq!(
                got,
                oracle(pattern, host),
                "pattern {pattern:?} host {host:?}"
            );
        }
    }
    if got {
        assert!(
            matches(&host.to_ascii_uppercase()),
            "matching is case-insensitive"
        );
    }
}

/// `_smtp._tls` record (RFC 8460 §3): parse ⇔ lint without errors; rua never empty when parsed.
pub fn tlsrpt_record(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parsed = parse_tlsrpt_record(&text);
    let lint = lint_tlsrpt_record(&text, None);
    assert_eq!(
        parsed.is_ok(),
        !has_error(&lint.diagnostics),
        "tlsrpt record {text:?}: parse {parsed:?} vs lint {:?}",
        lint.diagnostics
    );
    if let Ok(r) = &parsed {
        assert!(!r.rua.is_empty(), "a parsed record has a rua");
        assert!(r
            .rua
            .iter()
            .all(|u| u.starts_with("mailto:") || u.starts_with("https:")));
    }
    let records: Vec<Vec<&str>> = text.split('\n').map(|r| r.split('\0').collect()).collect();
    let _ = select_tlsrpt_record(&records);
}

/// The TLS report reader (RFC 8460 §4.4): any text gives a summary or a named error, never a
/// panic; a summary says what an independent JSON reading of the same text says (every policy's
/// domain, type and counts, every failure detail's result type and count), its dates are UTC in
/// one form, and a policy whose failure details do not add up to its failure count has its
/// count-mismatch problem. An input that begins with byte 1 instead drives the builder
/// ([`tlsrpt_built`]).
pub fn tlsrpt_report(data: &[u8]) {
    if let Some(rest) = data.strip_prefix(&[1]) {
        return tlsrpt_built(rest);
    }
    let text = String::from_utf8_lossy(data);
    let Ok(summary) = read_report(&text) else {
        return;
    };
    let body = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let value: serde_json::Value =
        serde_json::from_str(body).expect("a report read is JSON to serde_json too");
    let string = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    assert_eq!(summary.organization, string(&value["organization-name"]));
    assert_eq!(summary.report_id, string(&value["report-id"]));
    for t in [&summary.date_range.start, &summary.date_range.end] {
        let shape = t.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
        assert!(
            t.len() == 20 && shape,
            "date {t:?} is not YYYY-MM-DDTHH:MM:SSZ"
        );
    }
    let policies = value["policies"].as_array().expect("policies is an array");
    assert_eq!(summary.policies.len(), policies.len());
    let mut mismatched = 0;
    for (p, v) in summary.policies.iter().zip(policies) {
        assert_eq!(p.policy_domain, string(&v["policy"]["policy-domain"]));
        assert_eq!(p.policy_type, string(&v["policy"]["policy-type"]));
        let count = |v: &serde_json::Value| v.as_u64().expect("a count read is a u64");
        assert_eq!(
            p.successful,
            count(&v["summary"]["total-successful-session-count"])
        );
        assert_eq!(
            p.failed,
            count(&v["summary"]["total-failure-session-count"])
        );
        let details = v["failure-details"].as_array().map_or(&[][..], |a| a);
        assert_eq!(p.failures.len(), details.len());
        let mut sum = 0u64;
        for (f, d) in p.failures.iter().zip(details) {
            assert_eq!(f.result_type, string(&d["result-type"]));
            assert_eq!(f.count, count(&d["failed-session-count"]));
            assert!(f.count <= MAX_COUNT);
            sum = sum.saturating_add(f.count);
        }
        if !details.is_empty() && sum != p.failed {
            mismatched += 1;
        }
    }
    let noted = summary
        .problems
        .iter()
        .filter(|d| d.code == "tlsrpt-report-count-mismatch")
        .count();
    if summary.problems.len() < MAX_DIAGNOSTICS {
        assert_eq!(
            noted, mismatched,
            "one count-mismatch problem per policy off"
        );
    }
    serde_json::to_value(&summary).expect("a summary serialises");
}

/// The report builder (RFC 8460 §4.4) on fuzzed session results, read back: every report built
/// reads without a count mismatch, with its policy domain, and with the successes and failures
/// of the sessions given (split into records in any way, the counts add up).
pub fn tlsrpt_built(data: &[u8]) {
    let mut b = Bytes::new(data);
    const DOMAINS: [&str; 4] = [
        "example.com",
        "Example.COM.",
        "b.example",
        "xn--bcher-kva.example",
    ];
    let mut results = Vec::new();
    for _ in 0..b.byte() % 12 {
        let kind = if b.byte() % 2 == 0 {
            PolicyType::Sts
        } else {
            PolicyType::NoPolicyFound
        };
        let pick = b.byte() as usize;
        let result = if pick % 2 == 0 {
            "success".to_string()
        } else {
            RESULT_TYPES[pick / 2 % RESULT_TYPES.len()].to_string()
        };
        let text = |b: &mut Bytes| Some(b.text(12)).filter(|t| !t.is_empty());
        results.push(SessionResult {
            policy_domain: DOMAINS[b.byte() as usize % DOMAINS.len()].to_string(),
            policy: PolicyKind {
                kind,
                strings: (0..b.byte() % 3).map(|_| b.text(20)).collect(),
                mx_patterns: (0..b.byte() % 3).map(|_| b.text(20)).collect(),
            },
            result,
            sending_mta_ip: text(&mut b),
            receiving_mx_hostname: text(&mut b),
            receiving_mx_helo: text(&mut b),
            receiving_ip: text(&mut b),
            failure_reason_code: text(&mut b),
            additional_information: text(&mut b),
            count: [1, 2, 1000, MAX_COUNT, 0][b.byte() as usize % 5],
        });
    }
    let options = ReportOptions {
        organization: "Example Org",
        contact: "mailto:tlsrpt@example.org",
        submitter: "example.org",
        day: "2026-12-01",
    };
    let Ok(reports) = build_reports(&options, &results) else {
        return;
    };
    let domain = |d: &str| normalize_domain(d).expect("the builder took it");
    for report in &reports {
        let summary = read_report(&report.json)
            .unwrap_or_else(|e| panic!("a built report does not read: {e}\n{}", report.json));
        assert!(
            summary
                .problems
                .iter()
                .all(|d| d.code != "tlsrpt-report-count-mismatch"),
            "a built report's counts do not add up: {}",
            report.json
        );
        let mine = results
            .iter()
            .filter(|r| domain(&r.policy_domain) == report.policy_domain);
        let (ok, failed) = mine.fold((0u64, 0u64), |(s, f), r| {
            if r.result == "success" {
                (s.saturating_add(r.count), f)
            } else {
                (s, f.saturating_add(r.count))
            }
        });
        let read_ok = summary
            .policies
            .iter()
            .map(|p| p.successful)
            .fold(0u64, u64::saturating_add);
        let read_failed = summary
            .policies
            .iter()
            .map(|p| p.failed)
            .fold(0u64, u64::saturating_add);
        assert!(
            summary
                .policies
                .iter()
                .all(|p| p.policy_domain == report.policy_domain),
            "a report for one policy domain"
        );
        if ok <= MAX_COUNT && failed <= MAX_COUNT {
            assert_eq!(
                (read_ok, read_failed),
                (ok, failed),
                "counts lost: {}",
                report.json
            );
        }
    }
}

/// SMTP replies (RFC 5321 §4.2) pushed in fuzzed chunks: replies come out or a malformed error;
/// the buffer never holds more than one reply's worth of bytes.
pub fn smtp_reply(data: &[u8]) {
    let mut b = Bytes::new(data);
    let mut reader = ReplyReader::default();
    let bound = MAX_LINES * (MAX_LINE + 2) + MAX_LINE + 2;
    while !b.is_empty() {
        let chunk = b.slice(600);
        reader.push(chunk);
        loop {
            match reader.next_reply() {
                Ok(Some(reply)) => assert!(
                    (200..600).contains(&reply.code) || (100..200).contains(&reply.code),
                    "reply code {}",
                    reply.code
                ),
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(
            reader.pending() <= bound + 600,
            "{} bytes pending",
            reader.pending()
        );
    }
}

/// The SMTP client (one command at a time): fuzzed commands and server bytes in any order never
/// panic; an answer only ever answers the command that was sent.
pub fn smtp_client(data: &[u8]) {
    let mut b = Bytes::new(data);
    let mut c = SmtpClient::new();
    const COMMANDS: [Command; 6] = [
        Command::Ehlo,
        Command::Mail,
        Command::Rcpt,
        Command::Data,
        Command::Quit,
        Command::Rset,
    ];
    let mut steps = 0;
    while !b.is_empty() && steps < 10_000 {
        steps += 1;
        match b.byte() % 3 {
            0 => {
                let cmd = COMMANDS[b.byte() as usize % COMMANDS.len()];
                let arg = b.text(64);
                let _ = c.command(cmd, &arg);
            }
            1 => {
                let waiting = c.waiting();
                match c.on_data(b.slice(300)) {
                    Ok(Some(answer)) => assert_eq!(
                        Some(answer.command),
                        waiting,
                        "an answer to a command not asked"
                    ),
                    Ok(None) => {}
                    Err(_) => {}
                }
            }
            _ => {
                let _ = c.on_close();
            }
        }
    }
}

fn fetch_failure(n: u8) -> FetchFailure {
    match n % 8 {
        0 => FetchFailure::Timeout,
        1 => FetchFailure::TooLarge,
        2 => FetchFailure::Truncated {
            received: n as u64,
            expected: if n % 2 == 0 { None } else { Some(1000) },
        },
        3 => FetchFailure::Certificate,
        4 => FetchFailure::Tls,
        5 => FetchFailure::Connect,
        6 => FetchFailure::Dns,
        _ => FetchFailure::Protocol,
    }
}

/// Discovery (RFC 8461 §3.3, §5.1, §10.2) driven by fuzzed host answers, whatever it asked: it ends,
/// never asks after Done, and a live cached policy survives any failure (the downgrade defence).
pub fn discovery(data: &[u8]) {
    let mut b = Bytes::new(data);
    let now = 1_800_000_000u64;
    let cached_text = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n";
    let cached = if b.byte() % 2 == 0 {
        Some(CacheEntry {
            id: "old1".into(),
            policy_text: cached_text.into(),
            fetched_at: now - 100,
            expires_at: now + 86_300,
            checked_at: now - 100,
        })
    } else {
        None
    };
    let had_cache = cached.is_some();
    let Ok(mut d) = Discovery::new("example.com", cached, now, b.byte() as u64) else {
        return;
    };
    if b.byte() % 4 == 0 {
        d.force_fetch();
    }
    // Every step answers the question asked (a fuzzed answer of that kind), sometimes after an
    // answer to the other question, which must change nothing; at most 2 TXT lookups and 1 fetch
    // are ever asked, so 64 steps are plenty.
    for _ in 0..64 {
        let step = d.poll();
        if let DStep::Done { outcome } = step {
            for _ in 0..3 {
                assert!(matches!(d.poll(), DStep::Done { .. }), "a step after Done");
            }
            if had_cache {
                let p = outcome
                    .policy
                    .as_ref()
                    .expect("a live cached policy is never dropped (§10.2)");
                assert!(matches!(outcome.status, Status::Found | Status::Cached));
                if p.mode != Mode::Enforce {
                    assert!(
                        outcome.status == Status::Found,
                        "only a newly fetched valid policy replaces the cached one"
                    );
                }
            }
            return;
        }
        let asked_txt = matches!(step, DStep::ResolveTxt { .. });
        // An answer to the other question first, sometimes: it must change nothing.
        if b.byte() % 8 == 0 {
            if asked_txt {
                fetch_answer(&mut d, &mut b);
            } else {
                txt_answer(&mut d, &mut b);
            }
        }
        if asked_txt {
            txt_answer(&mut d, &mut b);
        } else {
            fetch_answer(&mut d, &mut b);
        }
    }
    panic!("discovery did not end within 64 steps");
}

fn txt_answer(d: &mut Discovery, b: &mut Bytes) {
    match b.byte() % 3 {
        0 => {
            let n = b.byte() % 4;
            let records = (0..n).map(|_| vec![b.text(80)]).collect();
            d.on_txt(TxtAnswer::Records(records));
        }
        1 => d.on_txt(TxtAnswer::NoRecord),
        _ => d.on_txt(TxtAnswer::Temporary { detail: b.text(10) }),
    }
}

fn fetch_answer(d: &mut Discovery, b: &mut Bytes) {
    if b.byte() % 3 == 2 {
        let kind = fetch_failure(b.byte());
        d.on_policy(FetchAnswer::Failed {
            kind,
            detail: b.text(10),
        });
        return;
    }
    let status = [200u16, 200, 404, 301, 500][b.byte() as usize % 5];
    let content_type =
        [Some("text/plain"), Some("text/html"), None][b.byte() as usize % 3].map(str::to_string);
    d.on_policy(FetchAnswer::Response {
        status,
        content_type,
        location: None,
        body: b.slice(400).to_vec(),
    });
}

/// Delivery (RFC 8461 §4, §5; RFC 3207) driven by fuzzed answers in any order, at any time: it ends
/// within a bounded number of steps, asks for nothing after it ended, sends SNI for the host it
/// dialled, and under enforce never hands out a connection unless TLS verified for an MX host the
/// policy matches (the §4.1 oracle) — a chain given to `on_tls` is verified again here for the
/// host handed out.
pub fn delivery(data: &[u8]) {
    let mut b = Bytes::new(data);
    let mode = ["enforce", "testing", "none", ""][b.byte() as usize % 4];
    const PATTERNS: [&str; 2] = ["*.example.com", "*.example.test"];
    let policy = (!mode.is_empty()).then(|| {
        let p = parse_policy(&format!(
            "version: STSv1\nmode: {mode}\nmx: {}\nmx: {}\nmax_age: 86400\n",
            PATTERNS[0], PATTERNS[1]
        ))
        .unwrap();
        (p, Some("2024".to_string()))
    });
    let limits = Limits {
        deadline_ms: 1 + b.byte() as u64 * 2_000,
        reply_ms: 1 + b.byte() as u64 * 500,
        ..Limits::default()
    };
    let options = Options {
        helo_name: "relay.example.org".into(),
        port: 25,
        require_tls: b.byte() % 8 == 0,
        limits,
    };
    let probe = b.byte() % 5 == 0;
    let made = if probe {
        Delivery::probe("example.com", policy, "mx1.example.com", options)
    } else {
        Delivery::new("example.com", policy, options)
    };
    let Ok(mut d) = made else { return };
    const CHUNKS: [&[u8]; 8] = [
        b"220 mx\r\n",
        b"250-mx\r\n250 STARTTLS\r\n",
        b"220 go\r\n",
        b"454 no\r\n",
        b"250 mx\r\n",
        b"554 bye\r\n",
        b"2",
        b"50 x\r\n",
    ];
    // mx1/mx2.example.test have certificates in the test PKI (see good_chains).
    const DOMAINS: [&str; 4] = [
        "example.com",
        "other.net",
        "a.b.example.com",
        "example.test",
    ];
    let anchors = anchors();
    let chains = good_chains();
    let mut now = NOW * 1000; // inside the test PKI's validity
    let mut dialled: Option<String> = None; // the host of the current connection
                                            // The evidence of the current connection's TLS: on_tls_verified's word, or the chain given.
    let mut tls: Option<Result<(), Vec<Vec<u8>>>> = None;
    for _ in 0..4_000 {
        now += b.byte() as u64 * 97;
        let step = d.poll(now);
        let asked_tls = matches!(step, Step::StartTls { .. });
        match step {
            Step::Ready(r) => {
                if mode == "enforce" {
                    assert!(
                        r.mx.matched.is_some() && PATTERNS.iter().any(|p| oracle(p, &r.mx.host)),
                        "enforce: a connection to an MX outside the policy: {}",
                        r.mx.host
                    );
                    assert_eq!(r.verdict, Verdict::Deliver, "enforce: never plaintext");
                    assert!(
                        r.certificate.as_ref().is_some_and(|c| c.ok),
                        "enforce: a connection without a verified certificate"
                    );
                    assert_eq!(
                        dialled.as_deref(),
                        Some(r.mx.host.as_str()),
                        "the host dialled"
                    );
                    match &tls {
                        Some(Ok(())) => {}
                        Some(Err(chain)) => assert!(
                            verify_chain(chain, &r.mx.host, now / 1000, &anchors, None).is_ok(),
                            "enforce: the chain does not verify for {}",
                            r.mx.host
                        ),
                        None => panic!("enforce: a connection without TLS"),
                    }
                }
                assert_after_end(&mut d, now);
                return;
            }
            Step::Done(_) | Step::Probed => {
                assert_after_end(&mut d, now);
                return;
            }
            Step::Connect { host, .. } => {
                dialled = Some(host);
                tls = None;
            }
            Step::StartTls { server_name, .. } => {
                // RFC 8461 §4.2 / RFC 6066 §3: SNI is the MX host dialled.
                assert_eq!(
                    Some(&server_name),
                    dialled.as_ref(),
                    "SNI is not the host dialled"
                );
            }
            _ => {}
        }
        if b.is_empty() {
            // Out of input: the clock alone must end it (every wait has a limit).
            now = now.saturating_add(10_000_000);
            continue;
        }
        match b.byte() % 13 {
            0 => {
                let n = b.byte() % 4;
                let records = (0..n)
                    .map(|i| MxRecord {
                        exchange: format!("mx{}.{}", i, DOMAINS[b.byte() as usize % DOMAINS.len()]),
                        priority: i as u16,
                    })
                    .collect();
                d.on_mx(MxAnswer::Records(records));
            }
            1 => d.on_mx(
                [
                    MxAnswer::NoRecords,
                    MxAnswer::NxDomain,
                    MxAnswer::Temporary("x".into()),
                ][b.byte() as usize % 3]
                    .clone(),
            ),
            2 => d.on_addresses(AddressAnswer::Addresses(
                (0..b.byte() % 3).map(|i| format!("192.0.2.{i}")).collect(),
            )),
            3 => d.on_addresses(
                [
                    AddressAnswer::NxDomain,
                    AddressAnswer::NoAddresses("x".into()),
                    AddressAnswer::Temporary("y".into()),
                ][b.byte() as usize % 3]
                    .clone(),
            ),
            4 => d.on_connected(Some("198.51.100.1")),
            5 => d.on_connect_failed("ECONNREFUSED"),
            6 => d.on_data(CHUNKS[b.byte() as usize % CHUNKS.len()]),
            7 => d.on_data(b.slice(200)),
            8 => d.on_close(),
            9 => d.on_timeout(),
            10 => {
                let ok = b.byte() % 2 == 0;
                let certificate = if ok {
                    Ok(())
                } else {
                    Err(CertificateError::NotTrusted {
                        detail: String::new(),
                    }
                    .into())
                };
                if ok && asked_tls {
                    tls = Some(Ok(()));
                }
                d.on_tls_verified(certificate, "TLSv1.3");
            }
            11 => {
                // A chain of the test PKI (for mx1 or mx2.example.test), maybe without its
                // intermediate or with a byte changed; the core verifies it for the host dialled.
                let mut chain = chains[b.byte() as usize % 2].0.clone();
                match b.byte() % 4 {
                    0 => chain.truncate(1),
                    1 => {
                        let at = b.byte() as usize * 7 % chain[0].len();
                        chain[0][at] ^= 1;
                    }
                    _ => {}
                }
                if asked_tls {
                    tls = Some(Err(chain.clone()));
                }
                let _ = d.on_tls(&chain, &anchors, Some(known_signatures()), "TLSv1.3", None);
            }
            _ => d.on_tls_failed("alert"),
        }
    }
    panic!("delivery did not end within 4000 steps");
}

fn assert_after_end(d: &mut Delivery, now: u64) {
    let end = d.poll(now);
    for t in [now, now + 1, u64::MAX] {
        let again = d.poll(t);
        assert!(
            matches!(again, Step::Ready(_) | Step::Done(_) | Step::Probed),
            "a step after the end: {again:?}"
        );
        assert_eq!(format!("{again:?}"), format!("{end:?}"), "the end changed");
    }
}

const CA_EC: &[u8] = include_bytes!("../tests/pki/ca-ec.der");
const CA_RSA: &[u8] = include_bytes!("../tests/pki/ca-rsa.der");
const MX_EC: &[u8] = include_bytes!("../tests/pki/mx-ec.der");
const INT_EC: &[u8] = include_bytes!("../tests/pki/int-ec.der");
const MX_RSA: &[u8] = include_bytes!("../tests/pki/mx-rsa.der");
/// 2028-01-01, inside the test PKI's validity (tests/pki/validity.txt).
const NOW: u64 = 1_830_297_600;

fn anchors() -> TrustAnchors {
    let mut anchors = TrustAnchors::new();
    anchors.add_der(CA_EC);
    anchors.add_der(CA_RSA);
    anchors
}

/// The good chains of the test PKI and the host each is for: mx-ec is for mx2.example.test
/// (under int-ec), mx-rsa for mx1.example.test (tests/cert.rs).
fn good_chains() -> [(Vec<Vec<u8>>, &'static str); 2] {
    [
        (vec![MX_EC.to_vec(), INT_EC.to_vec()], "mx2.example.test"),
        (vec![MX_RSA.to_vec()], "mx1.example.test"),
    ]
}

type Signed = (HostScheme, Vec<u8>, Vec<u8>, Vec<u8>);

/// A host that says yes to every signature and writes down what it was asked.
#[derive(Default)]
struct Recorder(Mutex<Vec<Signed>>);

impl SignatureHost for Recorder {
    fn verify(&self, scheme: HostScheme, spki: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        seen.push((scheme, spki.to_vec(), message.to_vec(), signature.to_vec()));
        true
    }
}

/// The deterministic stand-in for the signature check: a signature is good exactly when it is
/// one of the test PKI's genuine signatures, byte for byte (scheme, key, signed data,
/// signature). ring accepts those and, short of a forgery (which no fuzzer finds), nothing
/// else a chain built from the test PKI and fuzzed bytes can hold, so the stand-in decides as
/// ring does at a table lookup's cost instead of an ECDSA or RSA verification per certificate
/// (a chain the stand-in accepts has only genuine signatures on its path, which ring accepts
/// too). The `cert` check confirms the agreement on one input in 64, verified with ring as
/// well. It goes through `verify_chain`'s host path (the
/// one Node uses: SPKI rebuilt, RSA size floor), so that path is fuzzed too.
pub struct KnownSignatures(Vec<Signed>);

impl SignatureHost for KnownSignatures {
    fn verify(&self, scheme: HostScheme, spki: &[u8], message: &[u8], signature: &[u8]) -> bool {
        self.0
            .iter()
            .any(|(s, k, m, g)| *s == scheme && k == spki && m == message && g == signature)
    }
}

/// The genuine signatures: what the good chains ask the host, each chain verified by ring first
/// (so every signature on its path is genuine; each certificate there has exactly one issuer
/// candidate by name, so the recorder sees the path ring checked).
pub fn known_signatures() -> &'static KnownSignatures {
    static KNOWN: OnceLock<KnownSignatures> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let anchors = anchors();
        let recorder = Recorder::default();
        for (chain, host) in good_chains() {
            verify_chain(&chain, host, NOW, &anchors, None)
                .unwrap_or_else(|e| panic!("{host}: the test PKI does not verify with ring: {e}"));
            verify_chain(&chain, host, NOW, &anchors, Some(&recorder))
                .unwrap_or_else(|e| panic!("{host}: the recorder refused: {e}"));
        }
        let known = KnownSignatures(recorder.0.into_inner().unwrap_or_else(|e| e.into_inner()));
        assert_eq!(
            known.0.len(),
            3,
            "mx-ec, int-ec and mx-rsa are each signed once"
        );
        known
    })
}

/// Certificate verification (RFC 8461 §4.2) on mutated DER chains: never a panic; an unmutated
/// chain verifies; a chain whose leaf was changed inside its signed part never verifies; the
/// signature stand-in ([`KnownSignatures`]) and ring agree (checked on one input in 64, chosen by
/// a hash of the input).
pub fn cert(data: &[u8]) {
    let mut b = Bytes::new(data);
    let anchors = anchors();
    let first = b.byte();
    let [(ec, ec_host), (rsa, rsa_host)] = good_chains();
    let (base, good) = if first % 2 == 0 {
        (ec, ec_host)
    } else {
        (rsa, rsa_host)
    };
    // One input in 64, by a hash of all of it (not a byte the fuzzer keeps steady), is also
    // verified with ring: a P-384 ECDSA check costs a millisecond, 50 times the rest of an input.
    let fnv = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
    });
    let with_ring = fnv % 64 == 0;
    let mut chain = base.clone();
    let edits = b.byte() % 8;
    for _ in 0..edits {
        let which = b.byte() as usize % (chain.len() + 1);
        if which == chain.len() {
            chain.push(b.slice(2_000).to_vec()); // an extra certificate of fuzzed bytes
            continue;
        }
        let cert = &mut chain[which];
        if cert.is_empty() {
            continue;
        }
        let at = (b.byte() as usize * 256 + b.byte() as usize) % cert.len();
        match b.byte() % 3 {
            0 => cert[at] ^= b.byte() | 1,
            1 => cert.truncate(at),
            _ => {
                let extra = b.slice(64).to_vec();
                cert.splice(at..at, extra);
            }
        }
    }
    let shouted = format!("{}.", good.to_ascii_uppercase());
    let host = [good, shouted.as_str(), "other.test", ""][b.byte() as usize % 4];
    let result = verify_chain(&chain, host, NOW, &anchors, Some(known_signatures()));
    if chain == base && host.to_ascii_lowercase().starts_with(good) {
        assert!(result.is_ok(), "the good chain failed: {result:?}");
    }
    if with_ring {
        let ring = verify_chain(&chain, host, NOW, &anchors, None);
        assert_eq!(
            result.as_ref().map_err(|e| e.code()),
            ring.as_ref().map_err(|e| e.code()),
            "the signature stand-in and ring disagree"
        );
    }
    if result.is_ok() && chain[0] != base[0] {
        // The leaf changed and still verified: only an edit outside the signed TBS could allow it,
        // and such an edit changes the signature or its algorithm, which must fail.
        panic!("a mutated leaf verified");
    }
}

/// What an independent reading of the whole input as socketmap netstrings gives (socketmap_table(5):
/// `[len]":"[data]","`, the length 1-10 decimal digits, never more than `max`): the requests in
/// order, then the code of the error that ends the framing, if any, and whether the input ends
/// inside a netstring.
fn netstrings_oracle(input: &[u8], max: usize) -> (Vec<Vec<u8>>, Option<&'static str>, bool) {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        if i == input.len() {
            return (out, None, false);
        }
        let digits = input[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let mut value = 0u64;
        for (n, &d) in input[i..i + digits].iter().enumerate() {
            if n == 10 {
                return (out, Some("socketmap-netstring-length-digits"), false);
            }
            value = value * 10 + u64::from(d - b'0');
            if value > max as u64 {
                return (out, Some("socketmap-request-too-large"), false);
            }
        }
        let after = i + digits;
        if after == input.len() {
            return (out, None, true);
        }
        if input[after] != b':' || digits == 0 {
            return (out, Some("socketmap-netstring-length"), false);
        }
        let start = after + 1;
        let end = start + value as usize;
        if end >= input.len() {
            return (out, None, true);
        }
        if input[end] != b',' {
            return (out, Some("socketmap-netstring-comma"), false);
        }
        out.push(input[start..end].to_vec());
        i = end + 1;
    }
}

/// Socketmap netstrings (socketmap_table(5)) pushed in fuzzed chunks, through the decoder's public
/// API: the requests and the error are exactly those of an independent reading of the whole
/// input, however it was split; nothing is buffered beyond one request's data once the decoder
/// waits for more; a failed decoder stays failed; `finish` fails exactly when the input ends
/// inside a netstring; each request encodes and decodes to itself, and reads as a request
/// without a panic (a looked-up domain is normalised).
pub fn socketmap(data: &[u8]) {
    let mut b = Bytes::new(data);
    let max = [DEFAULT_MAX_REQUEST, 0, 1, 9, 10, 100, 65_536][b.byte() as usize % 7];
    let mut decoder = NetstringDecoder::new(max);
    let mut input = Vec::new();
    let mut got = Vec::new();
    let mut failed: Option<&'static str> = None;
    while !b.is_empty() {
        let chunk = b.slice(300);
        decoder.push(chunk);
        input.extend_from_slice(chunk);
        if failed.is_some() {
            continue;
        }
        loop {
            match decoder.next_request() {
                Ok(Some(request)) => {
                    assert!(request.len() <= max, "a request over the limit");
                    got.push(request);
                }
                Ok(None) => {
                    assert!(
                        decoder.buffered() <= max,
                        "{} bytes buffered waiting for more (limit {max})",
                        decoder.buffered()
                    );
                    break;
                }
                Err(e) => {
                    failed = Some(e.code());
                    assert!(e.closes_connection(), "a framing error ends the connection");
                    break;
                }
            }
        }
    }
    let (want, error, partial) = netstrings_oracle(&input, max);
    assert_eq!(
        got, want,
        "the requests differ from the whole-input reading"
    );
    assert_eq!(
        failed, error,
        "the error differs from the whole-input reading"
    );
    if let Some(code) = failed {
        assert_eq!(decoder.next_request().map_err(|e| e.code()), Err(code));
        assert_eq!(decoder.finish().map_err(|e| e.code()), Err(code));
    } else {
        assert_eq!(
            decoder.finish().is_err(),
            partial,
            "finish: the input ends inside a netstring exactly when partial"
        );
    }
    for request in &got {
        let framed = encode(request).expect("a request is far below the reply limit");
        let mut again = NetstringDecoder::new(request.len());
        again.push(&framed);
        assert_eq!(again.next_request().ok().flatten().as_ref(), Some(request));
        assert!(again.finish().is_ok());
        if let Prepared::Lookup { domain, key, .. } = prepare(request) {
            assert!(
                !domain.is_empty() && !domain.ends_with('.'),
                "{key:?} → {domain:?}"
            );
            assert_eq!(
                normalize_domain(&domain).ok().as_deref(),
                Some(domain.as_str()),
                "{key:?} → {domain:?} is not normalised"
            );
        }
    }
}
