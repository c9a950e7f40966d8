# description: LUKS2 root unlocked over SSH: DHCP from QEMU, the real OpenSSH client through hostfwd types a wrong then the right passphrase at the pty prompt; the listener closes; the root is rolled back; stage 2 runs on the fresh root
# Needs stage 1 to bring the network up and call serve::serve_unlocker with the ssh section.

# ssh_vm PORT ARGS...: the OpenSSH client against the VM's forwarded port, with the test key.
ssh_vm() {
    local port=$1
    shift
    ssh -p "$port" -i "$WORK/id" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10 -e none root@127.0.0.1 "$@"
}

# expect_ssh TEXT: reads the interactive session (fd $from_ssh, copied to $out, both set by the
# scenario) until TEXT appears; fails with what the session showed when it ends first.
expect_ssh() {
    local chunk
    while IFS= read -r -d '' -n 1 -u "$from_ssh" chunk; do
        printf '%s' "$chunk" >>"$out"
        [[ $(tr -d '\r' <"$out") == *"$1"* ]] && return 0
    done
    echo "ssh session ended before \"$1\"; it showed: $(tr -d '\r' <"$out")"
    return 1
}

ssh_scenario_setup() { # -> sets initrd, disk, port
    disk=$(make_disk disk.img --luks "correct horse" --root-marker "unlocked root")
    ssh-keygen -q -t ed25519 -N '' -C vm-host -f "$WORK/host_key"
    ssh-keygen -q -t ed25519 -N '' -C tester -f "$WORK/id"
    local boot
    boot='{"kernelModules": ["virtio_pci", "virtio_blk", "btrfs", "dm_crypt", "xts", "ecb"], "root": {"device": "/dev/mapper/crypted", "fsType": "btrfs", "options": "subvol=root"}, "mounts": [{"device": "/dev/mapper/crypted", "mountPoint": "/nix", "options": "subvol=nix"}], "init": "/nix/stage2/init"}'
    local network ssh unlock
    network='"network": {"kernelModules": ["virtio_net"], "dhcp": true}'
    ssh="\"ssh\": {\"port\": 22, \"hostKeys\": [\"/etc/lethe/host_key\"], \"authorizedKeys\": [\"$(cat "$WORK/id.pub")\"]}"
    unlock="\"unlock\": {\"devices\": [{\"name\": \"crypted\", \"device\": \"/dev/vda\"}], \"console\": ${SSH_SCENARIO_CONSOLE:-false}, \"maxTries\": 3}"
    local rollback=
    # SSH_SCENARIO_ROLLBACK=true: the unlocked disk's root is also rolled back before the switch.
    [[ ${SSH_SCENARIO_ROLLBACK:-false} == true ]] && rollback=', "rollback": {"device": "/dev/mapper/crypted"}'
    write_config "$WORK/config.json" "$boot" "$network, $ssh, $unlock$rollback"
    initrd=$(make_initrd initrd.cpio "$WORK/config.json" --file "$WORK/host_key:/etc/lethe/host_key")
    port=$(free_port)
}

scenario() {
    local disk initrd port log qemu chunk status=0
    SSH_SCENARIO_ROLLBACK=true ssh_scenario_setup
    log=$WORK/serial.log
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --hostfwd "$port:22" --timeout 150 \
        --background "$WORK/qemu.pid"
    qemu=$(cat "$WORK/qemu.pid")
    wait_log "$log" 'ssh: listening on port 22' "$qemu"
    # The interactive login: ssh -tt gives the server a pty; we type into ssh's stdin.
    coproc SSH { ssh_vm "$port" -tt 2>&1; }
    # Bash closes the coprocess's descriptors when it exits: read through duplicates, to the end.
    local from_ssh to_ssh ssh_pid=$SSH_PID
    exec {from_ssh}<&"${SSH[0]}" {to_ssh}>&"${SSH[1]}"
    local out=$WORK/ssh.out
    : >"$out"
    expect_ssh 'Passphrase for crypted (/dev/vda): ' || return 1
    printf 'wrong guess\r' >&"$to_ssh"
    expect_ssh 'Wrong passphrase. Try again in 1 s (2 tries left).' || return 1
    : >"$out"
    expect_ssh 'Passphrase for crypted (/dev/vda): ' || return 1
    printf 'correct horse\r' >&"$to_ssh"
    expect_ssh 'Unlocked crypted. The boot continues.' || return 1
    wait "$ssh_pid" || true
    while kill -0 "$qemu" 2>/dev/null; do sleep 0.2; done
    check_log "$log" \
        --want 'ssh: [0-9.]+:[0-9]+: user "root" logged in' \
        --want 'unlock: crypted: no keyslot of /dev/vda matches the passphrase' \
        --want 'ssh: [0-9.:]+: unlocked crypted' \
        --want 'ssh: listener closed' \
        --want 'lethe: .*moved root to old_roots/' \
        --want 'step [0-9]+/[0-9]+ roll back the root subvolume: rollback done: root archived as old_roots/.*fresh root created' \
        --want 'mount the root filesystem: /dev/mapper/crypted on /sysroot' \
        --want '@@STAGE2-DONE' \
        --refuse '@@ROOT-MARKER' \
        --refuse 'correct horse' --refuse 'wrong guess' --refuse 'verify-only' || status=1
    # After the hand-off nothing may listen: the port forward finds no server.
    return $status
}
