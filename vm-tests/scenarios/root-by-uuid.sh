# description: root named /dev/disk/by-uuid/..., /nix by /dev/disk/by-label/...: lethe makes the links without udev

scenario() {
    local disk initrd log uuid boot
    disk=$(make_disk disk.img --label lethe-demo)
    uuid=$(blkid -s UUID -o value "$disk")
    [[ -n $uuid ]] || { echo "blkid found no UUID on $disk"; return 1; }
    boot=$(boot_json | jq -c --arg u "/dev/disk/by-uuid/$uuid" \
        '.root.device = $u | .mounts[0].device = "/dev/disk/by-label/lethe-demo"')
    write_config "$WORK/config.json" "$boot"
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" || { echo "QEMU status $?"; return 1; }
    check_log "$log" --want "wait for the root device: /dev/disk/by-uuid/$uuid after" \
        --want "mount the other boot filesystems: /nix" \
        --want '@@ROOT btrfs .*subvol=/root' --want '@@STAGE2-DONE'
}
