# description: encrypted ZFS root (keylocation=prompt) as /init: the key asked over SSH like a LUKS passphrase (a wrong one first), given to zfs load-key on stdin, then the rollback and stage 2 on the fresh root
# The setup boot makes rpool encrypted (passphrase, keylocation=prompt) with the datasets of
# lib/zfs-root.sh. The ZFS boot brings the network up, imports rpool (-N: its datasets stay
# locked), finds the locked encryption root and serves the SSH prompt; the real OpenSSH client
# types a wrong passphrase, then the right one; lethe loads the key, rolls the root back and
# stage 2 reads /persist. The passphrase never appears in the log.

source "$VM_ROOT/scenarios/unlock-ssh.sh"

scenario() {
    cat >"$WORK/zfs-root-check" <<'CHECK'
#!/nix/stage2/busybox sh
B=/nix/stage2/busybox
export PATH=/nix/zfs/bin:/nix/stage2:$PATH
$B grep -q '^rpool/local/root / zfs' /proc/mounts || exit 0
echo "@@PERSIST $($B cat /persist/persist-marker)"
echo "@@KEY $(zfs get -H -o value keystatus,encryptionroot rpool/local/root | $B tr '\n' ' ')"
[ -e /root-marker ] && echo "@@SETUP-MARKER-FOUND"
CHECK
    source "$VM_ROOT/lib/zfs-root.sh"
    zfs_root_setup
    local pass="correct horse battery"
    zfs_root_make_pool "$pass" || return 1
    ssh-keygen -q -t ed25519 -N '' -C vm-host -f "$WORK/host_key"
    ssh-keygen -q -t ed25519 -N '' -C tester -f "$WORK/id"
    local boot network ssh
    boot=$(zfs_root_boot_json)
    network='"network": {"kernelModules": ["virtio_net"], "dhcp": true}'
    ssh="\"ssh\": {\"port\": 22, \"hostKeys\": [\"/etc/lethe/host_key\"], \"authorizedKeys\": [\"$(cat "$WORK/id.pub")\"]}"
    local rollback
    rollback=$(zfs_root_rollback_json)
    write_config "$WORK/config.json" "$boot" "$network, $ssh${rollback:+, $rollback}"
    zfs_root_initrd "$WORK/config.json" --file "$WORK/host_key:/etc/lethe/host_key"
    local port log qemu status=0
    port=$(free_port)
    log=$WORK/serial.log
    zfs_root_vm "$log" --hostfwd "$port:22" --background "$WORK/qemu.pid"
    qemu=$(cat "$WORK/qemu.pid")
    wait_log "$log" 'ssh: listening on port 22' "$qemu" || return 1
    coproc SSH { ssh_vm "$port" -tt 2>&1; }
    local from_ssh to_ssh ssh_pid=$SSH_PID
    exec {from_ssh}<&"${SSH[0]}" {to_ssh}>&"${SSH[1]}"
    local out=$WORK/ssh.out
    : >"$out"
    expect_ssh 'Passphrase for rpool (ZFS encryption root): ' || return 1
    printf 'wrong guess\r' >&"$to_ssh"
    expect_ssh 'Wrong passphrase. Try again' || return 1
    : >"$out"
    expect_ssh 'Passphrase for rpool (ZFS encryption root): ' || return 1
    printf '%s\r' "$pass" >&"$to_ssh"
    expect_ssh 'Unlocked rpool. The boot continues.' || return 1
    wait "$ssh_pid" || true
    wait_vm "$qemu" || return 1
    check_log "$log" \
        --want 'import the ZFS pools: rpool \(imported\)' \
        --want 'unlock: rpool: the passphrase is not the ZFS key' \
        --want 'unlock: rpool: ZFS key loaded' \
        --want 'load the ZFS keys: opened rpool' \
        --want 'lethe: rollback done: root archived as rpool/local/old_roots/' \
        --want 'mount the root filesystem: rpool/local/root on /sysroot' \
        --want '@@PERSIST persisted' --want '@@KEY available rpool' --refuse '@@SETUP-MARKER-FOUND' \
        --want '@@STAGE2-DONE' \
        --refuse 'correct horse' --refuse 'wrong guess' --refuse 'listing with zfs list instead' || status=1
    return $status
}
