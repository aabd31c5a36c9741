#![no_main]
//! See fuzz/checks.rs (`smtp_reply`) for the invariants.

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::smtp_reply(data));
