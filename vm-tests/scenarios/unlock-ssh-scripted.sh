# description: LUKS2 root unlocked by `echo -n PASS | ssh root@host unlock` (no pty): `status` first, a wrong passphrase exits 1, the right one exits 0; stage 2 runs
# Needs stage 1 to bring the network up and call serve::serve_unlocker with the ssh section.
source "$VM_ROOT/scenarios/unlock-ssh.sh"

scenario() {
    local disk initrd port log qemu rc status=0
    ssh_scenario_setup
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --hostfwd "$port:22" --timeout 150 \
        --background "$WORK/qemu.pid"
    qemu=$(cat "$WORK/qemu.pid")
    wait_log "$log" 'ssh: listening on port 22' "$qemu"
    local pending
    pending=$(ssh_vm "$port" status </dev/null)
    [[ $pending == "pending: crypted" ]] || { echo "status said: $pending"; return 1; }
    rc=0
    printf 'wrong guess' | ssh_vm "$port" unlock 2>"$WORK/wrong.err" || rc=$?
    ((rc == 1)) || { echo "wrong passphrase: exit $rc, stderr: $(cat "$WORK/wrong.err")"; return 1; }
    grep -qx 'lethe: wrong passphrase for crypted' "$WORK/wrong.err" || { echo "wrong: $(cat "$WORK/wrong.err")"; return 1; }
    rc=0
    printf 'correct horse\n' | ssh_vm "$port" cryptsetup-askpass 2>"$WORK/right.err" || rc=$?
    ((rc == 0)) || { echo "right passphrase: exit $rc, stderr: $(cat "$WORK/right.err")"; return 1; }
    grep -qx 'lethe: opened crypted; the boot continues' "$WORK/right.err" || { echo "right: $(cat "$WORK/right.err")"; return 1; }
    while kill -0 "$qemu" 2>/dev/null; do sleep 0.2; done
    check_log "$log" \
        --want 'scripted unlock: lethe: wrong passphrase for crypted' \
        --want 'scripted unlock: lethe: opened crypted' \
        --want 'ssh: listener closed' \
        --want '@@ROOT-MARKER unlocked root' \
        --want '@@STAGE2-DONE' \
        --refuse 'correct horse' --refuse 'wrong guess' || status=1
    return $status
}
