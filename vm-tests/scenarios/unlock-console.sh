# description: LUKS2 root opened directly through libcryptsetup from a passphrase typed on the serial console (wrong, then right); stage 2 runs
# The serial port is a pair of FIFOs: the test reads the console from one and types into the
# other, as a person at the machine would. Nothing typed may appear on the console.

scenario() {
    local disk initrd log qemu console
    # allowDiscards reaches the kernel: the opened device passes discards through.
    cat >"$WORK/check-discard" <<'SH'
#!/nix/stage2/busybox sh
B=/nix/stage2/busybox
echo "@@DISCARD vda=$($B cat /sys/block/vda/queue/discard_max_bytes) dm=$($B cat /sys/block/dm-0/queue/discard_max_bytes)"
SH
    chmod +x "$WORK/check-discard"
    disk=$(make_disk disk.img --luks "correct horse" --root-marker "unlocked root" \
        --file "$WORK/check-discard:nix/stage2/check.d/10-discard")
    local boot
    boot=$(printf '{"kernelModules": ["virtio_pci", "virtio_blk", "btrfs", "dm_crypt", "xts", "ecb"], "root": {"device": "/dev/mapper/crypted", "fsType": "btrfs", "options": "subvol=root"}, "mounts": [{"device": "/dev/mapper/crypted", "mountPoint": "/nix", "options": "subvol=nix"}], "init": "/nix/stage2/init"}')
    write_config "$WORK/config.json" "$boot" \
        '"unlock": {"devices": [{"name": "crypted", "device": "/dev/vda", "allowDiscards": true, "bypassWorkqueues": true}], "console": true}'
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 120 \
        --background "$WORK/qemu.pid" --console "$WORK/serial"
    qemu=$(cat "$WORK/qemu.pid")
    exec {console}<>"$WORK/serial.in" # read-write: never blocks, even if QEMU did not start
    wait_log "$log" 'Passphrase for crypted \(/dev/vda\): ' "$qemu"
    printf 'wrong guess\n' >&"$console"
    wait_log "$log" 'Wrong passphrase' "$qemu"
    wait_log "$log" 'Passphrase for crypted \(/dev/vda\): ' "$qemu" 2
    printf 'correct horse\n' >&"$console"
    exec {console}>&-
    wait_vm "$qemu" || return 1
    check_log "$log" \
        --want 'unlock: crypted: no keyslot of /dev/vda matches the passphrase' \
        --want 'unlock: crypted: opened /dev/vda as /dev/mapper/crypted' \
        --want 'Opened crypted; the boot continues\.' \
        --want 'step [0-9]+/[0-9]+ unlock the encrypted devices: opened crypted' \
        --want 'mount the root filesystem: /dev/mapper/crypted on /sysroot' \
        --want '@@ROOT-MARKER unlocked root' \
        --want '@@DISCARD vda=[1-9][0-9]* dm=[1-9][0-9]*$' \
        --want '@@STAGE2-DONE' \
        --refuse 'correct horse' --refuse 'wrong guess' --refuse 'verify-only'
}
