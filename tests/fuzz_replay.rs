//! Replays every fuzz corpus and regression file (fuzz/corpus/<target>/, fuzz/regressions/<target>/)
//! through the same checks the libFuzzer targets run (fuzz/checks.rs), on the stable toolchain: a
//! crash the fuzzer found, once its file is kept, is a failing `cargo test`. Each target must have
//! a corpus (seeded from the vector tables by fuzz/seed.mjs, grown by fuzz/run.sh).

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

/// A target's name and its check.
type Target = (&'static str, fn(&[u8]));

const TARGETS: &[Target] = &[
    ("record", checks::record),
    ("policy", checks::policy),
    ("mx", checks::mx),
    ("tlsrpt_record", checks::tlsrpt_record),
    ("tlsrpt_report", checks::tlsrpt_report),
    ("smtp_reply", checks::smtp_reply),
    ("smtp_client", checks::smtp_client),
    ("discovery", checks::discovery),
    ("delivery", checks::delivery),
    ("cert", checks::cert),
    ("socketmap", checks::socketmap),
];

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

#[test]
fn every_corpus_and_regression_file_passes_its_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, check) in TARGETS {
        let corpus = files(&root.join("corpus").join(name));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{name} is empty: run node fuzz/seed.mjs"
        );
        let regressions = files(&root.join("regressions").join(name));
        for file in corpus.iter().chain(&regressions) {
            // A fuzzer running on the corpus meanwhile may have replaced the file.
            let Ok(data) = std::fs::read(file) else {
                continue;
            };
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "{name}: {} fails its check",
                file.display()
            );
        }
    }
}

#[test]
fn every_target_has_a_libfuzzer_entry() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    for (name, _) in TARGETS {
        let text = std::fs::read_to_string(root.join(format!("{name}.rs"))).unwrap_or_default();
        assert!(
            text.contains(&format!("checks::{name}(")),
            "fuzz/fuzz_targets/{name}.rs runs checks::{name}"
        );
    }
}
