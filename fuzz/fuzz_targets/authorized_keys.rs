//! libFuzzer target: `fuzz/run-libfuzzer.sh RUNS authorized_keys` (see src/parsers.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lethe_fuzz::parsers::authorized_keys(data);
});
