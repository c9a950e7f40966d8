# description: dracut systemd initrd: the passphrase typed on the serial console while an SSH session waits at its prompt: lethe's console prompt answers systemd-cryptsetup (systemd's own console agent is kept off: one reader per terminal), the SSH session ends, nothing hangs; stage 2 runs on a fresh root
# Needs dracut-core (scripts/setup.sh).
source "$VM_ROOT/scenarios/unlock-ssh.sh" # expect_ssh
source "$VM_ROOT/lib/systemd.sh"

scenario() {
    local host_key id disk initrd uuid port qemu log=$WORK/serial.log status=0
    systemd_keys
    systemd_blank "$WORK/blank"
    disk=$(make_disk disk.img --luks "correct horse" --root-marker "unlocked root" --blank "blank:$WORK/blank")
    uuid=$(luks_uuid "$disk")
    systemd_config "$WORK/config.json" '{"systemdAgent": true, "console": true}'
    initrd=$(make_systemd_initrd initrd.cpio "$WORK/config.json" --file "$host_key:/etc/lethe/host_key")
    port=$(free_port)
    VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --hostfwd "$port:22" --timeout 240 \
        --append "rd.luks.name=$uuid=crypted root=/dev/mapper/crypted $SYSTEMD_VM_ARGS" \
        --background "$WORK/qemu.pid" --console "$WORK/serial"
    qemu=$(cat "$WORK/qemu.pid")
    # Keep the console's input open for the whole boot: QEMU sees EOF otherwise.
    exec {console}<>"$WORK/serial.in"
    wait_log "$log" 'ssh: listening on port 22' "$qemu" || return 1
    wait_log "$log" 'unlock: systemd asks: "Please enter passphrase for disk crypted:"' "$qemu" || return 1
    coproc SSH { systemd_ssh "$port" -tt 2>&1; }
    local from_ssh ssh_pid=$SSH_PID
    exec {from_ssh}<&"${SSH[0]}"
    local out=$WORK/ssh.out
    : >"$out"
    expect_ssh 'Please enter passphrase for disk crypted:' || return 1
    printf 'correct horse\n' >&"$console"
    wait_vm "$qemu" || return 1
    exec {console}>&-
    # The waiting SSH session was closed when lethe-unlock stopped, at the latest.
    if kill -0 "$ssh_pid" 2>/dev/null; then
        echo "the SSH session still runs after the boot; it showed: $(tr -d '\r' <"$out")"
        kill "$ssh_pid"
        return 1
    fi
    check_log "$log" \
        --want 'ssh: [0-9.:]+: user "root" logged in' \
        --want 'unlock: (console: )?passphrase sent for "Please enter passphrase for disk crypted:"' \
        --want 'Finished systemd-cryptsetup@crypted.service' \
        --want 'moved root to old_roots/' --want 'ssh: listener closed' \
        --want '@@OLD-ROOTS [^ ]+ $' --want '@@STAGE2-DONE' \
        --refuse 'Started systemd-ask-password-console.service' \
        --refuse '@@ROOT-MARKER' --refuse 'correct horse' || status=1
    in_order "$log" 'Finished systemd-cryptsetup@crypted' 'moved root to old_roots/' 'Mounted sysroot.mount' || status=1
    return $status
}
