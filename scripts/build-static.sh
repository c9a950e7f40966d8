#!/usr/bin/env bash
# Builds the fully static release `lethe` (glibc crt-static, with static libcryptsetup,
# libdevmapper and libbtrfsutil), proves it has no dynamic dependencies, and prints its path
# as the last line. The C libraries come from initrd-glue/build-static-libs.sh (cached).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

prefix=$(initrd-glue/build-static-libs.sh | tail -n 1)
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig PKG_CONFIG_ALL_STATIC=1
# --target keeps build scripts and proc macros dynamic: only the final binary is static.
RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release --locked --target x86_64-unknown-linux-gnu -p lethe >&2

bin=$here/target/x86_64-unknown-linux-gnu/release/lethe
kind=$(file -b "$bin")
case $kind in
    *"statically linked"* | *"static-pie linked"*) ;;
    *) echo "build-static: $bin is not static: $kind" >&2; exit 1 ;;
esac
# ldd on a static binary says "not a dynamic executable" (or "statically linked") and fails.
if ldd "$bin" 2>&1 | grep -q '=>'; then
    echo "build-static: ldd found dynamic dependencies in $bin:" >&2
    ldd "$bin" >&2
    exit 1
fi
echo "build-static: $(stat -c %s "$bin") bytes, ${kind%%,*}" >&2
echo "$bin"
