# description: boot.onFailure "wait": after the message the machine stays up (no exit, no kernel panic) until reset

scenario() {
    local disk initrd log status=0
    disk=$(make_disk disk.img)
    write_config "$WORK/config.json" "$(boot_json '"deviceTimeoutSeconds": 1, "onFailure": "wait"')"
    jq '.boot.root.device = "/dev/vdq"' "$WORK/config.json" >"$WORK/c.json" && mv "$WORK/c.json" "$WORK/config.json"
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    log=$WORK/serial.log
    # The VM must still be running when the hard timeout ends it: status 124.
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 25 || status=$?
    ((status == 124)) || { echo "QEMU ended with status $status; expected the timeout (124) while lethe waits"; return 1; }
    check_log "$log" --allow-failure \
        --want 'lethe: BOOT FAILED: step [0-9]+/[0-9]+ "wait for the root device": /dev/vdq: did not appear within 1 s' \
        --want 'lethe: the system cannot start; waiting here' \
        --refuse 'reboot: (Power down|Restarting)' --refuse '@@STAGE2'
}
