#!/usr/bin/env bash
# The one test command: sets everything up, then runs every check and test (host and VM).
# Needs root: loop devices, mounts, network namespaces, QEMU.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
[[ -x $HOME/.cargo/bin/cargo ]] && export PATH=$HOME/.cargo/bin:$PATH
step() { printf '\n== %s\n' "$*" >&2; }

step setup
scripts/setup.sh
initrd-glue/build-static-libs.sh >/dev/null

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy -D warnings"
cargo clippy --locked --all-targets --all-features -- -D warnings

step "module map and import cycles (agent/tests/layout.rs: CONTRIBUTING.md matches agent/src, no cycle)"
cargo test --locked --all-features --test layout

step "static release build"
bin=$(scripts/build-static.sh | tail -n 1)

step "cargo test (integration tests run the static binary: $bin)"
LETHE_BIN=$bin cargo test --locked --all-features

step "NixOS module and flake: parse, nixpkgs-fmt, deadnix, eval/fixture tests"
LETHE_BIN=$bin nixos-module/check

step "the manual (docs/): mdbook build, then every relative link and #anchor of docs/src, README.md and bench/README.md"
mdbook build docs
docs/check-links

step "DHCP reply handling under 200,000 mutated packets (fuzz/, stable loop)"
(cd fuzz && cargo run --locked --release --quiet --bin reply_loop -- 200000)

step "stage-1 parsers (config, authorized_keys, cmdline, kmod, probe, ask_password, line_editor) under 100,000 mutated inputs each (fuzz/, stable loop)"
(cd fuzz && cargo run --locked --release --quiet --bin parsers_loop -- all 100000)

step "VM scenarios (real Debian kernel under QEMU)"
LETHE_BIN=$bin vm-tests/run
