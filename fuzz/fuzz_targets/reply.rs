//! libFuzzer target: `cargo +nightly fuzz run --features libfuzzer reply`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lethe_fuzz::exercise(data);
});
