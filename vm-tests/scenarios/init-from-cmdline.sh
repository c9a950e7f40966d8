# description: init= on the kernel command line wins over boot.init (config names a missing init)

scenario() {
    local disk initrd log
    disk=$(make_disk disk.img)
    write_config "$WORK/config.json" "$(boot_json)"
    # The config's init does not exist; the boot only works if init= is the one used.
    jq '.boot.init = "/nix/stage2/not-there"' "$WORK/config.json" >"$WORK/c.json"
    mv "$WORK/c.json" "$WORK/config.json"
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --append "init=/nix/stage2/init" ||
        { echo "QEMU ended with status $? (124: timeout)"; return 1; }
    check_log "$log" --want 'stage 2 /nix/stage2/init' --want '@@STAGE2 pid=1 ' --want '@@STAGE2-DONE'
}
