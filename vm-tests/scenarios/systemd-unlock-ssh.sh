# description: dracut systemd initrd: systemd-cryptsetup asks (rd.luks.name), lethe-unlock answers with the passphrase sent over SSH (scripted, then the interactive prompt on a second boot); lethe-rollback archives the root before sysroot.mount; stage 2 runs on a fresh root
# Needs dracut-core (scripts/setup.sh). The journal order on the serial console must be
# cryptsetup -> rollback -> sysroot.mount; lethe-unlock and lethe-network stop before
# switch-root (listener closed, network torn down).
source "$VM_ROOT/lib/systemd.sh"

# boot_and_unlock LOG HOW: one boot; HOW is "scripted" or "interactive".
boot_and_unlock() {
    local log=$1 how=$2 port qemu out
    port=$(free_port)
    VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --hostfwd "$port:22" --timeout 240 \
        --append "rd.luks.name=$uuid=crypted root=/dev/mapper/crypted $SYSTEMD_VM_ARGS" \
        --background "$WORK/qemu.pid"
    qemu=$(cat "$WORK/qemu.pid")
    wait_log "$log" 'ssh: listening on port 22' "$qemu" || return 1
    wait_log "$log" 'unlock: .*(request|asks|waiting)|Please enter passphrase' "$qemu" || true
    if [[ $how == scripted ]]; then
        out=$(printf 'correct horse' | systemd_ssh "$port" unlock 2>&1) ||
            { echo "ssh unlock failed: $out"; return 1; }
    else
        out=$(systemd_ssh "$port" -tt <<<'correct horse' 2>&1) || true
        [[ $out == *"Please enter passphrase for disk crypted:"*"Passphrase sent to systemd"* ]] || { echo "interactive ssh: $out"; return 1; }
    fi
    wait_vm "$qemu" || return 1
}

scenario() {
    local host_key id disk initrd uuid log1=$WORK/serial-1.log log2=$WORK/serial-2.log status=0
    systemd_keys
    systemd_blank "$WORK/blank"
    disk=$(make_disk disk.img --luks "correct horse" --root-marker "unlocked root" --blank "blank:$WORK/blank")
    uuid=$(luks_uuid "$disk")
    systemd_config "$WORK/config.json" '{"systemdAgent": true}'
    initrd=$(make_systemd_initrd initrd.cpio "$WORK/config.json" --file "$host_key:/etc/lethe/host_key")
    boot_and_unlock "$log1" scripted || return 1
    check_log "$log1" \
        --want 'lethe-generator|Started lethe-unlock' \
        --want 'ssh: [0-9.:]+: user "root" logged in' \
        --want 'moved root to old_roots/' \
        --want 'serve: SIGTERM: stopping' --want 'ssh: listener closed' \
        --want 'torn down \([0-9]+ address' \
        --want '@@OLD-ROOTS [^ ]+ $' --want '@@STAGE2-DONE' \
        --refuse '@@ROOT-MARKER' --refuse 'correct horse' || status=1
    in_order "$log1" 'Finished systemd-cryptsetup@crypted' 'moved root to old_roots/' \
        'Mounted sysroot.mount|Mounted /sysroot' '@@STAGE2 ' || status=1
    in_order "$log1" 'ssh: listener closed' 'torn down' 'Switching root' || status=1
    ((status == 0)) || return 1
    # The interactive prompt, on the second boot: the first boot's fresh root is archived too.
    boot_and_unlock "$log2" interactive || return 1
    check_log "$log2" --want '@@OLD-ROOTS [^ ]+ [^ ]+ $' --want '@@STAGE2-DONE' --refuse '@@ROOT-MARKER' \
        --refuse 'correct horse' || return 1
    in_order "$log2" 'Finished systemd-cryptsetup@crypted' 'moved root to old_roots/' 'Mounted sysroot.mount|Mounted /sysroot' || return 1
}
