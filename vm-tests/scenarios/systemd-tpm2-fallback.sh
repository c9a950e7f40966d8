# description: dracut systemd initrd with a software TPM (swtpm as QEMU's tpm-tis) and a LUKS2 root enrolled by systemd-cryptenroll against PCR 16, which a test unit extends before the unlock: the TPM refuses to unseal, systemd-cryptsetup falls back to a password request, lethe (systemdAgent) answers it with the passphrase sent over SSH; the rollback runs, lethe's SSH server stops before switch-root, stage 2 runs on a fresh root
# Needs dracut-core, swtpm, swtpm-tools, tpm2-tools (scripts/setup.sh). LETHE_TPM_TEST=no-answer
# sends no passphrase: the boot must then not finish (QEMU's timeout ends it).
source "$VM_ROOT/lib/systemd.sh"
source "$VM_ROOT/lib/tpm.sh"

scenario() {
    local host_key id disk tpm_state initrd uuid port qemu out log=$WORK/serial.log status=0
    systemd_keys
    tpm_copy || return 1
    uuid=$(luks_uuid "$disk")
    initrd=$(tpm_initrd initrd.cpio) || return 1
    tpm_start "$tpm_state" || return 1
    port=$(free_port)
    VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --hostfwd "$port:22" --timeout 240 \
        "${TPM_QEMU_ARGS[@]}" --append "rd.luks.name=$uuid=crypted rd.luks.options=$uuid=tpm2-device=auto \
root=/dev/mapper/crypted $SYSTEMD_VM_ARGS lethe_test.extend_pcr16" --background "$WORK/qemu.pid"
    qemu=$(cat "$WORK/qemu.pid")
    wait_log "$log" 'ssh: listening on port 22' "$qemu" || return 1
    # lethe logs each request it sees; the passphrase goes to it once it is there.
    wait_log "$log" 'unlock: systemd asks' "$qemu" || return 1
    if [[ ${LETHE_TPM_TEST:-} != no-answer ]]; then
        out=$(printf '%s' "$TPM_PASSPHRASE" | systemd_ssh "$port" unlock 2>&1) ||
            { echo "ssh unlock failed: $out"; return 1; }
    fi
    wait_vm "$qemu" || return 1
    tpm_stop
    check_log "$log" \
        --want "$TPM_PCR16_EXTENDED" \
        --want 'systemd-cryptsetup\[[0-9]+\]: Current policy digest does not match stored policy digest' \
        --want 'unlock: systemd asks: "Please enter passphrase for disk crypted' \
        --want 'ssh: [0-9.:]+: user "root" logged in' --want 'unlock: passphrase sent for' \
        --want 'Finished systemd-cryptsetup@crypted' --want 'moved root to old_roots/' \
        --want 'serve: SIGTERM: stopping' --want 'ssh: listener closed' --want 'torn down \([0-9]+ address' \
        --want '@@OLD-ROOTS [^ ]+ $' --want '@@STAGE2-DONE' \
        --refuse '@@ROOT-MARKER' --refuse "$TPM_PASSPHRASE" || status=1
    in_order "$log" "$TPM_PCR16_EXTENDED" 'Current policy digest does not match' 'unlock: systemd asks' \
        'unlock: passphrase sent for' 'Finished systemd-cryptsetup@crypted' 'moved root to old_roots/' \
        'Mounted sysroot.mount|Mounted /sysroot' 'ssh: listener closed' 'Switching root' '@@STAGE2 ' || status=1
    return $status
}
