# description: LUKS2 root bound by `clevis luks bind` to Debian's tangd on the host: stage 1 asks Tang as soon as the network is up and opens the disk with no prompt answered (SSH is offered meanwhile); stage 2 runs
# Needs stage 1 to bring the network up and serve::serve_unlocker to race unlock.tang.
source "$VM_ROOT/lib/tang.sh"

scenario() {
    local disk initrd port log status=0
    tang_scenario_setup
    log=$WORK/serial.log
    # Nobody answers a prompt: without Tang the boot would wait there until the timeout.
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --hostfwd "$port:22" --timeout 150 || true
    tang_stop
    check_log "$log" \
        --want 'ssh: listening on port 22' \
        --want "tang: $TANG_URL: key recovered" \
        --want 'unlock: crypted: opened /dev/vda as /dev/mapper/crypted \(keyslot 1\)' \
        --want "unlock: crypted: opened by tang \\($TANG_URL\\)" \
        --want '@@ROOT-MARKER unlocked root' \
        --want '@@STAGE2-DONE' \
        --refuse 'logged in' --refuse "$TANG_PASSPHRASE" || status=1
    return $status
}
