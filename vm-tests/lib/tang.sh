# Shared by the unlock-tang* scenarios: Debian's real tangd on the host's 127.0.0.1 (QEMU's user
# network shows it to the guest as 10.0.2.2), and a LUKS2 test disk bound to it on the host by
# Debian's `clevis luks bind`. Needs tang, clevis, clevis-luks, curl (scripts/setup.sh).

# The passphrase of key slot 0 (the SSH fallback); clevis adds key slot 1 and token 0.
TANG_PASSPHRASE="correct horse"

# tang_start: fresh keys in $WORK/tang-db and tangd served on 127.0.0.1:$TANG_PORT, one process
# per connection (systemd-socket-activate: no systemd as PID 1 here), not a job of this shell
# (wait_vm's bare `wait` would wait for it); the EXIT trap set here ends it whatever happens.
# Sets TANG_PORT and TANG_URL (the URL the guest uses).
tang_start() {
    local db=$WORK/tang-db i
    mkdir -p "$db"
    [[ -n $(ls -A "$db") ]] || /usr/libexec/tangd-keygen "$db"
    TANG_PORT=${TANG_PORT:-$(free_port)}
    TANG_URL=http://10.0.2.2:$TANG_PORT
    trap tang_stop EXIT
    (
        setsid systemd-socket-activate -l "127.0.0.1:$TANG_PORT" -a --inetd /usr/libexec/tangd "$db" \
            </dev/null >>"$WORK/tangd.log" 2>&1 &
        echo $! >"$WORK/tangd.pid"
    )
    TANG_PID=$(cat "$WORK/tangd.pid")
    for ((i = 0; i < 100; i++)); do
        curl -sf "http://127.0.0.1:$TANG_PORT/adv" >/dev/null && return 0
        kill -0 "$TANG_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "tangd did not answer on 127.0.0.1:$TANG_PORT (see $WORK/tangd.log)" >&2
    return 1
}

# tang_stop: ends the tangd of tang_start (its process group: the listener and a tangd still
# answering a connection) and waits until the listener has gone.
tang_stop() {
    if [[ -n ${TANG_PID:-} ]]; then
        kill -- -"$TANG_PID" 2>/dev/null || kill "$TANG_PID" 2>/dev/null || true
        while kill -0 "$TANG_PID" 2>/dev/null; do sleep 0.1; done
        TANG_PID=
    fi
}

# tang_bind DISK: `clevis luks bind` of DISK to $TANG_URL. The host cannot reach 10.0.2.2, so
# clevis gets the advertisement fetched from 127.0.0.1 (its `adv` option, as for an offline
# binding); the keys it pins are the same.
tang_bind() {
    local disk=$1
    curl -sf "http://127.0.0.1:$TANG_PORT/adv" >"$WORK/adv.jws"
    printf '%s' "$TANG_PASSPHRASE" | clevis luks bind -y -k - -d "$disk" tang \
        "{\"url\":\"$TANG_URL\",\"adv\":\"$WORK/adv.jws\"}"
    cryptsetup token export --token-id 0 "$disk" | grep -q '"type":"clevis"' ||
        { echo "tang_bind: $disk has no clevis token 0" >&2; return 1; }
}

# tang_scenario_setup: the disk (bound to a running tangd), SSH keys and the initrd of a lethe
# stage 1 with the network, SSH (console off: only SSH or Tang can answer) and `unlock.tang`.
# Sets disk, initrd, port.
tang_scenario_setup() {
    disk=$(make_disk disk.img --luks "$TANG_PASSPHRASE" --root-marker "unlocked root")
    tang_start
    tang_bind "$disk"
    ssh-keygen -q -t ed25519 -N '' -C vm-host -f "$WORK/host_key"
    ssh-keygen -q -t ed25519 -N '' -C tester -f "$WORK/id"
    local boot network ssh unlock
    boot='{"kernelModules": ["virtio_pci", "virtio_blk", "btrfs", "dm_crypt", "xts", "ecb"], "root": {"device": "/dev/mapper/crypted", "fsType": "btrfs", "options": "subvol=root"}, "mounts": [{"device": "/dev/mapper/crypted", "mountPoint": "/nix", "options": "subvol=nix"}], "init": "/nix/stage2/init"}'
    network='"network": {"kernelModules": ["virtio_net"], "dhcp": true}'
    ssh="\"ssh\": {\"port\": 22, \"hostKeys\": [\"/etc/lethe/host_key\"], \"authorizedKeys\": [\"$(cat "$WORK/id.pub")\"]}"
    unlock='"unlock": {"devices": [{"name": "crypted", "device": "/dev/vda"}], "console": false, "tang": {"timeoutSeconds": 5}}'
    write_config "$WORK/config.json" "$boot" "$network, $ssh, $unlock"
    initrd=$(make_initrd initrd.cpio "$WORK/config.json" --file "$WORK/host_key:/etc/lethe/host_key")
    port=$(free_port)
}
