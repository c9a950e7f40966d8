# description: dracut systemd initrd with a software TPM (swtpm as QEMU's tpm-tis) and a LUKS2 root enrolled by systemd-cryptenroll (PCR 16): systemd-cryptsetup unlocks with the TPM2 token and asks for no password; lethe's SSH server (systemdAgent) comes up, never holds the boot and stops before switch-root; stage 2 runs on a fresh root
# Needs dracut-core, swtpm, swtpm-tools, tpm2-tools (scripts/setup.sh). LETHE_TPM_TEST=no-tpm
# boots without the TPM device, LETHE_TPM_TEST=extend with PCR 16 extended: both must fail (a
# password request comes and nobody answers it).
source "$VM_ROOT/lib/systemd.sh"
source "$VM_ROOT/lib/tpm.sh"

scenario() {
    local host_key id disk tpm_state initrd uuid port qemu log=$WORK/serial.log status=0 extra=
    local -a tpm=()
    systemd_keys
    tpm_copy || return 1
    uuid=$(luks_uuid "$disk")
    initrd=$(tpm_initrd initrd.cpio) || return 1
    tpm_start "$tpm_state" || return 1
    case ${LETHE_TPM_TEST:-} in
        no-tpm) ;;
        extend) tpm=("${TPM_QEMU_ARGS[@]}") extra=lethe_test.extend_pcr16 ;;
        *) tpm=("${TPM_QEMU_ARGS[@]}") ;;
    esac
    port=$(free_port)
    VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --hostfwd "$port:22" --timeout 240 \
        "${tpm[@]}" --append "rd.luks.name=$uuid=crypted rd.luks.options=$uuid=tpm2-device=auto \
root=/dev/mapper/crypted $SYSTEMD_VM_ARGS $extra" --background "$WORK/qemu.pid"
    qemu=$(cat "$WORK/qemu.pid")
    # A password request that nobody answers would hold the boot until the timeout: stop there.
    wait_log "$log" '@@STAGE2-DONE|Please enter passphrase|unlock: systemd asks' "$qemu" || true
    if clean_log "$log" | grep -qE 'Please enter passphrase|unlock: systemd asks'; then
        kill "$qemu" 2>/dev/null || true
        wait_vm "$qemu" || true
        echo "a password was asked for: $(clean_log "$log" | grep -E -m1 'Please enter passphrase|unlock: systemd asks')"
        return 1
    fi
    wait_vm "$qemu" || return 1
    tpm_stop
    check_log "$log" \
        --want 'Finished systemd-cryptsetup@crypted' \
        --want 'systemd-cryptsetup\[[0-9]+\]: Selected TPM2 PCRs are not initialized' \
        --want 'Started lethe-unlock.service' --want 'ssh: listening on port 22' \
        --want 'moved root to old_roots/' \
        --want 'serve: SIGTERM: stopping' --want 'ssh: listener closed' --want 'torn down \([0-9]+ address' \
        --want '@@OLD-ROOTS [^ ]+ $' --want '@@STAGE2-DONE' \
        --refuse 'systemd asks' --refuse 'Please enter passphrase' --refuse 'falling back' \
        --refuse "$TPM_PCR16_EXTENDED" --refuse '@@ROOT-MARKER' || status=1
    in_order "$log" 'ssh: listening on port 22' 'Finished systemd-cryptsetup@crypted' 'Mounted sysroot.mount|Mounted /sysroot' \
        'ssh: listener closed' 'Switching root' '@@STAGE2 ' || status=1
    return $status
}
