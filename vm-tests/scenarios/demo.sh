# description: the README's demo (vm-tests/demo): two boots of a LUKS2 disk unlocked over SSH with a DHCP lease, rolled back each time; / forgotten, /persist kept
# The demo checks its own story (exit 0 only when the second boot forgot / and kept /persist);
# running it here keeps the README's first command working.
scenario() {
    LETHE_VM_WORK=$WORK "$VM_ROOT/demo" >"$WORK/demo.out" 2>&1 || { tail -n 3 "$WORK/demo.out"; return 1; }
    grep -q '^== done in' "$WORK/demo.out" || { echo "the demo ended without its summary"; return 1; }
}
