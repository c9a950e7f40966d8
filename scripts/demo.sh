#!/usr/bin/env bash
# The main job, end to end: set up this machine, build the static lethe, build an initrd and a
# test disk, and boot a real Debian kernel in QEMU with lethe as stage 1, saying what happens.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
[[ -x $HOME/.cargo/bin/cargo ]] && export PATH=$HOME/.cargo/bin:$PATH

scripts/setup.sh
bin=$(scripts/build-static.sh | tail -n 1)
echo "demo: lethe is one static binary: $bin ($(stat -c %s "$bin") bytes)"
"$bin" check-config examples/forge.json >/dev/null
echo "demo: the forge example host's config (examples/forge.json) is valid"
exec vm-tests/demo "$bin"
