# description: dracut systemd initrd, systemdAgent mode, but nothing is encrypted: no password request ever comes; lethe-unlock (SSH up) never holds the boot, is stopped before switch-root with the network torn down; the rollback runs; stage 2 runs on a fresh root
# Needs dracut-core (scripts/setup.sh).
source "$VM_ROOT/lib/systemd.sh"

scenario() {
    local host_key id disk initrd port log=$WORK/serial.log status=0
    systemd_keys
    systemd_blank "$WORK/blank"
    disk=$(make_disk disk.img --blank "blank:$WORK/blank")
    systemd_config "$WORK/config.json" '{"systemdAgent": true}' '{"device": "/dev/vda", "blankSnapshot": "blank"}'
    initrd=$(make_systemd_initrd initrd.cpio "$WORK/config.json" --file "$host_key:/etc/lethe/host_key")
    port=$(free_port)
    VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --hostfwd "$port:22" --timeout 240 \
        --append "root=/dev/vda $SYSTEMD_VM_ARGS" || { echo "QEMU ended with status $? (124: timeout)"; return 1; }
    check_log "$log" \
        --want 'Started lethe-unlock.service' --want 'ssh: listening on port 22' \
        --want 'moved root to old_roots/' \
        --want 'serve: SIGTERM: stopping' --want 'ssh: listener closed' --want 'torn down \([0-9]+ address' \
        --want '@@OLD-ROOTS [^ ]+ $' --want '@@STAGE2-DONE' \
        --refuse 'systemd asks' --refuse 'Please enter passphrase' || status=1
    in_order "$log" 'Mounted sysroot.mount' 'ssh: listener closed' 'torn down' 'Switching root' '@@STAGE2 ' || status=1
    return $status
}
