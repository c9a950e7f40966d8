# description: SSH and serial-console prompts at once: an SSH session waits at its prompt, the passphrase is typed on the console instead; the SSH prompt says so and closes (exit 0); stage 2 runs
# Needs stage 1 to bring the network up and call serve::serve_unlocker with the ssh section.
SSH_SCENARIO_CONSOLE=true
source "$VM_ROOT/scenarios/unlock-ssh.sh"

scenario() {
    local disk initrd port log qemu chunk status=0
    ssh_scenario_setup
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 150 --hostfwd "$port:22" \
        --background "$WORK/qemu.pid" --console "$WORK/serial"
    qemu=$(cat "$WORK/qemu.pid")
    # Keep the console's input open for the whole boot: QEMU sees EOF otherwise.
    exec {console}<>"$WORK/serial.in" # read-write: never blocks, even if QEMU did not start
    wait_log "$log" 'ssh: listening on port 22' "$qemu"
    wait_log "$log" 'Passphrase for crypted \(/dev/vda\): ' "$qemu"
    coproc SSH { ssh_vm "$port" -tt 2>&1; }
    local from_ssh ssh_pid=$SSH_PID
    exec {from_ssh}<&"${SSH[0]}"
    local out=$WORK/ssh.out
    : >"$out"
    expect_ssh 'Passphrase for crypted (/dev/vda): ' || return 1
    printf 'correct horse\n' >&"$console"
    expect_ssh 'Everything is unlocked (from elsewhere). The boot continues.' || return 1
    local rc=0
    wait "$ssh_pid" || rc=$?
    ((rc == 0)) || { echo "the waiting ssh session ended with $rc, expected 0"; return 1; }
    wait "$qemu" || { echo "QEMU ended with $? (124: timeout)"; return 1; }
    exec {console}>&-
    wait
    check_log "$log" \
        --want 'ssh: [0-9.]+:[0-9]+: user "root" logged in' \
        --want 'unlock: crypted: opened /dev/vda as /dev/mapper/crypted' \
        --want 'ssh: listener closed' \
        --want '@@ROOT-MARKER unlocked root' \
        --want '@@STAGE2-DONE' \
        --refuse 'correct horse' || status=1
    return $status
}
