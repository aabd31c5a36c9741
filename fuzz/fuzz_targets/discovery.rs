#![no_main]
//! See fuzz/checks.rs (`discovery`) for the invariants.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::discovery(data));
