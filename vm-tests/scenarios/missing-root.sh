# description: failure path: the configured root device never appears; lethe says so on the console and powers off
# The failure state must never hang silently: the message names the device and what was there,
# then boot.onFailure (poweroff here, after 1 s) ends the VM well within the timeout.

scenario() {
    local disk initrd log
    disk=$(make_disk disk.img)
    write_config "$WORK/config.json" \
        '{"kernelModules": ["virtio_pci", "virtio_blk", "btrfs"], "root": {"device": "/dev/vdz", "options": "subvol=root"}, "deviceTimeoutSeconds": 3, "init": "/nix/stage2/init", "onFailure": "poweroff", "failureDelaySeconds": 1}'
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 60 ||
        { echo "QEMU ended with status $? (124: timeout: the failure state did not power off)"; return 1; }
    check_log "$log" --allow-failure \
        --want 'lethe: BOOT FAILED: step [0-9]+/[0-9]+ "wait for the root device": /dev/vdz: did not appear within 3 s \(block devices present: .*vda' \
        --want 'lethe: the system cannot start; powering off in 1 s' \
        --refuse '@@STAGE2'
}
