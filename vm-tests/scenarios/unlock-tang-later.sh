# description: LUKS2 root bound to a Tang server that is down at boot and comes up later: the failed round is logged once, no prompt is answered, and a later round opens the disk by itself; stage 2 runs
# Needs stage 1 to bring the network up and serve::serve_unlocker to race unlock.tang.
source "$VM_ROOT/lib/tang.sh"

scenario() {
    local disk initrd port log qemu status=0
    tang_scenario_setup
    tang_stop
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --hostfwd "$port:22" --timeout 150 \
        --background "$WORK/qemu.pid"
    qemu=$(cat "$WORK/qemu.pid")
    local failed="unlock: crypted: tang: /dev/vda token 0: .*$TANG_URL"
    wait_log "$log" "$failed" "$qemu"
    # The same server (port and keys) comes back; the guest's next round finds it.
    tang_start
    wait_vm "$qemu" || return 1
    tang_stop
    (($(clean_log "$log" | grep -cE -- "$failed") == 1)) ||
        { echo "the failure was logged more than once"; status=1; }
    check_log "$log" \
        --want "unlock: crypted: opened by tang \\($TANG_URL\\)" \
        --want '@@ROOT-MARKER unlocked root' \
        --want '@@STAGE2-DONE' \
        --refuse 'logged in' --refuse "$TANG_PASSPHRASE" || status=1
    return $status
}
