#![no_main]
//! See fuzz/checks.rs (`tlsrpt_report`) for the invariants.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::tlsrpt_report(data));
