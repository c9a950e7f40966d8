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
# answering a connection) and waits until the listener has gone; and the stand-in of
# tang_bind_tampered, if any.
tang_stop() {
    if [[ -n ${TAMPER_PID:-} ]]; then
        kill "$TAMPER_PID" 2>/dev/null || true
        while kill -0 "$TAMPER_PID" 2>/dev/null; do sleep 0.1; done
        TAMPER_PID=
    fi
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

# tang_bind_sss DISK: `clevis luks bind` of DISK with an sss pin, threshold 1, over two tang
# pins: first a server that is down (its own keys, its advertisement made by tangd once from
# a pipe, nothing listening on its port; sets DOWN_URL), then $TANG_URL.
tang_bind_sss() {
    local disk=$1 db=$WORK/tang-db-down
    mkdir -p "$db"
    [[ -n $(ls -A "$db") ]] || /usr/libexec/tangd-keygen "$db"
    printf 'GET /adv HTTP/1.1\r\n\r\n' | /usr/libexec/tangd "$db" 2>/dev/null | sed '1,/^\r$/d' >"$WORK/adv-down.jws"
    curl -sf "http://127.0.0.1:$TANG_PORT/adv" >"$WORK/adv.jws"
    DOWN_URL=http://10.0.2.2:$(free_port)
    printf '%s' "$TANG_PASSPHRASE" | clevis luks bind -y -k - -d "$disk" sss \
        "{\"t\":1,\"pins\":{\"tang\":[{\"url\":\"$DOWN_URL\",\"adv\":\"$WORK/adv-down.jws\"},{\"url\":\"$TANG_URL\",\"adv\":\"$WORK/adv.jws\"}]}}"
    cryptsetup token export --token-id 0 "$disk" | grep -q '"type":"clevis"' ||
        { echo "tang_bind_sss: $disk has no clevis token 0" >&2; return 1; }
}

# tang_bind_tampered DISK: the stand-in of tang-tamper-stand-in.py (the real advertisement with
# an attacker's exchange key added to its payload, the signatures unchanged; /rec passed to
# tangd) on its own port, and DISK bound to it with the real advertisement's keys pinned.
# Sets TAMPER_URL.
tang_bind_tampered() {
    local disk=$1 port i
    port=$(free_port)
    jose jwk gen -i '{"alg":"ECMR","crv":"P-521"}' | jose jwk pub -i- >"$WORK/attacker.jwk"
    # Not a job of this shell, like tangd (wait_vm's bare `wait` would wait for it).
    (
        setsid python3 "$VM_ROOT/lib/tang-tamper-stand-in.py" "$port" "$TANG_PORT" "$WORK/attacker.jwk" \
            </dev/null >>"$WORK/stand-in.log" 2>&1 &
        echo $! >"$WORK/stand-in.pid"
    )
    TAMPER_PID=$(cat "$WORK/stand-in.pid")
    for ((i = 0; i < 100; i++)); do
        curl -sf "http://127.0.0.1:$port/adv" >/dev/null && break
        sleep 0.1
    done
    TAMPER_URL=http://10.0.2.2:$port
    curl -sf "http://127.0.0.1:$TANG_PORT/adv" >"$WORK/adv.jws"
    printf '%s' "$TANG_PASSPHRASE" | clevis luks bind -y -k - -d "$disk" tang \
        "{\"url\":\"$TAMPER_URL\",\"adv\":\"$WORK/adv.jws\"}"
}

# tang_refused_then_ssh URL REASON: boots the initrd of tang_scenario_setup; the Tang round
# against URL fails with REASON (logged, naming device, token and server), `ssh root@host
# unlock` opens the disk with the passphrase (key slot 0), stage 2 runs, Tang opened nothing.
tang_refused_then_ssh() {
    local url=$1 reason=$2 log=$WORK/serial.log qemu rc=0
    local refused="unlock: crypted: tang: /dev/vda token 0: $url: $reason"
    boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --hostfwd "$port:22" --timeout 150 \
        --background "$WORK/qemu.pid"
    qemu=$(cat "$WORK/qemu.pid")
    wait_log "$log" 'ssh: listening on port 22' "$qemu" || return 1
    wait_log "$log" "unlock: crypted: tang: " "$qemu" || return 1
    printf '%s\n' "$TANG_PASSPHRASE" | ssh_vm "$port" unlock 2>"$WORK/right.err" || rc=$?
    ((rc == 0)) || { echo "ssh unlock: exit $rc, stderr: $(cat "$WORK/right.err")"; return 1; }
    wait_vm "$qemu" || return 1
    check_log "$log" \
        --want "$refused" \
        --want 'scripted unlock: lethe: opened crypted' \
        --want 'unlock: crypted: opened /dev/vda as /dev/mapper/crypted \(keyslot 0\)' \
        --want '@@ROOT-MARKER unlocked root' \
        --want '@@STAGE2-DONE' \
        --refuse 'opened by tang' --refuse 'key recovered' --refuse "$TANG_PASSPHRASE"
}

# tang_scenario_setup [BIND]: the disk (bound to a running tangd by the function BIND, default
# tang_bind), SSH keys and the initrd of a lethe stage 1 with the network, SSH (console off:
# only SSH or Tang can answer) and `unlock.tang`. Sets disk, initrd, port.
tang_scenario_setup() {
    disk=$(make_disk disk.img --luks "$TANG_PASSPHRASE" --root-marker "unlocked root")
    tang_start
    "${1:-tang_bind}" "$disk"
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
