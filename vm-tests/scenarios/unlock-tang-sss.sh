# description: LUKS2 root bound by clevis to an sss pin, threshold 1, over two Tang servers of which the first is down (nothing listens on its port) and the second is Debian's tangd: stage 1 opens the disk with no prompt answered, from the one server that answers; stage 2 runs
# Needs stage 1 to bring the network up and serve::serve_unlocker to race unlock.tang.
source "$VM_ROOT/lib/tang.sh"

scenario() {
    local disk initrd port log status=0
    tang_scenario_setup tang_bind_sss
    log=$WORK/serial.log
    # Nobody answers a prompt: without Tang the boot would wait there until the timeout.
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --hostfwd "$port:22" --timeout 150 || true
    tang_stop
    check_log "$log" \
        --want "tang: $TANG_URL: key recovered" \
        --want 'unlock: crypted: opened /dev/vda as /dev/mapper/crypted \(keyslot 1\)' \
        --want "unlock: crypted: opened by tang \\($TANG_URL\\)" \
        --want '@@ROOT-MARKER unlocked root' \
        --want '@@STAGE2-DONE' \
        --refuse "key recovered.*${DOWN_URL#http://}" --refuse 'logged in' --refuse "$TANG_PASSPHRASE" || status=1
    return $status
}
