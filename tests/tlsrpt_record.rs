//! Runs tests/vectors/tlsrpt-record.json (RFC 8460 §3 `_smtp._tls` records) against the native
//! core. The same file runs through the built package's Node and browser entries
//! (tests/js/tlsrpt-record.test.mjs) with the same expectations.

use mtasts::tlsrpt::record::{
    lint_tlsrpt_record, parse_tlsrpt_record, select_tlsrpt_record, TlsRptRecord,
};
use mtasts::Error;
use serde_json::{json, Value};

fn load() -> Value {
    let path = format!(
        "{}/tests/vectors/tlsrpt-record.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn cases<'a>(doc: &'a Value, key: &str) -> &'a [Value] {
    doc[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}: an array"))
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

/// The outcome as a vector states it: `{ record }` or `{ error }` with only the keys it states.
fn outcome(got: Result<Option<TlsRptRecord>, Error>, want: &Value) -> Value {
    match got {
        Ok(r) => json!({ "record": serde_json::to_value(&r).unwrap() }),
        Err(e) => {
            let full = error_json(&e);
            let keys = want["error"]
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default();
            let mut error = json!({});
            for k in keys {
                error[&k] = full[&k].clone();
            }
            if error.as_object().is_some_and(|o| o.is_empty()) {
                error = full;
            }
            json!({ "error": error })
        }
    }
}

#[test]
fn record_vectors() {
    let doc = load();
    let records = cases(&doc, "records");
    assert!(records.len() >= 40, "{} record vectors", records.len());
    let mut failed = Vec::new();
    for c in records {
        let name = c["name"].as_str().unwrap();
        let input = c["input"].as_str().unwrap();
        let want = &c["expect"];
        let parsed = outcome(parse_tlsrpt_record(input).map(Some), want);
        let selected = outcome(select_tlsrpt_record(&[vec![input]]), want);
        let lint = lint_tlsrpt_record(input, None);
        let lint_codes: Vec<&str> = lint.diagnostics.iter().map(|d| d.code).collect();
        let mut ok = &parsed == want;
        if want.get("record").is_some() {
            ok &= &selected == want;
            ok &= serde_json::to_value(&lint.record).unwrap() == want["record"];
        } else {
            ok &= lint.record.is_none();
            ok &= lint
                .diagnostics
                .iter()
                .find(|d| d.is_error())
                .map(|d| d.code)
                == want["error"]["problem"].as_str();
        }
        if let Some(codes) = c.get("lint") {
            ok &= serde_json::to_value(&lint_codes).unwrap() == *codes;
        }
        ok &= lint
            .diagnostics
            .iter()
            .all(|d| d.rfc == "RFC 8460 §3" && d.line == 1 && d.column >= 1);
        if !ok {
            failed.push(format!(
                "{name}: want {want}, parsed {parsed}, selected {selected}, lint {lint_codes:?}"
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "failed record vectors:\n{}",
        failed.join("\n")
    );
}

#[test]
fn name_vectors() {
    let doc = load();
    for c in cases(&doc, "names") {
        let name = c["name"].as_str().unwrap();
        let lint = lint_tlsrpt_record(c["input"].as_str().unwrap(), c["dnsName"].as_str());
        let codes: Vec<&str> = lint.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(serde_json::to_value(&codes).unwrap(), c["lint"], "{name}");
        assert_eq!(
            lint.record.is_some(),
            codes.is_empty(),
            "{name}: a wrong name is an error"
        );
    }
}

#[test]
fn select_vectors() {
    let doc = load();
    for c in cases(&doc, "select") {
        let name = c["name"].as_str().unwrap();
        let records: Vec<Vec<String>> = serde_json::from_value(c["input"].clone()).unwrap();
        let want = &c["expect"];
        let got = outcome(select_tlsrpt_record(&records), want);
        let want = if want.get("record").is_some_and(Value::is_null) {
            json!({ "record": null })
        } else {
            want.clone()
        };
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn parse_of_the_printed_record_gives_it_back() {
    // Round trip: a record built from the parsed fields parses to the same fields.
    let doc = load();
    for c in cases(&doc, "records") {
        let Ok(r) = parse_tlsrpt_record(c["input"].as_str().unwrap()) else {
            continue;
        };
        let mut text = format!("v={}; rua={}", r.version, r.rua.join(","));
        for (k, v) in &r.extensions {
            text.push_str(&format!("; {k}={v}"));
        }
        assert_eq!(parse_tlsrpt_record(&text).as_ref(), Ok(&r), "{}", c["name"]);
    }
}
