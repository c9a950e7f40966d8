# description: stage 1 network: DHCP lease from QEMU printed while the console asks for the passphrase; stage 2 finds no leftover address (flushBeforeStage2)
# Needs stage 1 to call net::start_for_stage1 after the modules and net::stop_for_stage2 right
# before switching root (see agent/src/net/mod.rs), and the console unlock. The passphrase is
# typed only once the lease is in the log, so the network is up while stage 1 waits, as on a
# real machine; the check in stage 2 then looks for any IPv4 address left on eth0.

# boot_vm_net_typing --initrd F --disk IMG --log LOG --fifo BASE --timeout S
# As unlock-console.sh's boot_vm_typing, plus user-mode networking on virtio-net (QEMU's DHCP
# server gives 10.0.2.15). Sets QEMU_PID.
boot_vm_net_typing() {
    local initrd= disk= log= fifo= timeout=90
    while (($#)); do
        case $1 in
            --initrd) initrd=$2; shift 2 ;;
            --disk) disk=$2; shift 2 ;;
            --log) log=$2; shift 2 ;;
            --fifo) fifo=$2; shift 2 ;;
            --timeout) timeout=$2; shift 2 ;;
            *) echo "boot_vm_net_typing: unknown argument $1" >&2; return 2 ;;
        esac
    done
    rm -f "$fifo.in" "$fifo.out"
    mkfifo "$fifo.in" "$fifo.out"
    timeout -k 5 "$timeout" qemu-system-x86_64 -nodefaults -no-user-config \
        -display none -M pc -accel tcg -cpu max -m "${VM_MEM:-512}" -bios /usr/share/qemu/qboot.rom \
        -kernel "$KERNEL_DIR/vmlinux" -initrd "$initrd" -append "$VM_KERNEL_ARGS" \
        -chardev "pipe,id=ser0,path=$fifo" -serial chardev:ser0 -monitor none -no-reboot \
        -netdev user,id=n0 -device virtio-net-pci,netdev=n0,romfile= \
        -drive "file=$disk,if=virtio,format=raw,cache=unsafe" >"$log.qemu" 2>&1 &
    QEMU_PID=$!
    cat "$fifo.out" >"$log" &
}

# wait_log LOG PATTERN PID: until PATTERN (grep -E) is in LOG, or PID ended.
wait_log() {
    local log=$1 pattern=$2 pid=$3
    until clean_log "$log" | grep -qE -- "$pattern"; do
        kill -0 "$pid" 2>/dev/null || { echo "QEMU ended before \"$pattern\" appeared in $log" >&2; return 1; }
        sleep 0.1
    done
}

scenario() {
    local disk initrd log status QEMU_PID boot
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
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    log=$WORK/serial.log
    boot_vm_net_typing --initrd "$initrd" --disk "$disk" --log "$log" --fifo "$WORK/serial" --timeout 120
    wait_log "$log" 'lethe: eth0: DHCP lease 10\.0\.2\.15/24' "$QEMU_PID" || return 1
    wait_log "$log" 'Passphrase for crypted' "$QEMU_PID" || return 1
    printf 'correct horse\n' >"$WORK/serial.in"
    status=0
    wait "$QEMU_PID" || status=$?
    wait
    ((status == 0)) || { echo "QEMU ended with status $status (124: timeout)"; return 1; }
    check_log "$log" \
        --want 'lethe: eth0: DHCPDISCOVER sent \(SELECTING, broadcast\)' \
        --want 'lethe: eth0: DHCP lease 10\.0\.2\.15/24 from 10\.0\.2\.2, gateway 10\.0\.2\.2' \
        --want 'lethe: eth0: torn down \(1 address\(es\)' \
        --want '@@ROOT-MARKER unlocked root' \
        --want '@@NET-AFTER no-address' \
        --want '@@STAGE2-DONE' \
        --refuse '@@NET-LINK .*\bUP\b' --refuse 'correct horse' || return 1
}
