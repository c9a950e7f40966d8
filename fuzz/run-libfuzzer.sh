#!/usr/bin/env bash
# Builds and runs a libFuzzer target the way `cargo fuzz run NAME` does (same RUSTFLAGS), for
# machines with a nightly toolchain but no cargo-fuzz. Usage: run-libfuzzer.sh [RUNS] [TARGET]
# (default 1000000 and reply, the DHCP one; the others: config, authorized_keys, cmdline,
# kmod, probe, ask_password, line_editor); extra libFuzzer flags after them. Crashes land in
# artifacts/.
set -euo pipefail
cd "$(dirname "$0")"
runs=${1:-1000000}
shift || true
target=reply
if [[ ${1:-} != "" && ${1:-} != -* ]]; then
    target=$1
    shift
fi
mkdir -p "corpus/$target" artifacts
# Seed the corpus with well-formed inputs (what the stable loops mutate from).
if [[ $target == reply ]]; then
    cargo run --quiet --release --bin reply_loop -- --write-seeds corpus/reply >&2
else
    cargo run --quiet --release --bin parsers_loop -- "$target" --write-seeds corpus >&2
fi
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
cargo +nightly build --release --features libfuzzer --bin "$target" --target x86_64-unknown-linux-gnu >&2
exec "target/x86_64-unknown-linux-gnu/release/$target" -artifact_prefix=artifacts/ -runs="$runs" "$@" "corpus/$target"
