#![no_main]
//! See fuzz/checks.rs (`tlsrpt_record`) for the invariants.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::tlsrpt_record(data));
