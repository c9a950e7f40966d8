# description: the kernel loads NIC firmware straight from lethe's initrd (no udev): e100 on QEMU's i82551 asks for e100/d102e_ucode.bin at link-up; served, link up with carrier, DHCP lease; without it, the kernel names the missing file and the link stays down
# QEMU's i82551 is an 82551 (PCI revision 0x0f), for which e100 requires its microcode: it
# requests e100/d102e_ucode.bin when lethe sets the link up, the kernel's direct loader reads it
# from /lib/firmware of the initramfs (lethe is PID 1; there is no udev or firmware helper), and
# QEMU accepts the microcode command, so the link coming up proves the whole path (without the
# microcode e100 refuses to open the interface), and the lease proves traffic passes. (Runs where
# the lease "stalled after DHCPREQUEST" were lethe's last kmsg record withheld by the kernel for
# want of a newline while the console prompt waited: see write_records in agent/src/log.rs.)
# The file comes from Debian's firmware-misc-nonfree in /lib/firmware (scripts/setup.sh).
# firmware_class.dyndbg makes the kernel log which file it served. The passphrase is typed once
# the lease (or, in the second boot, the failure) is in the log, so stage 1 waits for the network
# as an SSH unlock does.

e100_boot() { # NAME EXPECT_PATTERN [mkinitrd options]: one boot, typing the passphrase after EXPECT
    local name=$1 expect=$2 initrd qemu console log
    shift 2
    initrd=$(make_initrd "$name.cpio" "$WORK/config.json" "$@")
    log=$WORK/$name.log
    boot_vm --initrd "$initrd" --disk "$DISK" --log "$log" --timeout 120 --nic i82551 \
        --append "firmware_class.dyndbg=+p" --background "$WORK/qemu.pid" --console "$WORK/serial"
    qemu=$(cat "$WORK/qemu.pid")
    exec {console}<>"$WORK/serial.in"
    wait_log "$log" "$expect" "$qemu" && wait_log "$log" 'Passphrase for crypted' "$qemu" || return 1
    printf 'firmware test\n' >&"$console"
    exec {console}>&-
    wait_vm "$qemu"
}

scenario() {
    [[ -f /lib/firmware/e100/d102e_ucode.bin ]] ||
        { echo "/lib/firmware/e100/d102e_ucode.bin missing: install firmware-misc-nonfree (scripts/setup.sh)"; return 1; }
    DISK=$(make_disk disk.img --luks "firmware test" --root-marker "firmware root")
    local boot='{"kernelModules": ["virtio_pci", "virtio_blk", "btrfs", "dm_crypt", "xts", "ecb"], "root": {"device": "/dev/mapper/crypted", "fsType": "btrfs", "options": "subvol=root"}, "mounts": [{"device": "/dev/mapper/crypted", "mountPoint": "/nix", "options": "subvol=nix"}], "init": "/nix/stage2/init"}'
    write_config "$WORK/config.json" "$boot" \
        '"network": {"kernelModules": ["e100"], "flushBeforeStage2": true}, "unlock": {"devices": [{"name": "crypted", "device": "/dev/vda"}], "console": true}'

    e100_boot with 'lethe: eth0: DHCP lease 10\.0\.2\.15/24' || return 1
    cpio -t <"$WORK/with.cpio" 2>/dev/null | grep -qx 'lib/firmware/e100/d102e_ucode.bin' ||
        { echo "with.cpio has no lib/firmware/e100/d102e_ucode.bin"; return 1; }
    check_log "$WORK/with.log" \
        --want 'e100 .*: firmware: direct-loading firmware e100/d102e_ucode\.bin' \
        --want 'e100 .* eth0: NIC Link is Up' \
        --want 'lethe: eth0: link up with carrier' \
        --want 'lethe: eth0: DHCP lease 10\.0\.2\.15/24 from 10\.0\.2\.2' \
        --want '@@ROOT-MARKER firmware root' --want '@@STAGE2-DONE' \
        --refuse 'failed to load e100' --refuse 'ucode load failed' --refuse 'lethe: (error|warning):' || return 1

    # The same initrd without the firmware: the request fails and the kernel says which file.
    mkdir -p "$WORK/no-firmware"
    e100_boot without 'firmware: failed to load e100/d102e_ucode\.bin \(-2\)' --firmware-dir "$WORK/no-firmware" ||
        return 1
    check_log "$WORK/without.log" --want '@@STAGE2-DONE' --want 'lethe: error: eth0: cannot set the link up' \
        --refuse 'direct-loading firmware e100' --refuse 'lethe: eth0: link up with carrier' \
        --refuse 'lethe: eth0: DHCP lease'
}
