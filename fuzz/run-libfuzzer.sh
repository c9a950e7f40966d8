#!/usr/bin/env bash
# Builds and runs the libFuzzer target the way `cargo fuzz run reply` does (same RUSTFLAGS),
# for machines with a nightly toolchain but no cargo-fuzz. Usage: run-libfuzzer.sh [RUNS]
# (default 1000000); extra libFuzzer flags after it. Crashes land in artifacts/.
set -euo pipefail
cd "$(dirname "$0")"
runs=${1:-1000000}
shift || true
mkdir -p corpus/reply artifacts
# Seed the corpus with well-formed replies (what the stable loop mutates from).
cargo run --quiet --release --bin reply_loop -- --write-seeds corpus/reply >&2
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
cargo +nightly build --release --features libfuzzer --bin reply --target x86_64-unknown-linux-gnu >&2
exec target/x86_64-unknown-linux-gnu/release/reply -artifact_prefix=artifacts/ -runs="$runs" "$@" corpus/reply
