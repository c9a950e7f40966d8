# description: an invalid config in the initrd stops the boot with the config's own error message
# The config is chosen with lethe.config= on the kernel command line (mkinitrd itself refuses
# to install an invalid config as /etc/lethe/config.json).

scenario() {
    local disk initrd log
    disk=$(make_disk disk.img)
    write_config "$WORK/config.json" "$(boot_json)"
    echo '{"version": 1, "boot": {"root": {"device": "vda"}}}' >"$WORK/bad.json"
    initrd=$(make_initrd initrd.cpio "$WORK/config.json" --file "$WORK/bad.json:/etc/lethe/bad.json")
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 60 \
        --append "lethe.config=/etc/lethe/bad.json lethe.on_failure=poweroff lethe.failure_delay=0" ||
        { echo "QEMU ended with status $? (124: timeout: no poweroff after the failure)"; return 1; }
    check_log "$log" --allow-failure \
        --want 'lethe: BOOT FAILED: step 2/[0-9]+ "read the kernel command line and the config": /etc/lethe/bad.json: boot.root.device: expected an absolute path' \
        --refuse '@@STAGE2'
}
