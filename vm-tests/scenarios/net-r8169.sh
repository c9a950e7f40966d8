# description: the forge example host's NIC driver in stage 1: r8169 with realtek, mdio_devres and libphy as network.kernelModules next to virtio_net, its rtl_nic firmware in the initrd; all load, the lease comes on the virtio NIC, nothing in the log is an error
# QEMU has no RTL8168/8125 model, so r8169 never probes here and never asks for its firmware
# (net-firmware proves the kernel's firmware loading from the initrd with e100 instead). What
# this proves: mkinitrd puts every file r8169 declares (Debian's firmware-realtek, in
# /lib/firmware) into the initrd, the four modules load in stage 1 beside virtio_net, and a
# driver without hardware costs the boot nothing: lease on the virtio NIC, no error or warning.

scenario() {
    local disk initrd log qemu console names n
    cat >"$WORK/check-modules" <<'SH'
#!/nix/stage2/busybox sh
for m in r8169 realtek mdio_devres libphy virtio_net; do
    echo "@@MODULE $m $(/nix/stage2/busybox cat /sys/module/$m/initstate 2>/dev/null || echo missing)"
done
SH
    chmod +x "$WORK/check-modules"
    disk=$(make_disk disk.img --luks "realtek" --file "$WORK/check-modules:nix/stage2/check.d/10-modules")
    local boot='{"kernelModules": ["virtio_pci", "virtio_blk", "btrfs", "dm_crypt", "xts", "ecb"], "root": {"device": "/dev/mapper/crypted", "fsType": "btrfs", "options": "subvol=root"}, "mounts": [{"device": "/dev/mapper/crypted", "mountPoint": "/nix", "options": "subvol=nix"}], "init": "/nix/stage2/init"}'
    write_config "$WORK/config.json" "$boot" \
        '"network": {"kernelModules": ["r8169", "realtek", "mdio_devres", "libphy", "virtio_net"], "flushBeforeStage2": true}, "unlock": {"devices": [{"name": "crypted", "device": "/dev/vda"}], "console": true}'
    initrd=$(make_initrd initrd.cpio "$WORK/config.json" 2>"$WORK/mkinitrd.err") ||
        { cat "$WORK/mkinitrd.err"; return 1; }
    # Every firmware file r8169 declares is in the initrd, and mkinitrd counted them.
    names=$(modinfo -F firmware "$MODULES_DIR/kernel/drivers/net/ethernet/realtek/r8169.ko")
    n=$(wc -l <<<"$names")
    grep -q "mkinitrd: $n firmware file(s) added" "$WORK/mkinitrd.err" ||
        { echo "mkinitrd did not add $n firmware files: $(cat "$WORK/mkinitrd.err")"; return 1; }
    local listing name
    listing=$(cpio -t <"$initrd" 2>/dev/null)
    for name in $names; do
        grep -qx "lib/firmware/$name" <<<"$listing" || { echo "initrd lacks lib/firmware/$name"; return 1; }
    done

    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 120 --net \
        --background "$WORK/qemu.pid" --console "$WORK/serial"
    qemu=$(cat "$WORK/qemu.pid")
    exec {console}<>"$WORK/serial.in"
    wait_log "$log" 'lethe: eth0: DHCP lease 10\.0\.2\.15/24' "$qemu" && wait_log "$log" 'Passphrase for crypted' "$qemu" ||
        return 1
    printf 'realtek\n' >&"$console"
    exec {console}>&-
    wait_vm "$qemu" || return 1
    check_log "$log" \
        --want 'lethe: eth0: DHCP lease 10\.0\.2\.15/24 from 10\.0\.2\.2' \
        --want '@@MODULE r8169 live' --want '@@MODULE realtek live' --want '@@MODULE mdio_devres live' \
        --want '@@MODULE libphy live' --want '@@MODULE virtio_net live' \
        --want '@@STAGE2-DONE' \
        --refuse 'lethe: (error|warning):' --refuse 'Unable to load firmware' --refuse 'Direct firmware load' \
        --refuse '[Ee]rror' --refuse 'Call Trace'
}
