# description: lethe as PID 1 under another name (rdinit=/lethe) runs stage 1 and boots stage 2, no kernel panic

scenario() {
    local disk initrd log
    disk=$(make_disk disk.img)
    write_config "$WORK/config.json" "$(boot_json)"
    # The same lethe also at /lethe; the kernel runs rdinit= instead of /init (and does not fall
    # back to /init when it fails: it panics).
    initrd=$(make_initrd initrd.cpio "$WORK/config.json" --file "$LETHE_BIN:/lethe")
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 90 --append "rdinit=/lethe single" ||
        { echo "QEMU ended with status $? (124: timeout)"; return 1; }
    check_log "$log" \
        --want 'lethe: stage 1 starting \(lethe [^,]+, started as /lethe\)' \
        --want 'lethe: .*mount the root filesystem: /dev/vda on /sysroot' \
        --want '@@STAGE2 pid=1 ' --want '@@ARGS .*single' --want '@@STAGE2-DONE' \
        --refuse 'Attempted to kill init' --refuse 'Usage:'
}
