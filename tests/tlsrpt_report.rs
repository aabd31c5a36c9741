//! The TLS-RPT aggregate report (RFC 8460 §4) through its public API: the shared vector files
//! tests/vectors/tlsrpt-report-{build,read}.json (also run by tests/js/tlsrpt-report.test.mjs),
//! hostile input, build → read round trips, and an independent reader (parsedmarc).
//!
//! The parsedmarc check needs a Python venv with parsedmarc: scripts/setup makes one at
//! target/py-peers (`python3 -m venv target/py-peers && target/py-peers/bin/pip install
//! parsedmarc`); another with TLSRPT_PARSEDMARC_VENV=/path/to/venv. Without one it is skipped
//! with its reason.

use mtasts::tlsrpt::report::{
    build_reports, read_report, ReportOptions, SessionResult, MAX_DEPTH, MAX_REPORT_BYTES,
};
use serde_json::{json, Value};

fn load(name: &str) -> Vec<Value> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A read case's text: `text` as is, or `report` written as JSON.
fn text_of(case: &Value) -> String {
    match case.get("text") {
        Some(t) => t.as_str().unwrap().to_string(),
        None => serde_json::to_string_pretty(&case["report"]).unwrap(),
    }
}

#[test]
fn read_vectors() {
    let cases = load("tlsrpt-report-read.json");
    assert!(cases.len() >= 20);
    for c in &cases {
        let name = c["name"].as_str().unwrap();
        let got = read_report(&text_of(c));
        match c["expect"].get("error") {
            Some(code) => {
                let e = got.expect_err(name);
                assert_eq!(e.code(), code.as_str().unwrap(), "{name}: {e}");
                assert_eq!(e.rfc(), "RFC 8460 §4", "{name}");
                assert!(!e.to_string().is_empty());
            }
            None => {
                let s = got.unwrap_or_else(|e| panic!("{name}: {e}"));
                let mut v = serde_json::to_value(&s).unwrap();
                let problems: Vec<Value> = v["problems"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["code"].clone())
                    .collect();
                assert_eq!(
                    Value::Array(problems),
                    c["expect"]["problems"],
                    "{name}: problems"
                );
                for p in &s.problems {
                    assert!(p.rfc.starts_with("RFC 8460 §4"), "{name}: {}", p.rfc);
                    assert!(!p.message.is_empty());
                }
                v.as_object_mut().unwrap().remove("problems");
                assert_eq!(v, c["expect"]["summary"], "{name}: summary");
            }
        }
    }
}

#[test]
fn build_vectors() {
    for c in load("tlsrpt-report-build.json") {
        let name = c["name"].as_str().unwrap();
        let o = &c["options"];
        let s = |k: &str| o[k].as_str().unwrap();
        let options = ReportOptions {
            organization: s("organization"),
            contact: s("contact"),
            submitter: s("submitter"),
            day: s("day"),
        };
        let results: Vec<SessionResult> = serde_json::from_value(c["results"].clone()).unwrap();
        let got = build_reports(&options, &results);
        match c["expect"].get("error") {
            Some(code) => assert_eq!(got.unwrap_err().code(), code.as_str().unwrap(), "{name}"),
            None => {
                let reports = got.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    serde_json::to_value(&reports).unwrap(),
                    c["expect"]["reports"],
                    "{name}"
                );
                // Shuffled input (reversed, and every rotation) gives the same bytes.
                let mut r = results.clone();
                r.reverse();
                for _ in 0..r.len() {
                    r.rotate_left(1);
                    assert_eq!(
                        build_reports(&options, &r).unwrap(),
                        reports,
                        "{name}: order"
                    );
                }
                // Read back: the counts of the input, no problems.
                for report in &reports {
                    let summary = read_report(&report.json).unwrap();
                    assert_eq!(summary.problems, vec![], "{name}: {}", report.json);
                    assert_eq!(summary.report_id, report.report_id);
                    let domain = &report.policy_domain;
                    let ours = results.iter().filter(|x| {
                        mtasts::domain::normalize_domain(&x.policy_domain).unwrap() == *domain
                    });
                    let (ok, failed) = ours.fold((0, 0), |(s, f), x| {
                        if x.result == "success" {
                            (s + x.count, f)
                        } else {
                            (s, f + x.count)
                        }
                    });
                    assert_eq!(
                        summary.policies.iter().map(|p| p.successful).sum::<u64>(),
                        ok,
                        "{name}: {domain}"
                    );
                    assert_eq!(
                        summary.policies.iter().map(|p| p.failed).sum::<u64>(),
                        failed,
                        "{name}: {domain}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_rfc_example_reads_with_its_counts() {
    let cases = load("tlsrpt-report-read.json");
    let s = read_report(&text_of(&cases[0])).unwrap();
    let p = &s.policies[0];
    assert_eq!(
        (p.policy_domain.as_str(), p.successful, p.failed),
        ("company-y.example", 5326, 303)
    );
    assert_eq!(p.failures.iter().map(|f| f.count).sum::<u64>(), 303);
    assert_eq!(s.date_range.start, "2016-04-01T00:00:00Z");
}

#[test]
fn hostile_input_gives_named_errors() {
    // Over the size limit: refused before parsing, even when the excess is whitespace.
    let mut huge = String::from("{\"policies\":[]}");
    huge.push_str(&" ".repeat(MAX_REPORT_BYTES));
    assert_eq!(
        read_report(&huge).unwrap_err().code(),
        "tlsrpt-report-too-large"
    );
    // Exactly the limit is read: the same report padded with blanks to MAX_REPORT_BYTES.
    let mut at_limit = clean_report().to_string();
    at_limit.push_str(&" ".repeat(MAX_REPORT_BYTES - at_limit.len()));
    assert!(read_report(&at_limit).is_ok());
    at_limit.push(' ');
    assert_eq!(
        read_report(&at_limit).unwrap_err().code(),
        "tlsrpt-report-too-large"
    );
    // Deep nesting: past MAX_DEPTH, and far past serde_json's own recursion limit.
    for depth in [MAX_DEPTH + 1, 10_000, 1_000_000] {
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(
            read_report(&deep).unwrap_err().code(),
            "tlsrpt-report-too-deep",
            "{depth}"
        );
        let objects = format!("{{\"policies\":{}", "{\"a\":".repeat(depth));
        assert_eq!(
            read_report(&objects).unwrap_err().code(),
            "tlsrpt-report-too-deep",
            "{depth}"
        );
    }
    // Brackets inside strings are no nesting.
    let brackets = json!({ "organization-name": "[".repeat(100), "date-range": { "start-datetime": "2016-04-01T00:00:00Z", "end-datetime": "2016-04-01T23:59:59Z" }, "report-id": "x", "contact-info": "y", "policies": [] });
    assert!(read_report(&brackets.to_string()).is_ok());
    // Wrong types everywhere a value is needed; none panics.
    let values = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1.5),
        json!("x"),
        json!([]),
        json!({}),
        json!([null]),
        json!([{}]),
    ];
    let base = json!({ "organization-name": "o", "date-range": { "start-datetime": "2016-04-01T00:00:00Z", "end-datetime": "2016-04-01T23:59:59Z" },
        "contact-info": "c", "report-id": "r",
        "policies": [{ "policy": { "policy-type": "sts", "policy-domain": "example.com" },
            "summary": { "total-successful-session-count": 1, "total-failure-session-count": 1 },
            "failure-details": [{ "result-type": "certificate-expired", "sending-mta-ip": "192.0.2.1", "failed-session-count": 1 }] }] });
    assert_eq!(
        read_report(&base.to_string()).unwrap().problems,
        vec![],
        "the base reads cleanly"
    );
    // The replacements a reader takes silently: a string where one is expected, an empty array
    // of patterns, failure details or policies, and null for an optional member.
    let silent = |last: &str, v: &Value| match last {
        "receiving-ip" => v.is_string() || v.is_null(),
        "policy-domain" => v.is_string(),
        "mx-host" | "failure-details" => v == &json!([]) || v.is_null(),
        "policies" => v == &json!([]),
        _ => false,
    };
    let paths: &[&[&str]] = &[
        &["date-range"],
        &["policies"],
        &["policies", "0"],
        &["policies", "0", "policy"],
        &["policies", "0", "policy", "policy-type"],
        &["policies", "0", "policy", "policy-domain"],
        &["policies", "0", "policy", "mx-host"],
        &["policies", "0", "summary"],
        &["policies", "0", "summary", "total-failure-session-count"],
        &["policies", "0", "failure-details"],
        &["policies", "0", "failure-details", "0"],
        &["policies", "0", "failure-details", "0", "result-type"],
        &["policies", "0", "failure-details", "0", "receiving-ip"],
    ];
    for path in paths {
        for v in &values {
            let mut r = base.clone();
            let mut at = &mut r;
            for k in &path[..path.len() - 1] {
                at = if let Ok(i) = k.parse::<usize>() {
                    &mut at[i]
                } else {
                    &mut at[*k]
                };
            }
            let last = path[path.len() - 1];
            if let Ok(i) = last.parse::<usize>() {
                at[i] = v.clone()
            } else {
                at[last] = v.clone()
            }
            match read_report(&r.to_string()) {
                Ok(s) => assert!(
                    !s.problems.is_empty() || silent(last, v),
                    "{path:?} = {v}: accepted without a problem"
                ),
                Err(e) => assert!(
                    e.code().starts_with("tlsrpt-report-"),
                    "{path:?} = {v}: {}",
                    e.code()
                ),
            }
        }
    }
}

/// The venv's python, or why the parsedmarc check is skipped.
fn parsedmarc_python() -> Result<std::path::PathBuf, String> {
    let venv = std::env::var("TLSRPT_PARSEDMARC_VENV")
        .unwrap_or_else(|_| format!("{}/target/py-peers", env!("CARGO_MANIFEST_DIR")));
    let python = std::path::Path::new(&venv).join("bin/python");
    if !python.exists() {
        return Err(format!("no venv at {venv}: create it with `python3 -m venv {venv} && {venv}/bin/pip install parsedmarc`"));
    }
    Ok(python)
}

#[test]
fn parsedmarc_reads_the_reports_we_build() {
    let python = match parsedmarc_python() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("skipped: parsedmarc check: {why}");
            return;
        }
    };
    let mut texts = Vec::new();
    for c in load("tlsrpt-report-build.json") {
        if c["expect"].get("reports").is_some() {
            for r in c["expect"]["reports"].as_array().unwrap() {
                texts.push(r["json"].as_str().unwrap().to_string());
            }
        }
    }
    assert!(texts.len() >= 2);
    let helper = format!("{}/tests/tlsrpt_parsedmarc.py", env!("CARGO_MANIFEST_DIR"));
    let mut child = std::process::Command::new(&python)
        .arg(&helper)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&texts).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "parsedmarc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed.len(), texts.len());
    for (text, p) in texts.iter().zip(&parsed) {
        let ours: Value = serde_json::from_str(text).unwrap();
        assert_eq!(p["organization_name"], ours["organization-name"]);
        assert_eq!(p["contact_info"], ours["contact-info"]);
        assert_eq!(p["report_id"], ours["report-id"]);
        assert_eq!(p["begin_date"], ours["date-range"]["start-datetime"]);
        assert_eq!(p["end_date"], ours["date-range"]["end-datetime"]);
        let policies = ours["policies"].as_array().unwrap();
        assert_eq!(p["policies"].as_array().unwrap().len(), policies.len());
        for (pp, op) in p["policies"].as_array().unwrap().iter().zip(policies) {
            assert_eq!(pp["policy_domain"], op["policy"]["policy-domain"]);
            assert_eq!(pp["policy_type"], op["policy"]["policy-type"]);
            assert_eq!(pp.get("policy_strings"), op["policy"].get("policy-string"));
            assert_eq!(
                pp["successful_session_count"],
                op["summary"]["total-successful-session-count"]
            );
            assert_eq!(
                pp["failed_session_count"],
                op["summary"]["total-failure-session-count"]
            );
            let details = op["failure-details"].as_array().unwrap();
            let theirs = pp["failure_details"].as_array().unwrap();
            assert_eq!(theirs.len(), details.len());
            for (t, d) in theirs.iter().zip(details) {
                let d = d.as_object().unwrap();
                let mut want = serde_json::Map::new();
                for (k, v) in d {
                    // parsedmarc's names: snake_case, and additional_info_uri for additional-information.
                    let name = if k == "additional-information" {
                        "additional_info_uri".to_string()
                    } else {
                        k.replace('-', "_")
                    };
                    want.insert(name, v.clone());
                }
                assert_eq!(t, &Value::Object(want), "{text}");
            }
        }
    }
    eprintln!(
        "parsedmarc read {} reports with the same counts and fields",
        parsed.len()
    );
}

/// A report that reads cleanly, for the tests below to change.
fn clean_report() -> Value {
    json!({ "organization-name": "o", "date-range": { "start-datetime": "2016-04-01T00:00:00Z", "end-datetime": "2016-04-01T23:59:59Z" },
        "contact-info": "c", "report-id": "r",
        "policies": [{ "policy": { "policy-type": "sts", "policy-domain": "example.com", "mx-host": ["mx1.example.com"] },
            "summary": { "total-successful-session-count": 1, "total-failure-session-count": 1 },
            "failure-details": [{ "result-type": "certificate-expired", "sending-mta-ip": "192.0.2.1", "failed-session-count": 1 }] }] })
}

#[test]
fn nesting_is_depth_not_the_number_of_brackets() {
    // 100 policies of four levels each open 600 brackets; the report is 5 deep.
    let mut r = clean_report();
    let one = r["policies"][0].clone();
    r["policies"] = Value::Array(vec![one; 100]);
    let summary = read_report(&r.to_string()).unwrap();
    assert_eq!(summary.policies.len(), 100);
}

#[test]
fn a_value_of_the_wrong_type_is_named_by_its_kind() {
    // (report text, the kind the error names)
    for (text, kind) in [
        ("null", "null"),
        ("true", "a boolean"),
        ("1", "a number"),
        ("\"r\"", "a string"),
        ("[]", "an array"),
    ] {
        let e = read_report(text).unwrap_err();
        assert_eq!(e.code(), "tlsrpt-report-not-object", "{text}");
        assert!(
            e.to_string().ends_with(&format!("found {kind}")),
            "{text}: {e}"
        );
    }
    let mut r = clean_report();
    r["policies"] = json!({});
    let e = read_report(&r.to_string()).unwrap_err();
    assert_eq!(e.code(), "tlsrpt-report-wrong-type");
    assert!(e.to_string().ends_with("found an object"), "{e}");
}

#[test]
fn tolerated_deviations_cite_their_rule() {
    // What real senders send and the reader takes, each noted with the rule it bends.
    let mut r = clean_report();
    r["policies"][0]["policy"]["mx-host"] = json!("mx1.example.com");
    r["date-range"]["start-datetime"] = json!("2016-04-01T00:00:00");
    r["policies"][0]["policy"]["policy-type"] = json!("dane");
    r["policies"][0]["failure-details"][0]["result-type"] = json!("something-new");
    let problems = read_report(&r.to_string()).unwrap().problems;
    let got: Vec<(&str, &str)> = problems.iter().map(|d| (d.code, d.rfc)).collect();
    for want in [
        (
            "tlsrpt-report-mx-host-string",
            "RFC 8460 §4.4, erratum 6241",
        ),
        ("tlsrpt-report-date-no-zone", "RFC 8460 §4.4, RFC 3339 §5.6"),
        ("tlsrpt-report-policy-type-unknown", "RFC 8460 §4.4"),
        ("tlsrpt-report-result-type-unknown", "RFC 8460 §4.3"),
    ] {
        assert!(got.contains(&want), "{want:?} in {got:?}");
    }
}

#[test]
fn a_bad_count_is_shown_as_written_up_to_40_characters() {
    // RFC 8460 §4.4: counts are non-negative integers. A bad one is quoted in the error while
    // its JSON text is at most 40 characters; a longer one is named by its kind, so an error
    // never carries a megabyte. (count, what the error shows)
    for (count, shown) in [
        (json!(-1), "-1".to_string()),
        (json!("a".repeat(38)), "a".repeat(38)),
        (json!("a".repeat(39)), "a string".to_string()),
        (json!([1, 2]), "[1,2]".to_string()),
        (json!(vec![1; 30]), "an array".to_string()),
    ] {
        let mut r = clean_report();
        r["policies"][0]["failure-details"][0]["failed-session-count"] = count.clone();
        let e = read_report(&r.to_string()).unwrap_err();
        assert_eq!(e.code(), "tlsrpt-report-count-invalid", "{count}");
        let m = e.to_string();
        assert!(
            m[m.rfind(", found ").unwrap()..].contains(&shown),
            "{count}: {m}"
        );
        assert!(
            m.starts_with("expected policies[0].failure-details[0].failed-session-count to be"),
            "the path of the member: {m}"
        );
    }
}

#[test]
fn problems_are_capped_and_a_bad_policy_string_is_noted() {
    // 300 policies each sending mx-host as a string: the summary keeps the first 200 notes
    // (MAX_DIAGNOSTICS), as lint does, and reads every policy.
    let mut r = clean_report();
    let mut one = r["policies"][0].clone();
    one["policy"]["mx-host"] = json!("mx1.example.com");
    r["policies"] = Value::Array(vec![one; 300]);
    let s = read_report(&r.to_string()).unwrap();
    assert_eq!((s.policies.len(), s.problems.len()), (300, 200));
    // RFC 8460 §4.4: policy-string is an array of strings; anything else is ignored, and said.
    for (value, noted) in [
        (json!(["version: STSv1", "mode: enforce"]), false),
        (json!([]), false),
        (json!(["version: STSv1", 1]), true),
        (json!("version: STSv1"), true),
    ] {
        let mut r = clean_report();
        r["policies"][0]["policy"]["policy-string"] = value.clone();
        let problems = read_report(&r.to_string()).unwrap().problems;
        let ignored = problems.iter().any(|d| {
            d.code == "tlsrpt-report-field-ignored" && d.message.contains("policy-string")
        });
        assert_eq!(ignored, noted, "{value}: {problems:?}");
    }
}
