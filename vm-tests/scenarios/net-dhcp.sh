# description: lethe net in a real kernel: virtio-net, lease from QEMU's DHCP server, teardown leaves no address
# `lethe net --once` (the code stage 1 uses for its network) runs in the booted VM against
# QEMU's user-mode DHCP server (a real, independent implementation: slirp's bootp.c): it picks
# the first interface with carrier, gets 10.0.2.15, applies it, prints the lease, then tears
# down. The check then finds no IPv4 address and the link down.

scenario() {
    local disk initrd log boot
    cat >"$WORK/net.json" <<'JSON'
{"version": 1, "network": {"linkTimeoutSeconds": 10, "dhcpTimeoutSeconds": 20}}
JSON
    cat >"$WORK/check-net" <<'SH'
#!/nix/stage2/busybox sh
B=/nix/stage2/busybox
lease=$(/nix/stage2/lethe net --config /nix/stage2/net.json --once --cmdline "")
echo "@@NET-STATUS $?"
echo "@@NET-LEASE $lease"
left=$($B ip -4 -o addr show dev eth0)
echo "@@NET-AFTER ${left:-no-address}"
echo "@@NET-LINK $($B ip -o link show dev eth0 | $B sed 's/.*<\([^>]*\)>.*/\1/')"
SH
    chmod +x "$WORK/check-net"
    disk=$(make_disk disk.img --file "$LETHE_BIN:nix/stage2/lethe" --file "$WORK/net.json:nix/stage2/net.json" \
        --file "$WORK/check-net:nix/stage2/check.d/10-net")
    # virtio_net loaded in stage 1 with the boot modules: stage 2 has no module tree of its own.
    boot=$(boot_json | sed 's/"kernelModules": \[/"kernelModules": ["virtio_net", /')
    write_config "$WORK/config.json" "$boot"
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --net --timeout 90 ||
        { echo "QEMU ended with status $? (124: timeout)"; return 1; }
    check_log "$log" \
        --want 'lethe: eth0: DHCPDISCOVER sent \(SELECTING, broadcast\)' \
        --want 'lethe: eth0: DHCP lease 10\.0\.2\.15/24 from 10\.0\.2\.2, gateway 10\.0\.2\.2' \
        --want '@@NET-STATUS 0' \
        --want '@@NET-LEASE \{"interface":"eth0",.*"method":"dhcp","address":"10\.0\.2\.15","prefixLength":24,"gateway":"10\.0\.2\.2","dns":\["10\.0\.2\.3"\]' \
        --want 'lethe: eth0: torn down \(1 address\(es\)' \
        --want '@@NET-AFTER no-address' \
        --want '@@STAGE2-DONE' \
        --refuse '@@NET-LINK .*\bUP\b' || return 1
}
