# description: an initrd without /dev/kmsg (mkinitrd --no-dev-nodes): the step lines still reach the serial console, and the kernel log once /dev is mounted

scenario() {
    local disk initrd log count
    cat >"$WORK/kmsg-check" <<'CHECK'
#!/nix/stage2/busybox sh
B=/nix/stage2/busybox
echo "@@KMSG-STEP-LINES $($B dmesg | $B grep -c 'lethe: .*step [0-9]*/[0-9]* ')"
CHECK
    chmod +x "$WORK/kmsg-check"
    disk=$(make_disk disk.img --file "$WORK/kmsg-check:nix/stage2/check.d/40-kmsg")
    write_config "$WORK/config.json" "$(boot_json)"
    initrd=$(make_initrd initrd.cpio "$WORK/config.json" --no-dev-nodes)
    if cpio -it --quiet <"$initrd" | grep -q '^dev/'; then
        echo "the initrd has device nodes: $(cpio -it --quiet <"$initrd" | grep '^dev/' | tr '\n' ' ')"
        return 1
    fi
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 90 ||
        { echo "QEMU ended with status $? (124: timeout)"; return 1; }
    check_log "$log" \
        --want 'lethe: .*step [0-9]+/[0-9]+ load kernel modules: loaded' \
        --want 'lethe: .*mount the root filesystem: /dev/vda on /sysroot' \
        --want '@@KMSG-STEP-LINES ' --want '@@STAGE2-DONE' || return 1
    # Every step after the first is in the kernel log, not only on the console.
    count=$(marker_value "$log" KMSG-STEP-LINES)
    ((count >= 9)) || { echo "only ${count:-?} step lines in the kernel log (dmesg)"; return 1; }
}
