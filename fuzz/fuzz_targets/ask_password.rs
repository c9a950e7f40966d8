//! libFuzzer target: `fuzz/run-libfuzzer.sh RUNS ask_password` (see src/parsers.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lethe_fuzz::parsers::ask_password(data);
});
