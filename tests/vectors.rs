//! Runs the shared vector files under tests/vectors/ against the native core. The same files run
//! through the built npm package in Node (tests/js/vectors.test.mjs) with the same expectations,
//! so the one core gives one verdict in both places.

use mtasts::{
    lint_policy, lint_policy_bytes, lint_record, mx, parse_policy, parse_policy_bytes,
    parse_record, select_record, Error,
};
use serde_json::{json, Value};

fn load(name: &str) -> Vec<Value> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The error as the JS side sees it: `{ code, problem, line, column }`.
fn error_json(e: &Error) -> Value {
    let mut v = json!({ "code": e.code() });
    if let Some(d) = e.diagnostic() {
        v["problem"] = json!(d.code);
        v["line"] = json!(d.line);
        v["column"] = json!(d.column);
    }
    v
}

/// Keeps only the keys the vector states, so vectors may leave out what they don't test.
fn check_error(name: &str, got: &Value, want: &Value) {
    for (k, w) in want.as_object().expect("error object") {
        assert_eq!(&got[k], w, "{name}: error field {k} (got {got})");
    }
}

fn decode_input(case: &Value) -> Result<String, Vec<u8>> {
    if let Some(s) = case["input"].as_str() {
        return Ok(s.to_string());
    }
    let b64 = case["inputBase64"].as_str().expect("input or inputBase64");
    Err(base64(b64))
}

fn base64(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        acc = (acc << 6) | A.iter().position(|&a| a == c).expect("base64") as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[test]
fn policy_vectors() {
    let cases = load("policy.json");
    assert!(cases.len() > 50);
    let failed: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            std::panic::catch_unwind(|| policy_case(case))
                .err()
                .map(|_| case["name"].to_string())
        })
        .collect();
    assert!(failed.is_empty(), "failed policy vectors: {failed:?}");
}

fn policy_case(case: &Value) {
    {
        let name = case["name"].as_str().unwrap();
        let input = decode_input(case);
        let (parsed, lint) = match &input {
            Ok(s) => (parse_policy(s), lint_policy(s)),
            Err(b) => (parse_policy_bytes(b), lint_policy_bytes(b)),
        };
        let expect = &case["expect"];
        match (&parsed, expect.get("policy")) {
            (Ok(p), Some(want)) => {
                assert_eq!(&serde_json::to_value(p).unwrap(), want, "{name}");
                // parse -> format -> parse is identity.
                let again = parse_policy(&mtasts::format_policy(p)).unwrap();
                assert_eq!(&again, p, "{name}: round trip");
                assert!(lint.policy.as_ref() == Some(p), "{name}: lint agrees");
            }
            (Err(e), None) => {
                check_error(name, &error_json(e), &expect["error"]);
                assert!(lint.policy.is_none(), "{name}: lint gives no policy");
                let first = lint
                    .diagnostics
                    .iter()
                    .find(|d| d.is_error())
                    .expect("lint has an error");
                assert_eq!(
                    Some(first.code),
                    e.diagnostic().map(|d| d.code),
                    "{name}: lint's first error is the thrown one"
                );
            }
            (got, _) => panic!("{name}: got {got:?}, want {expect}"),
        }
        if let Some(codes) = case.get("lint") {
            let got: Vec<&str> = lint.diagnostics.iter().map(|d| d.code).collect();
            assert_eq!(
                serde_json::to_value(&got).unwrap(),
                *codes,
                "{name}: lint codes"
            );
        }
    }
}

#[test]
fn record_vectors() {
    for case in &load("record.json") {
        let name = case["name"].as_str().unwrap();
        let input = case["input"].as_str().unwrap();
        let lint = lint_record(input, None);
        match (parse_record(input), case["expect"].get("record")) {
            (Ok(r), Some(want)) => {
                assert_eq!(&serde_json::to_value(&r).unwrap(), want, "{name}");
                assert_eq!(lint.record.as_ref(), Some(&r), "{name}: lint agrees");
                // A valid record is selected when it is the only one (§3.1).
                assert_eq!(
                    select_record(&[[input]]).unwrap().as_ref(),
                    Some(&r),
                    "{name}: selected"
                );
            }
            (Err(e), None) => {
                check_error(name, &error_json(&e), &case["expect"]["error"]);
                assert!(lint.record.is_none(), "{name}: lint gives no record");
            }
            (got, _) => panic!("{name}: got {got:?}"),
        }
        if let Some(codes) = case.get("lint") {
            let got: Vec<&str> = lint.diagnostics.iter().map(|d| d.code).collect();
            assert_eq!(
                serde_json::to_value(&got).unwrap(),
                *codes,
                "{name}: lint codes"
            );
        }
    }
}

#[test]
fn select_vectors() {
    for case in &load("select.json") {
        let name = case["name"].as_str().unwrap();
        let records: Vec<Vec<String>> = serde_json::from_value(case["input"].clone()).unwrap();
        match (select_record(&records), case["expect"].get("record")) {
            (Ok(r), Some(want)) => assert_eq!(&serde_json::to_value(&r).unwrap(), want, "{name}"),
            (Err(e), None) => check_error(name, &error_json(&e), &case["expect"]["error"]),
            (got, _) => panic!("{name}: got {got:?}"),
        }
    }
}

#[test]
fn mx_vectors() {
    for case in &load("mx.json") {
        let name = case["name"].as_str().unwrap();
        let patterns: Vec<String> = serde_json::from_value(case["patterns"].clone()).unwrap();
        let host = case["host"].as_str().unwrap();
        let got = mx::parse_patterns(&patterns)
            .map_err(Error::from)
            // The verdict of the JS matchMx: a host that is not a domain name matches nothing.
            .map(|p| mx::first_match(&p, host).is_some());
        if let Value::Bool(want) = case["expect"] {
            // The same patterns as a parsed policy's mx list (lower-cased by the parser).
            let mode = if patterns.is_empty() {
                "none"
            } else {
                "enforce"
            };
            let mx: String = patterns.iter().map(|p| format!("mx: {p}\n")).collect();
            let text = format!("version: STSv1\nmode: {mode}\n{mx}max_age: 86400\n");
            let policy = parse_policy(&text).unwrap();
            assert_eq!(
                mx::first_match(&policy.mx, host).is_some(),
                want,
                "{name} (parsed policy)"
            );
        }
        match (got, &case["expect"]) {
            (Ok(b), Value::Bool(want)) => assert_eq!(b, *want, "{name}"),
            (Err(e), want) if want.get("error").is_some() => {
                assert_eq!(e.code(), want["error"], "{name}")
            }
            (got, want) => panic!("{name}: got {got:?}, want {want}"),
        }
    }
}
