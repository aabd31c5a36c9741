//! The socketmap core (src/socketmap/): netstrings (incl. hostile input), request keys, and
//! answers (incl. the wildcard depth case of RFC 8461 §4.1), as tables with a reason per case.

use mtasts::delivery::MxRecord;
use mtasts::parse_policy;
use mtasts::socketmap::request::lookup_of;
use mtasts::socketmap::*;

/// (input, requests decoded, error code, reason)
type NetstringCase<'a> = (&'a [u8], &'a [&'a str], Option<&'a str>, &'a str);
/// (policy, zone, MX answer, reply text, reason)
type AnswerCase<'a> = (
    Option<mtasts::Policy>,
    &'a ZoneOptions,
    Option<MxAnswer>,
    &'a str,
    &'a str,
);

fn decode_all(input: &[u8], max: usize) -> (Vec<Vec<u8>>, Option<&'static str>) {
    let mut d = NetstringDecoder::new(max);
    d.push(input);
    let mut out = Vec::new();
    loop {
        match d.next_request() {
            Ok(Some(r)) => out.push(r),
            Ok(None) => return (out, d.finish().err().map(|e| mtasts::Error::from(e).code())),
            Err(e) => return (out, Some(mtasts::Error::from(e).code())),
        }
    }
}

#[test]
fn netstrings() {
    // (input, requests decoded, error code, reason)
    let cases: &[NetstringCase] = &[
        (b"11:postfix a.b,", &["postfix a.b"], None, "one request"),
        (
            b"3:a b,3:c d,",
            &["a b", "c d"],
            None,
            "pipelined: two in one chunk",
        ),
        (
            b"0:,",
            &[""],
            None,
            "empty data is a netstring (the request is refused later)",
        ),
        (
            b"03:a b,",
            &["a b"],
            None,
            "Interop: leading zeros, as Postfix's reader allows",
        ),
        (b"", &[], None, "nothing at all"),
        (
            b"3:a b",
            &[],
            Some("socketmap-netstring-truncated"),
            "closed before the comma",
        ),
        (
            b"3:a",
            &[],
            Some("socketmap-netstring-truncated"),
            "closed inside the data",
        ),
        (
            b"12",
            &[],
            Some("socketmap-netstring-truncated"),
            "closed inside the length",
        ),
        (
            b"3:a b;",
            &[],
            Some("socketmap-netstring-comma"),
            "wrong terminator",
        ),
        (
            b"3:a bc,",
            &[],
            Some("socketmap-netstring-comma"),
            "data longer than announced",
        ),
        (
            b"GET / HTTP/1.0\r\n",
            &[],
            Some("socketmap-netstring-length"),
            "not a netstring at all",
        ),
        (b":,", &[], Some("socketmap-netstring-length"), "no digits"),
        (b"-1:,", &[], Some("socketmap-netstring-length"), "a sign"),
        (
            b" 3:a b,",
            &[],
            Some("socketmap-netstring-length"),
            "leading space",
        ),
        (
            b"3 :a b,",
            &[],
            Some("socketmap-netstring-length"),
            "space before the colon",
        ),
        (
            b"99999999999999999999:",
            &[],
            Some("socketmap-request-too-large"),
            "a huge length is refused at once",
        ),
        (
            b"00000000000:",
            &[],
            Some("socketmap-netstring-length-digits"),
            "an endless run of zeros",
        ),
        (
            b"2049:",
            &[],
            Some("socketmap-request-too-large"),
            "just over the limit",
        ),
        (
            b"3:a b,x",
            &["a b"],
            Some("socketmap-netstring-length"),
            "good, then garbage: the good one is still answered",
        ),
    ];
    for (input, want, err, why) in cases {
        let (got, e) = decode_all(input, DEFAULT_MAX_REQUEST);
        let got: Vec<String> = got
            .iter()
            .map(|g| String::from_utf8_lossy(g).into_owned())
            .collect();
        assert_eq!(got, *want, "{why}");
        assert_eq!(e, *err, "{why}");
        // feed (the host's one call per read) frames the same.
        let (fed, fe) = feed_all(&[input], DEFAULT_MAX_REQUEST);
        assert_eq!(fed, got, "feed: {why}");
        assert_eq!(fe, *err, "feed: {why}");
    }
}

/// Every request of `parts` fed one after the other, and the error code (or the one `finish` gives).
fn feed_all(parts: &[&[u8]], max: usize) -> (Vec<String>, Option<&'static str>) {
    let mut d = NetstringDecoder::new(max);
    let mut out = Vec::new();
    for part in parts {
        let fed = d.feed(part);
        for r in fed.requests {
            let data = match r {
                Fed::InChunk { start, end } => part[start..end].to_vec(),
                Fed::Held(data) => data,
            };
            out.push(String::from_utf8_lossy(&data).into_owned());
        }
        if let Some(e) = fed.error {
            return (out, Some(mtasts::Error::from(e).code()));
        }
    }
    (out, d.finish().err().map(|e| mtasts::Error::from(e).code()))
}

#[test]
fn feed_takes_requests_in_place_and_copies_only_those_split_across_reads() {
    let stream: &[u8] = b"19:postfix example.com,27:postfix [mx.example.com]:25,0:,";
    let mut d = NetstringDecoder::new(DEFAULT_MAX_REQUEST);
    let fed = d.feed(stream);
    assert_eq!(fed.error, None);
    assert_eq!(
        fed.requests,
        vec![
            Fed::InChunk { start: 3, end: 22 },
            Fed::InChunk { start: 26, end: 53 },
            Fed::Held(vec![])
        ],
        "whole requests are places in the bytes fed"
    );
    assert!(!d.in_request());
    // The data whole in one read, its "," in the next: copied before that read replaces the bytes.
    let mut d = NetstringDecoder::new(DEFAULT_MAX_REQUEST);
    assert_eq!(d.feed(b"3:a b").requests, vec![]);
    assert_eq!(d.buffered(), 3, "the data waits for its comma");
    let fed = d.feed(b",1:x,");
    assert_eq!(
        fed.requests,
        vec![
            Fed::Held(b"a b".to_vec()),
            Fed::InChunk { start: 3, end: 4 }
        ]
    );
    assert_eq!(d.buffered(), 0);
    // After an error, nothing more.
    let mut d = NetstringDecoder::new(16);
    assert!(d.feed(b"17:").error.is_some());
    let again = d.feed(b"1:x,");
    assert!(
        again.requests.is_empty() && again.error.is_some(),
        "a failed decoder stays failed"
    );
}

#[test]
fn feed_split_at_every_pair_of_cuts_gives_the_same_requests() {
    let stream: &[u8] = b"19:postfix example.com,27:postfix [mx.example.com]:25,0:,3:a b,";
    let (whole, e) = feed_all(&[stream], DEFAULT_MAX_REQUEST);
    assert_eq!(e, None);
    assert_eq!(whole.len(), 4);
    for a in 0..=stream.len() {
        for b in a..=stream.len() {
            let (got, e) = feed_all(
                &[&stream[..a], &stream[a..b], &stream[b..]],
                DEFAULT_MAX_REQUEST,
            );
            assert_eq!(got, whole, "cuts at {a} and {b}");
            assert_eq!(e, None, "cuts at {a} and {b}");
        }
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(
        feed_all(&bytes, DEFAULT_MAX_REQUEST).0,
        whole,
        "one byte at a time"
    );
}

#[test]
fn netstring_split_at_every_byte_gives_the_same_requests() {
    let stream = b"19:postfix example.com,27:postfix [mx.example.com]:25,0:,";
    let (whole, e) = decode_all(stream, DEFAULT_MAX_REQUEST);
    assert_eq!(e, None);
    assert_eq!(whole.len(), 3);
    for cut in 0..=stream.len() {
        let mut d = NetstringDecoder::new(DEFAULT_MAX_REQUEST);
        let mut got = Vec::new();
        for part in [&stream[..cut], &stream[cut..]] {
            d.push(part);
            while let Some(r) = d.next_request().unwrap() {
                got.push(r);
            }
        }
        assert_eq!(got, whole, "cut at {cut}");
        assert!(d.finish().is_ok());
    }
    // One byte at a time.
    let mut d = NetstringDecoder::new(DEFAULT_MAX_REQUEST);
    let mut got = Vec::new();
    for b in stream {
        d.push(std::slice::from_ref(b));
        while let Some(r) = d.next_request().unwrap() {
            got.push(r);
        }
    }
    assert_eq!(got, whole);
}

#[test]
fn a_failed_decoder_stays_failed_and_drops_its_buffer() {
    let mut d = NetstringDecoder::new(16);
    d.push(b"17:");
    let e = d.next_request().unwrap_err();
    assert_eq!(mtasts::Error::from(e).code(), "socketmap-request-too-large");
    d.push(&[b'x'; 100_000]);
    assert!(
        d.next_request().is_err(),
        "no request after the framing is lost"
    );
    assert_eq!(
        d.buffered(),
        0,
        "nothing kept for a peer that is being closed"
    );
}

#[test]
fn the_decoder_holds_at_most_one_request_plus_what_was_pushed() {
    let mut d = NetstringDecoder::new(DEFAULT_MAX_REQUEST);
    let one = b"11:postfix a.b,";
    for _ in 0..1000 {
        d.push(one);
        assert_eq!(d.next_request().unwrap().unwrap(), b"postfix a.b");
        assert_eq!(d.next_request().unwrap(), None);
        assert_eq!(d.buffered(), 0);
    }
}

#[test]
fn replies_are_framed_up_to_100000_bytes() {
    assert_eq!(encode(b"NOTFOUND ").unwrap(), b"9:NOTFOUND ,");
    assert_eq!(encode(&vec![b'a'; MAX_REPLY]).unwrap().len(), MAX_REPLY + 8);
    let e = encode(&vec![b'a'; MAX_REPLY + 1]).unwrap_err();
    assert_eq!(mtasts::Error::from(e).code(), "socketmap-reply-too-large");
}

#[test]
fn requests() {
    let ok = |data: &str| parse_request(data.as_bytes()).unwrap();
    let r = ok("postfix example.com");
    assert_eq!(
        (r.map.as_str(), r.lookup),
        ("postfix", Lookup::Domain("example.com".into()))
    );
    // (data, error reason)
    for (data, why) in [
        ("postfix", "no space"),
        (" example.com", "empty map name"),
        ("postfix ", "empty key"),
        ("postfix exa\tmple.com", "control character"),
    ] {
        let e = parse_request(data.as_bytes()).unwrap_err();
        assert_eq!(
            mtasts::Error::from(e).code(),
            "socketmap-request-invalid",
            "{why}"
        );
    }
    let e = parse_request(b"postfix \xff.com").unwrap_err();
    assert_eq!(
        mtasts::Error::from(e).code(),
        "socketmap-request-invalid",
        "not UTF-8"
    );
}

#[test]
fn keys_normalise_as_postfix_sends_them() {
    let d = |s: &str| Lookup::Domain(s.to_string());
    let skip = Lookup::Skip;
    // (key, lookup, reason)
    let cases = [
        ("example.com", d("example.com"), "a domain"),
        ("Example.COM", d("example.com"), "case"),
        ("example.com.", d("example.com"), "trailing dot"),
        (
            "example.com:587",
            d("example.com"),
            "domain:port (transport nexthop)",
        ),
        (
            "[mail.example.com]",
            d("mail.example.com"),
            "bracketed host",
        ),
        (
            "[Mail.Example.com.]:25",
            d("mail.example.com"),
            "bracketed, port, dot, case",
        ),
        (
            "bücher.example",
            d("xn--bcher-kva.example"),
            "U-labels become A-labels",
        ),
        (
            ".example.com",
            skip(Skip::ParentDomain),
            "parent-domain lookup",
        ),
        ("[192.0.2.1]", skip(Skip::AddressLiteral), "IPv4 literal"),
        (
            "[192.0.2.1]:25",
            skip(Skip::AddressLiteral),
            "IPv4 literal with port",
        ),
        (
            "[ipv6:2001:db8::1]",
            skip(Skip::AddressLiteral),
            "tagged IPv6 literal",
        ),
        (
            "[IPv6:::1]:25",
            skip(Skip::AddressLiteral),
            "tagged IPv6, port",
        ),
        ("192.0.2.1", skip(Skip::AddressLiteral), "bare IPv4"),
        ("2001:db8::1", skip(Skip::AddressLiteral), "bare IPv6"),
    ];
    for (key, want, why) in cases {
        assert_eq!(lookup_of(key), want, "{key}: {why}");
    }
    for (key, why) in [
        ("[mail.example.com", "unclosed bracket"),
        ("[mail.example.com]x", "junk after the bracket"),
        ("exa_mple..com", "empty label"),
        ("example.com:port", "a port that is not digits"),
        (
            "[IPv6:]",
            "the tag and nothing after it: no literal, and no domain",
        ),
    ] {
        assert!(
            matches!(lookup_of(key), Lookup::Skip(Skip::NotADomain(_))),
            "{key}: {why}"
        );
    }
}

fn policy(mode: &str, mx: &[&str]) -> mtasts::Policy {
    let mut text = format!("version: STSv1\nmode: {mode}\n");
    for m in mx {
        text.push_str(&format!("mx: {m}\n"));
    }
    text.push_str("max_age: 86400\n");
    parse_policy(&text).unwrap()
}

fn mx(hosts: &[(u16, &str)]) -> MxAnswer {
    MxAnswer::Records(
        hosts
            .iter()
            .map(|(p, h)| MxRecord {
                priority: *p,
                exchange: h.to_string(),
            })
            .collect(),
    )
}

#[test]
fn answers() {
    let zone = ZoneOptions::default();
    let strict = ZoneOptions {
        strict_testing: true,
        ..Default::default()
    };
    let two = mx(&[(20, "mx2.example.com."), (10, "MX1.example.com.")]);
    let deep = mx(&[(10, "a.b.example.com.")]);
    // (policy, zone, MX answer, reply text, reason)
    let cases: Vec<AnswerCase> = vec![
        (None, &zone, None, "NOTFOUND ", "no policy: deliver as without MTA-STS (§5)"),
        (Some(policy("none", &["mx1.example.com"])), &zone, None, "NOTFOUND ", "mode none"),
        (Some(policy("testing", &["mx1.example.com"])), &zone, None, "NOTFOUND ", "testing is not enforced"),
        (
            Some(policy("testing", &["mx1.example.com"])),
            &strict,
            None,
            "OK secure match=mx1.example.com servername=hostname",
            "strict_testing answers testing like enforce",
        ),
        (
            Some(policy("enforce", &["mx2.example.com", "mx1.example.com", "MX2.example.com"])),
            &zone,
            None,
            "OK secure match=mx2.example.com:mx1.example.com servername=hostname",
            "exact patterns in policy order, duplicates once",
        ),
        (
            Some(policy("enforce", &["*.example.com"])),
            &zone,
            Some(two.clone()),
            "OK secure match=mx1.example.com:mx2.example.com servername=hostname",
            "wildcard: the matching MX hosts, by preference (never .example.com)",
        ),
        (
            Some(policy("enforce", &["*.example.com"])),
            &zone,
            Some(deep.clone()),
            "TEMP no MX host of example.com matches its enforce policy (RFC 8461 §4.1: \"*\" matches exactly one label); mail waits (§5)",
            "wildcard, MX two labels deep: no match=, and never an empty one",
        ),
        (
            Some(policy("enforce", &["*.example.com", "backup.example.net"])),
            &zone,
            Some(mx(&[(10, "a.b.example.com."), (20, "mx1.example.com."), (5, "mx.other.org.")])),
            "OK secure match=backup.example.net:mx1.example.com servername=hostname",
            "only hosts the wildcard matches; other MX hosts left out",
        ),
        (
            Some(policy("enforce", &["*.example.com"])),
            &zone,
            Some(MxAnswer::NoRecords),
            "TEMP no MX host of example.com matches its enforce policy (RFC 8461 §4.1: \"*\" matches exactly one label); mail waits (§5)",
            "no MX: the domain itself, which *.example.com does not match",
        ),
        (
            Some(policy("enforce", &["*.example.com"])),
            &zone,
            Some(MxAnswer::Temporary { detail: "ESERVFAIL".into(), timeout: false }),
            "TEMP the MX lookup of example.com failed (ESERVFAIL); the wildcard patterns of its enforce policy need it",
            "MX lookup failed: try later",
        ),
        (
            Some(policy("enforce", &["*.example.com"])),
            &zone,
            Some(MxAnswer::Temporary { detail: "ETIMEOUT".into(), timeout: true }),
            "TIMEOUT the MX lookup of example.com failed (ETIMEOUT); the wildcard patterns of its enforce policy need it",
            "MX lookup timed out",
        ),
        (
            Some(policy("enforce", &["hostname", "mx1.example.com"])),
            &zone,
            None,
            "OK secure match=mx1.example.com servername=hostname",
            "a Postfix keyword as a pattern is never sent (it would match any host)",
        ),
    ];
    for (p, z, m, want, why) in cases {
        let a = answer("example.com", p.as_ref(), 3600, z, m.as_ref());
        assert_eq!(a.reply.text(), want, "{why}");
        assert!(!a.reply.text().contains("match= "), "{why}");
        assert_eq!(
            needs_mx(p.as_ref(), z),
            m.is_some()
                && p.as_ref()
                    .is_some_and(|p| p.mx.iter().any(|x| x.is_wildcard())),
            "{why}"
        );
    }
}

#[test]
fn wildcard_answers_are_stable_whatever_order_dns_gives() {
    let p = policy("enforce", &["*.example.com"]);
    let zone = ZoneOptions::default();
    let hosts = [
        (10, "c.example.com"),
        (10, "a.example.com"),
        (5, "z.example.com"),
        (10, "b.example.com"),
    ];
    let want = "OK secure match=z.example.com:a.example.com:b.example.com:c.example.com servername=hostname";
    for rot in 0..hosts.len() {
        let mut h = hosts.to_vec();
        h.rotate_left(rot);
        assert_eq!(
            answer("example.com", Some(&p), 60, &zone, Some(&mx(&h)))
                .reply
                .text(),
            want
        );
    }
}

#[test]
fn postfix_3_10_attributes_only_when_the_zone_asks() {
    let p = policy("enforce", &["mx1.example.com", "*.example.com"]);
    let zone = ZoneOptions {
        sts_attributes: true,
        ..Default::default()
    };
    let a = answer(
        "example.com",
        Some(&p),
        3600,
        &zone,
        Some(&mx(&[(10, "mx2.example.com")])),
    );
    assert_eq!(
        a.reply.text(),
        "OK secure match=mx1.example.com:mx2.example.com servername=hostname policy_type=sts \
         policy_domain=example.com policy_ttl=3600 { policy_string = version: STSv1 } \
         { policy_string = mode: enforce } { policy_string = mx: mx1.example.com } \
         { policy_string = mx: *.example.com } { policy_string = max_age: 86400 } \
         mx_host_pattern=mx1.example.com mx_host_pattern=*.example.com"
    );
    let plain = answer(
        "example.com",
        Some(&p),
        3600,
        &ZoneOptions::default(),
        Some(&mx(&[(10, "mx2.example.com")])),
    );
    assert!(!plain.reply.text().contains("policy_type"));
    // A brace in a policy line cannot be carried by `{ name = value }`: attributes left out.
    let braces = parse_policy(
        "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmax_age: 60\nx-note: a}b\n",
    )
    .unwrap();
    let a = answer("example.com", Some(&braces), 60, &zone, None);
    assert_eq!(
        a.reply.text(),
        "OK secure match=mx1.example.com servername=hostname"
    );
    assert!(a.reason.contains("brace"));
}

#[test]
fn a_reply_never_passes_the_limit() {
    // 3000 exact patterns of ~60 bytes: about 180 KB of match= names.
    let names: Vec<String> = (0..3000)
        .map(|i| format!("mx{i:04}.{}.example.com", "a".repeat(40)))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let p = policy("enforce", &refs);
    let a = answer("example.com", Some(&p), 60, &ZoneOptions::default(), None);
    assert_eq!(a.reply.class(), "temp");
    assert!(a.reply.text().len() <= MAX_REPLY);
    assert!(encode(a.reply.text().as_bytes()).is_ok());
}

#[test]
fn skipped_keys_and_bad_requests() {
    assert_eq!(skip_answer(&Skip::ParentDomain).reply, Reply::NotFound);
    assert_eq!(skip_answer(&Skip::AddressLiteral).reply, Reply::NotFound);
    let e = parse_request(b"postfix").unwrap_err();
    let a = request_error_answer(&e);
    assert_eq!(a.reply.class(), "perm");
    assert!(a.reply.text().starts_with("PERM expected a request"));
}

#[test]
fn the_mx_records_are_asked_only_for_an_applied_wildcard_policy() {
    // (mode, patterns, strict_testing, needs the MX records)
    let cases = [
        ("enforce", &["*.example.com"][..], false, true),
        (
            "enforce",
            &["mx1.example.com", "*.example.com"],
            false,
            true,
        ),
        ("enforce", &["mx1.example.com"], false, false),
        ("testing", &["*.example.com"], false, false),
        ("testing", &["*.example.com"], true, true),
        ("none", &["*.example.com"], true, false),
    ];
    for (mode, mx, strict_testing, want) in cases {
        let zone = ZoneOptions {
            strict_testing,
            ..Default::default()
        };
        let p = policy(mode, mx);
        assert_eq!(
            needs_mx(Some(&p), &zone),
            want,
            "{mode} {mx:?} {strict_testing}"
        );
    }
    assert!(!needs_mx(None, &ZoneOptions::default()));
}

#[test]
fn postfix_match_keywords_are_left_out_and_said_so() {
    // postconf(5): "hostname", "nexthop" and "dot-nexthop" are match keywords; a policy host of
    // that name sent as is would widen the match (RFC 8461 §4.1 names hosts).
    let zone = ZoneOptions::default();
    let p = policy("enforce", &["hostname", "mx1.example.com"]);
    let a = answer("example.com", Some(&p), 60, &zone, None);
    assert_eq!(
        a.reply.text(),
        "OK secure match=mx1.example.com servername=hostname"
    );
    assert!(
        a.reason
            .ends_with("; hostname left out: Postfix reads it as a match keyword"),
        "{}",
        a.reason
    );
    let p = policy("enforce", &["mx1.example.com"]);
    let a = answer("example.com", Some(&p), 60, &zone, None);
    assert!(!a.reason.contains("left out"), "{}", a.reason);
}

/// A valid host name of exactly `len` characters (labels of at most 60), unique by `i`.
fn name_of(i: usize, len: usize) -> String {
    let mut name = format!("m{i:05}");
    let tail = ".example.com";
    // Filled with ".aaa…" labels: each piece is a dot and 1-60 letters, the last at least two.
    let mut fill = len - name.len() - tail.len();
    while fill > 0 {
        let piece = if fill <= 61 { fill } else { 61.min(fill - 2) };
        assert!(piece >= 2, "no name of {len} characters");
        name.push('.');
        name.push_str(&"a".repeat(piece - 1));
        fill -= piece;
    }
    name.push_str(tail);
    assert_eq!(name.len(), len, "{name}");
    name
}

#[test]
fn an_answer_of_exactly_100000_bytes_is_sent_and_one_more_is_temp() {
    // socketmap_table(5): a reply is at most 100000 bytes. "OK secure match=" + names joined
    // by ":" + " servername=hostname": 36 bytes around the names.
    let names_for = |extra: usize| {
        let mut names: Vec<String> = (0..497).map(|i| name_of(i, 200)).collect();
        let used: usize = names.iter().map(|n| n.len() + 1).sum::<usize>() - 1;
        names.push(name_of(497, MAX_REPLY - 36 - used - 1 + extra));
        names
    };
    let zone = ZoneOptions::default();
    for (extra, class) in [(0, "ok"), (1, "temp")] {
        let names = names_for(extra);
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let p = policy("enforce", &refs);
        let a = answer("example.com", Some(&p), 60, &zone, None);
        assert_eq!(a.reply.class(), class, "{extra} over");
        if class == "ok" {
            assert_eq!(a.reply.text().len(), MAX_REPLY);
        }
        assert!(encode(a.reply.text().as_bytes()).is_ok());
    }
    // With the Postfix 3.10 attributes the reply would pass the limit: they are left out, the
    // answer itself still goes.
    let names = names_for(0);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let p = policy("enforce", &refs);
    let attrs = ZoneOptions {
        sts_attributes: true,
        ..Default::default()
    };
    let with = answer("example.com", Some(&p), 60, &attrs, None);
    let without = answer("example.com", Some(&p), 60, &zone, None);
    assert_eq!(with.reply, without.reply);
    assert!(
        with.reason
            .ends_with("; Postfix 3.10 attributes left out: the reply would pass 100000 bytes"),
        "{}",
        with.reason
    );
}

#[test]
fn the_postfix_3_10_attributes_go_up_to_exactly_100000_bytes() {
    // The attributes are kept while the whole reply is at most 100000 bytes, and dropped (the
    // answer still going) from 100001. The TTL's digits move the length one byte at a time.
    let attrs = ZoneOptions {
        sts_attributes: true,
        ..Default::default()
    };
    let reply = |last: usize, ttl: u64| {
        let mut names: Vec<String> = (0..154).map(|i| name_of(i, 200)).collect();
        names.push(name_of(154, last));
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let p = policy("enforce", &refs);
        answer("example.com", Some(&p), ttl, &attrs, None)
    };
    let (last, digits) = (20..=250)
        .find_map(|last| {
            let a = reply(last, 1);
            let len = a.reply.text().len();
            (a.reply.text().contains("policy_ttl=1 ") && len <= MAX_REPLY && MAX_REPLY - len < 9)
                .then(|| (last, MAX_REPLY - len))
        })
        .expect("a last name that brings the reply within 8 bytes of the limit");
    let exact = reply(last, 10u64.pow(digits as u32));
    assert_eq!(exact.reply.text().len(), MAX_REPLY);
    assert!(exact.reply.text().contains("policy_type=sts"));
    let over = reply(last, 10u64.pow(digits as u32 + 1));
    assert_eq!(over.reply.class(), "ok");
    assert!(
        !over.reply.text().contains("policy_type"),
        "dropped at 100001"
    );
    assert!(over.reason.contains("the reply would pass 100000 bytes"));
}
