#![no_main]
//! See fuzz/checks.rs (`smtp_client`) for the invariants.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::smtp_client(data));
