#![no_main]
//! See fuzz/checks.rs (`socketmap`) for the invariants.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::socketmap(data));
