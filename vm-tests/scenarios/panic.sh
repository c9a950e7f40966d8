# description: a panic in lethe as PID 1 (lethe.test_panic) prints its message and enters the failure state; no kernel panic

scenario() {
    local disk initrd log
    disk=$(make_disk disk.img)
    write_config "$WORK/config.json" "$(boot_json)"
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 60 \
        --append "lethe.test_panic lethe.on_failure=poweroff lethe.failure_delay=1" ||
        { echo "QEMU ended with status $? (124: timeout: no poweroff after the panic)"; return 1; }
    # check_log refuses "Kernel panic" (PID 1 exiting or aborting would cause one).
    check_log "$log" --allow-failure \
        --want 'lethe: BOOT FAILED: internal error \(a bug in lethe, please report it\): deliberate panic \(lethe.test_panic on the kernel command line\) at agent/src/init/mod.rs:[0-9]+' \
        --want 'powering off in 1 s' --want 'reboot: Power down' \
        --refuse '@@STAGE2' --refuse 'Attempted to kill init'
}
