//! libFuzzer target: `fuzz/run-libfuzzer.sh RUNS cmdline` (see src/parsers.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lethe_fuzz::parsers::cmdline(data);
});
