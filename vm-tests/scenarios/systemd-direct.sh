# description: dracut systemd initrd, direct mode (no rd.luks, no systemd-cryptsetup): lethe-unlock opens the LUKS2 disk itself with the passphrase sent over SSH and exits; lethe-rollback waits for /dev/mapper/crypted, archives the root before sysroot.mount; stage 2 runs on a fresh root
# Needs dracut-core (scripts/setup.sh).
source "$VM_ROOT/lib/systemd.sh"

scenario() {
    local host_key id disk initrd port qemu out log=$WORK/serial.log status=0
    systemd_keys
    systemd_blank "$WORK/blank"
    disk=$(make_disk disk.img --luks "correct horse" --root-marker "unlocked root" --blank "blank:$WORK/blank")
    systemd_config "$WORK/config.json" '{"devices": [{"name": "crypted", "device": "/dev/vda"}], "console": false}'
    initrd=$(make_systemd_initrd initrd.cpio "$WORK/config.json" --file "$host_key:/etc/lethe/host_key")
    port=$(free_port)
    VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --hostfwd "$port:22" --timeout 240 \
        --append "root=/dev/mapper/crypted $SYSTEMD_VM_ARGS" --background "$WORK/qemu.pid"
    qemu=$(cat "$WORK/qemu.pid")
    wait_log "$log" 'ssh: listening on port 22' "$qemu" || return 1
    out=$(printf 'correct horse' | systemd_ssh "$port" unlock 2>&1) || { echo "ssh unlock failed: $out"; return 1; }
    wait_vm "$qemu" || return 1
    check_log "$log" \
        --want 'unlock: crypted: opened /dev/vda as /dev/mapper/crypted' \
        --want 'serve: every device is open' \
        --want 'moved root to old_roots/' \
        --want 'torn down \([0-9]+ address' \
        --want '@@OLD-ROOTS [^ ]+ $' --want '@@STAGE2-DONE' \
        --refuse 'systemd-cryptsetup@' --refuse '@@ROOT-MARKER' --refuse 'correct horse' || status=1
    in_order "$log" 'opened /dev/vda as /dev/mapper/crypted' 'Found device dev-mapper-crypted.device' \
        'moved root to old_roots/' 'Mounted sysroot.mount' '@@STAGE2 ' || status=1
    return $status
}
