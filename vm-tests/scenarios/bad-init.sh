# description: a stage-2 init missing from the root fails before the initramfs is deleted, with a clear message
# Also proves the command-line overrides of the failure policy (lethe.on_failure, lethe.failure_delay).

scenario() {
    local disk initrd log
    disk=$(make_disk disk.img)
    write_config "$WORK/config.json" "$(boot_json)"
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 60 \
        --append "init=/sbin/nothing lethe.on_failure=poweroff lethe.failure_delay=0" ||
        { echo "QEMU ended with status $? (124: timeout: no poweroff after the failure)"; return 1; }
    check_log "$log" --allow-failure \
        --want 'lethe: BOOT FAILED: step [0-9]+/[0-9]+ "switch to the root filesystem": init /sbin/nothing in the new root /sysroot: cannot be found' \
        --want 'powering off in 0 s' \
        --refuse '@@STAGE2'
}
