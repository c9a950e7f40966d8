# description: a LUKS device configured but dm_crypt/dm_mod missing from boot.kernelModules: the boot stops before asking, naming the modules to add
# Found before the passphrase is asked for: typing it would not help.

scenario() {
    local disk initrd log boot
    disk=$(make_disk disk.img --luks "correct horse")
    boot='{"kernelModules": ["virtio_pci", "virtio_blk", "btrfs"], "root": {"device": "/dev/mapper/crypted", "fsType": "btrfs", "options": "subvol=root"}, "init": "/nix/stage2/init", "onFailure": "poweroff", "failureDelaySeconds": 0}'
    write_config "$WORK/config.json" "$boot" \
        '"unlock": {"devices": [{"name": "crypted", "device": "/dev/vda"}], "console": true}'
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 90 ||
        { echo "QEMU ended with status $? (124: timeout)"; return 1; }
    check_log "$log" --allow-failure \
        --want 'BOOT FAILED' \
        --want 'unlock: device-mapper is not available \(no /dev/mapper/control\): add dm_mod and dm_crypt' \
        --refuse 'Passphrase for' --refuse '@@STAGE2'
}
