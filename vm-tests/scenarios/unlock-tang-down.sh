# description: LUKS2 root bound to a Tang server that is down at boot: stage 1's Tang rounds fail (logged once, naming the device and server) while the SSH prompt stays open; `ssh root@host unlock` opens the disk; stage 2 runs
# Needs stage 1 to bring the network up and serve::serve_unlocker to race unlock.tang.
source "$VM_ROOT/lib/tang.sh"
source "$VM_ROOT/scenarios/unlock-ssh.sh"

scenario() {
    local disk initrd port log qemu rc status=0
    tang_scenario_setup
    tang_stop
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --hostfwd "$port:22" --timeout 150 \
        --background "$WORK/qemu.pid"
    qemu=$(cat "$WORK/qemu.pid")
    wait_log "$log" 'ssh: listening on port 22' "$qemu"
    wait_log "$log" "unlock: crypted: tang: /dev/vda token 0: .*$TANG_URL" "$qemu"
    rc=0
    printf '%s\n' "$TANG_PASSPHRASE" | ssh_vm "$port" unlock 2>"$WORK/right.err" || rc=$?
    ((rc == 0)) || { echo "ssh unlock: exit $rc, stderr: $(cat "$WORK/right.err")"; return 1; }
    wait_vm "$qemu" || return 1
    check_log "$log" \
        --want "unlock: crypted: tang: /dev/vda token 0: .*$TANG_URL.*the prompts stay open, retrying" \
        --want 'scripted unlock: lethe: opened crypted' \
        --want 'unlock: crypted: opened /dev/vda as /dev/mapper/crypted \(keyslot 0\)' \
        --want '@@ROOT-MARKER unlocked root' \
        --want '@@STAGE2-DONE' \
        --refuse 'opened by tang' --refuse "$TANG_PASSPHRASE" || status=1
    return $status
}
