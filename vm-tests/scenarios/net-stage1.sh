# description: stage 1 network: DHCP lease from QEMU printed while the console asks for the passphrase; stage 2 finds no leftover address (flushBeforeStage2)
# Needs stage 1 to call net::start_for_stage1 after the modules and net::stop_for_stage2 right
# before switching root (see agent/src/net/mod.rs), and the console unlock. The passphrase is
# typed only once the lease is in the log, so the network is up while stage 1 waits, as on a
# real machine; the check in stage 2 then looks for any IPv4 address left on eth0. A NIC module
# that does not exist (a typo in the config) only warns: the boot goes on.

scenario() {
    local disk initrd log qemu console boot
    cat >"$WORK/check-net" <<'SH'
#!/nix/stage2/busybox sh
B=/nix/stage2/busybox
left=$($B ip -4 -o addr show dev eth0)
echo "@@NET-AFTER ${left:-no-address}"
echo "@@NET-LINK $($B ip -o link show dev eth0 | $B sed 's/.*<\([^>]*\)>.*/\1/')"
SH
    chmod +x "$WORK/check-net"
    disk=$(make_disk disk.img --luks "correct horse" --root-marker "unlocked root" \
        --file "$WORK/check-net:nix/stage2/check.d/10-net")
    boot='{"kernelModules": ["virtio_pci", "virtio_blk", "btrfs", "dm_crypt", "xts", "ecb"], "root": {"device": "/dev/mapper/crypted", "fsType": "btrfs", "options": "subvol=root"}, "mounts": [{"device": "/dev/mapper/crypted", "mountPoint": "/nix", "options": "subvol=nix"}], "init": "/nix/stage2/init"}'
    write_config "$WORK/config.json" "$boot" \
        '"network": {"kernelModules": ["virtio_net"], "flushBeforeStage2": true}, "unlock": {"devices": [{"name": "crypted", "device": "/dev/vda"}], "console": true}'
    # mkinitrd refuses unknown modules, so the typo goes in a second config picked at boot
    # (lethe.config=), as an initrd made by another tool could carry it.
    jq '.network.kernelModules += ["no_such_nic"]' "$WORK/config.json" >"$WORK/typo.json"
    initrd=$(make_initrd initrd.cpio "$WORK/config.json" --file "$WORK/typo.json:/etc/lethe/typo.json")
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 120 --net \
        --append "lethe.config=/etc/lethe/typo.json" \
        --background "$WORK/qemu.pid" --console "$WORK/serial"
    qemu=$(cat "$WORK/qemu.pid")
    exec {console}<>"$WORK/serial.in" # read-write: never blocks, even if QEMU did not start
    wait_log "$log" 'lethe: eth0: DHCP lease 10\.0\.2\.15/24' "$qemu" || return 1
    wait_log "$log" 'Passphrase for crypted' "$qemu" || return 1
    printf 'correct horse\n' >&"$console"
    exec {console}>&-
    wait_vm "$qemu" || return 1
    check_log "$log" \
        --want 'lethe: warning: network.kernelModules: .*no_such_nic.*looking for the interface anyway' \
        --want 'lethe: eth0: DHCPDISCOVER sent \(SELECTING, broadcast\)' \
        --want 'lethe: eth0: DHCP lease 10\.0\.2\.15/24 from 10\.0\.2\.2, gateway 10\.0\.2\.2' \
        --want 'lethe: eth0: torn down \(1 address\(es\)' \
        --want '@@ROOT-MARKER unlocked root' \
        --want '@@NET-AFTER no-address' \
        --want '@@STAGE2-DONE' \
        --refuse '@@NET-LINK .*\bUP\b' --refuse 'correct horse' || return 1
}
