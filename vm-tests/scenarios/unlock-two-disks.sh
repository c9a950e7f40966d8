# description: two LUKS2 disks with different passphrases, typed on the serial console: the first passphrase opens only its disk, the prompt then asks for the other; both mounted in stage 2
# One passphrase is tried on every pending device; what it opens is reported and the rest stay
# pending, so a host with a root disk and a data disk can be opened one passphrase at a time.

scenario() {
    local root data initrd log qemu console boot
    cat >"$WORK/check-data" <<'SH'
#!/nix/stage2/busybox sh
echo "@@DATA-MARKER $(/nix/stage2/busybox cat /data/root-marker 2>&1)"
SH
    chmod +x "$WORK/check-data"
    root=$(make_disk root.img --luks "correct horse" --root-marker "unlocked root" \
        --file "$WORK/check-data:nix/stage2/check.d/10-data")
    data=$(make_disk data.img --luks "battery staple" --root-marker "data disk" --label lethe-data)
    boot='{"kernelModules": ["virtio_pci", "virtio_blk", "btrfs", "dm_crypt", "xts", "ecb"], "root": {"device": "/dev/mapper/crypted", "fsType": "btrfs", "options": "subvol=root"}, "mounts": [{"device": "/dev/mapper/crypted", "mountPoint": "/nix", "options": "subvol=nix"}, {"device": "/dev/mapper/data", "mountPoint": "/data", "options": "subvol=root"}], "init": "/nix/stage2/init"}'
    write_config "$WORK/config.json" "$boot" \
        '"unlock": {"devices": [{"name": "crypted", "device": "/dev/vda"}, {"name": "data", "device": "/dev/vdb"}], "console": true}'
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$root" --disk "$data" --log "$log" --timeout 120 \
        --background "$WORK/qemu.pid" --console "$WORK/serial"
    qemu=$(cat "$WORK/qemu.pid")
    exec {console}<>"$WORK/serial.in" # read-write: never blocks, even if QEMU did not start
    wait_log "$log" 'Passphrase for crypted \(/dev/vda\), data \(/dev/vdb\): ' "$qemu"
    printf 'battery staple\n' >&"$console"
    wait_log "$log" 'Opened data; the passphrase does not open crypted\.' "$qemu"
    wait_log "$log" 'Passphrase for crypted \(/dev/vda\): ' "$qemu"
    printf 'correct horse\n' >&"$console"
    exec {console}>&-
    wait_vm "$qemu" || return 1
    check_log "$log" \
        --want 'unlock: data: opened /dev/vdb as /dev/mapper/data' \
        --want 'unlock: crypted: no keyslot of /dev/vda matches the passphrase' \
        --want 'unlock: crypted: opened /dev/vda as /dev/mapper/crypted' \
        --want 'step [0-9]+/[0-9]+ unlock the encrypted devices: opened crypted, data' \
        --want 'mount the other boot filesystems: /nix, /data' \
        --want '@@ROOT-MARKER unlocked root' \
        --want '@@DATA-MARKER data disk' \
        --want '@@STAGE2-DONE' \
        --refuse 'correct horse' --refuse 'battery staple' --refuse 'Wrong passphrase'
}
