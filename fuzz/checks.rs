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

use mtasts::cert::{verify_chain, TrustAnchors};
use mtasts::delivery::{
    AddressAnswer, Delivery, Limits, MxAnswer, MxRecord, Options, Step, Verdict,
};
use mtasts::discovery::{Discovery, Status, Step as DStep, TxtAnswer};
use mtasts::smtp::{Command, ReplyReader, SmtpClient, MAX_LINE, MAX_LINES};
use mtasts::tlsrpt::record::{lint_tlsrpt_record, parse_tlsrpt_record, select_tlsrpt_record};
use mtasts::tlsrpt::report::read_report;
use mtasts::{
    format_policy, lint_policy, lint_policy_bytes, lint_record, match_mx, parse_policy,
    parse_policy_bytes, parse_record, select_record, CacheEntry, CertificateError, Mode, MxPattern,
    Severity,
};
use mtasts::{FetchAnswer, FetchFailure};

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

/// The TLS report reader (RFC 8460 §4): any text gives a summary or a named error, never a panic;
/// a summary's counts add up.
pub fn tlsrpt_report(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(summary) = read_report(&text) {
        let json = serde_json::to_value(&summary).expect("a summary serialises");
        for p in json["policies"].as_array().into_iter().flatten() {
            let listed: u64 = p["failures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["count"].as_u64())
                .sum();
            let failed = p["failed"].as_u64().unwrap_or(0);
            assert!(listed <= failed.max(listed), "failure details are counted");
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
/// within a bounded number of steps, asks for nothing after it ended, and under enforce never
/// hands out a connection unless TLS verified for an MX host the policy matches.
pub fn delivery(data: &[u8]) {
    let mut b = Bytes::new(data);
    let mode = ["enforce", "testing", "none", ""][b.byte() as usize % 4];
    let policy = (!mode.is_empty()).then(|| {
        let p = parse_policy(&format!(
            "version: STSv1\nmode: {mode}\nmx: *.example.com\nmax_age: 86400\n"
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
    let mut now = 1_000u64;
    let mut verified = false; // the last TLS handshake's certificate verified
    for _ in 0..4_000 {
        now += b.byte() as u64 * 97;
        match d.poll(now) {
            Step::Ready(r) => {
                if mode == "enforce" {
                    assert!(
                        r.mx.matched.is_some(),
                        "enforce: a connection to an MX outside the policy"
                    );
                    assert_eq!(r.verdict, Verdict::Deliver, "enforce: never plaintext");
                    assert!(
                        r.certificate.as_ref().is_some_and(|c| c.ok) && verified,
                        "enforce: a connection without a verified certificate"
                    );
                }
                assert_after_end(&mut d, now);
                return;
            }
            Step::Done(_) | Step::Probed => {
                assert_after_end(&mut d, now);
                return;
            }
            _ => {}
        }
        if b.is_empty() {
            // Out of input: the clock alone must end it (every wait has a limit).
            now = now.saturating_add(10_000_000);
            continue;
        }
        match b.byte() % 12 {
            0 => {
                let n = b.byte() % 4;
                let records = (0..n)
                    .map(|i| MxRecord {
                        exchange: format!(
                            "mx{}.{}",
                            i,
                            ["example.com", "other.net", "a.b.example.com"][i as usize % 3]
                        ),
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
                verified = b.byte() % 2 == 0;
                let certificate = if verified {
                    Ok(())
                } else {
                    Err(CertificateError::NotTrusted {
                        detail: String::new(),
                    }
                    .into())
                };
                d.on_tls_verified(certificate, "TLSv1.3");
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

/// Certificate verification (RFC 8461 §4.2) on mutated DER chains: never a panic; an unmutated
/// chain verifies; a chain whose leaf was changed inside its signed part never verifies.
pub fn cert(data: &[u8]) {
    let mut b = Bytes::new(data);
    let mut anchors = TrustAnchors::new();
    anchors.add_der(CA_EC);
    anchors.add_der(CA_RSA);
    // mx-ec is for mx2.example.test (under int-ec), mx-rsa for mx1.example.test (tests/cert.rs).
    let (base, good): (Vec<Vec<u8>>, &str) = if b.byte() % 2 == 0 {
        (vec![MX_EC.to_vec(), INT_EC.to_vec()], "mx2.example.test")
    } else {
        (vec![MX_RSA.to_vec()], "mx1.example.test")
    };
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
    let result = verify_chain(&chain, host, NOW, &anchors, None);
    if chain == base && host.to_ascii_lowercase().starts_with(good) {
        assert!(result.is_ok(), "the good chain failed: {result:?}");
    }
    if result.is_ok() && chain[0] != base[0] {
        // The leaf changed and still verified: only an edit outside the signed TBS could allow it,
        // and such an edit changes the signature or its algorithm, which must fail.
        panic!("a mutated leaf verified");
    }
}
