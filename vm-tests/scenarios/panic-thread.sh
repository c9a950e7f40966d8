# description: a panic on another thread (lethe.test_panic=thread) stops the whole boot in the failure state with its message; stage 2 never starts

scenario() {
    local disk initrd log
    disk=$(make_disk disk.img)
    write_config "$WORK/config.json" "$(boot_json)"
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    log=$WORK/serial.log
    # The delay is longer than stage 1 takes to reach stage 2 here (~4 s), so a main thread
    # that went on past the panic would be seen starting stage 2.
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 60 \
        --append "lethe.test_panic=thread lethe.on_failure=poweroff lethe.failure_delay=10" ||
        { echo "QEMU ended with status $? (124: timeout: no poweroff after the panic)"; return 1; }
    check_log "$log" --allow-failure \
        --want 'lethe: BOOT FAILED: internal error \(a bug in lethe, please report it\): deliberate panic \(lethe.test_panic=thread on the kernel command line\) at agent/src/init/mod.rs:[0-9]+ \(on thread test-panic\)' \
        --want 'powering off in 10 s' --want 'reboot: Power down' \
        --refuse '@@STAGE2' --refuse 'switching root' --refuse 'Attempted to kill init'
}
