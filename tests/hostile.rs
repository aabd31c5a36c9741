//! Hostile inputs get named errors, bounded output and no panic (STYLE: no panics on any input).

use mtasts::{
    lint_policy, lint_policy_bytes, lint_record, parse_policy, parse_policy_bytes, parse_record,
    select_record,
};

#[test]
fn one_megabyte_line() {
    let text = format!(
        "version: STSv1\nmode: enforce\nmx: {}\nmax_age: 86400\n",
        "a".repeat(1 << 20)
    );
    let e = parse_policy(&text).unwrap_err();
    assert_eq!(e.diagnostic().unwrap().code, "policy-mx-invalid");
    let lint = lint_policy(&text);
    assert!(lint.diagnostics.len() < 10);
    let e = parse_record(&format!("v=STSv1; id={}", "1".repeat(1 << 20))).unwrap_err();
    assert_eq!(e.diagnostic().unwrap().code, "record-id-invalid");
}

#[test]
fn hundred_thousand_lines() {
    let mut text = String::from("version: STSv1\nmode: enforce\nmax_age: 86400\n");
    for i in 0..100_000 {
        text.push_str(&format!("mx: mx{i}.example.com\n"));
    }
    let p = parse_policy(&text).unwrap();
    assert_eq!(p.mx.len(), 100_000);
    // 100k bad lines: lint output is bounded and says how many it left out.
    let bad = "junk\n".repeat(100_000);
    let lint = lint_policy(&bad);
    assert_eq!(
        lint.diagnostics.len(),
        mtasts::diagnostic::MAX_DIAGNOSTICS + 1
    );
    assert_eq!(lint.diagnostics.last().unwrap().code, "lint-truncated");
    // More warnings than the cap before the first error: the error is still listed, so lint has
    // an error exactly when the strict parse fails (a fuzz find: fuzz/regressions/policy/).
    let late = format!("{}\0/'nm", "\n".repeat(247));
    assert!(parse_policy(&late).is_err());
    let lint = lint_policy(&late);
    assert!(lint.policy.is_none());
    let errors: Vec<_> = lint
        .diagnostics
        .iter()
        .filter(|d| d.severity == mtasts::Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "the first error is listed past the cap");
    assert_eq!(
        (errors[0].code, errors[0].line),
        ("policy-line-invalid", 248)
    );
    assert_eq!(
        lint.diagnostics.len(),
        mtasts::diagnostic::MAX_DIAGNOSTICS + 2
    );
    // 100k duplicate mx lines are found with a hash set, not pairwise.
    let dup = format!(
        "version: STSv1\nmode: enforce\nmax_age: 86400\n{}",
        "mx: a.example\n".repeat(100_000)
    );
    assert_eq!(parse_policy(&dup).unwrap().mx.len(), 100_000);
}

#[test]
fn nul_and_invalid_utf8() {
    let e = parse_policy_bytes(b"version: STSv1\x00\nmode: enforce\n").unwrap_err();
    assert_eq!(e.code(), "policy-invalid");
    assert_eq!(e.diagnostic().unwrap().code, "policy-version-invalid");
    let e = parse_policy_bytes(b"version: STSv1\nmode: \xc3\x28\n").unwrap_err();
    let d = e.diagnostic().unwrap();
    assert_eq!((d.code, d.line, d.column), ("policy-encoding", 2, 7));
    let lint = lint_policy_bytes(&[0xff; 4096]);
    assert_eq!(lint.diagnostics[0].code, "policy-encoding");
    assert!(lint.policy.is_none());
    let lint = lint_record("\0\0\0", Some("_mta-sts.\0"));
    assert_eq!(lint.diagnostics[0].code, "record-version");
}

#[test]
fn every_byte_in_every_position_is_safe() {
    // Each single byte at the start, the middle and the end of a valid policy and record.
    let policy = b"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n".to_vec();
    let record = b"v=STSv1; id=1; x=y".to_vec();
    for byte in 0..=255u8 {
        for input in [&policy, &record] {
            for at in [0, input.len() / 2, input.len()] {
                let mut v = input.clone();
                v.insert(at, byte);
                let _ = parse_policy_bytes(&v);
                let _ = lint_policy_bytes(&v);
                let s = String::from_utf8_lossy(&v);
                let _ = parse_record(&s);
                let _ = lint_record(&s, Some(&s));
                let _ = select_record(&[[s.as_ref()]]);
            }
        }
    }
}
