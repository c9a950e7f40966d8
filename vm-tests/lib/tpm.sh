# Shared by the systemd-tpm2-* scenarios: a software TPM (swtpm, the real TPM 2.0 reference
# code in libtpms) as QEMU's tpm-tis device, and a LUKS2 test disk with a systemd-tpm2 token
# enrolled on the host by systemd-cryptenroll into that TPM. Source after systemd.sh.
# Needs swtpm, swtpm-tools, tpm2-tools (scripts/setup.sh).

# The passphrase of key slot 0 (the SSH fallback); the TPM2 token is key slot 1.
TPM_PASSPHRASE="correct horse"
# PCR 16 after test-extend-pcr16.service extended it once from all zeros, as tpm2_pcrread
# prints it (computed with swtpm on the host).
TPM_PCR16_EXTENDED="16: 0x517F784DAFD3BEF11DB387748AED9AECB594D4F962A0F0B6723659AFFBB7A2E2"

# tpm_template: the enrolled disk and the TPM state it is sealed to, made once and cached in
# ${LETHE_CACHE:-/var/cache/lethe}/tpm/KEY/ (disk.img, state/), KEY a sha256 of the inputs:
# this function and the passphrase, systemd.sh (the blank root), make-disk and the test
# stage 2, busybox, and the versions of swtpm, libtpms, systemd and cryptsetup (not the rest
# of this file: the initrd's test unit does not change the disk). The token is bound to PCR 16
# (the debug PCR, which nothing measures into here, so it reads all zeros at enrollment and at
# boot unless a test extends it). Sets tpm_cache (the directory).
tpm_template() {
    local root=${LETHE_CACHE:-/var/cache/lethe}/tpm key
    mkdir -p "$root"
    key=$({
        declare -f tpm_template
        echo "$TPM_PASSPHRASE"
        cat "$VM_ROOT/lib/systemd.sh" "$VM_ROOT/lib/make-disk" "$VM_ROOT"/lib/stage2/*
        cat "$(command -v busybox)"
        dpkg-query -W -f '${Package} ${Version}\n' swtpm libtpms0 systemd cryptsetup-bin
    } | sha256sum | cut -c1-32)
    tpm_cache=$root/$key
    (
        flock 9
        [[ -s $tpm_cache/disk.img && -s $tpm_cache/state/tpm2-00.permall ]] && exit 0
        local tmp
        tmp=$(mktemp -d "$root/.tmp.XXXXXX")
        trap 'tpm_stop; rm -rf "$tmp"' EXIT
        systemd_blank "$tmp/blank"
        WORK=$tmp make_disk disk.img --luks "$TPM_PASSPHRASE" --root-marker "unlocked root" \
            --blank "blank:$tmp/blank" >/dev/null
        rm -rf "$tmp/blank"
        mkdir "$tmp/state"
        # The host talks to swtpm over TCP (libtss2's swtpm TCTI has no unix sockets, and it
        # expects the control channel on the next port).
        local port ctrl
        while :; do
            port=$(free_port)
            ctrl=$((port + 1))
            (exec 3<>"/dev/tcp/127.0.0.1/$ctrl") 2>/dev/null || break
        done
        swtpm socket --tpm2 --tpmstate "dir=$tmp/state" --flags not-need-init,startup-clear \
            --server "type=tcp,port=$port,bindaddr=127.0.0.1" --ctrl "type=tcp,port=$ctrl,bindaddr=127.0.0.1" \
            --log "file=$tmp/swtpm.log" --pid "file=$tmp/swtpm.pid" --daemon ||
            { echo "tpm_template: swtpm did not start (see $tmp/swtpm.log)" >&2; exit 1; }
        TPM_PID=$(cat "$tmp/swtpm.pid")
        local i
        for ((i = 0; i < 100; i++)); do
            TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=$port tpm2_pcrread sha256:16 >/dev/null 2>&1 && break
            kill -0 "$TPM_PID" 2>/dev/null || { echo "tpm_template: swtpm ended (see $tmp/swtpm.log)" >&2; exit 1; }
            sleep 0.1
        done
        PASSWORD=$TPM_PASSPHRASE systemd-cryptenroll --tpm2-device="swtpm:host=127.0.0.1,port=$port" \
            --tpm2-pcrs=16 "$tmp/disk.img" >&2 || { echo "tpm_template: systemd-cryptenroll failed" >&2; exit 1; }
        tpm_stop
        cryptsetup token export --token-id 0 "$tmp/disk.img" | grep -q '"type":"systemd-tpm2"' ||
            { echo "tpm_template: no systemd-tpm2 token in $tmp/disk.img" >&2; exit 1; }
        rm -f "$tmp/state/.lock"
        rm -rf "$tpm_cache"
        mkdir "$tpm_cache"
        mv "$tmp/disk.img" "$tmp/state" "$tpm_cache/"
    ) 9>"$root/.lock" || return 1
}

# tpm_copy: this run's copies of the cached disk and TPM state ($WORK/disk.img, $WORK/tpm-state):
# a boot changes both. Sets disk, tpm_state.
tpm_copy() {
    tpm_template || return 1
    disk=$WORK/disk.img tpm_state=$WORK/tpm-state
    cp "$tpm_cache/disk.img" "$disk"
    rm -rf "$tpm_state"
    cp -a "$tpm_cache/state" "$tpm_state"
}

# tpm_start STATE: swtpm for one QEMU boot on the unix control socket $WORK/swtpm.sock, as a
# daemon (not a job of this shell: wait_vm's `wait` would wait for it too); --terminate ends it
# when QEMU disconnects, and the EXIT trap set here ends it whatever happens to the scenario
# (also when QEMU never connected). Sets TPM_QEMU_ARGS: boot_vm's --qemu arguments of the
# tpm-tis device.
tpm_start() {
    local state=$1 sock=$WORK/swtpm.sock i
    rm -f "$sock" "$WORK/swtpm.pid"
    trap tpm_stop EXIT
    swtpm socket --tpm2 --tpmstate "dir=$state" --ctrl "type=unixio,path=$sock" --terminate \
        --log "file=$WORK/swtpm.log" --pid "file=$WORK/swtpm.pid" --daemon ||
        { echo "swtpm did not start (see $WORK/swtpm.log)" >&2; return 1; }
    TPM_PID=$(cat "$WORK/swtpm.pid")
    for ((i = 0; i < 100; i++)); do
        [[ -S $sock ]] && break
        sleep 0.1
    done
    [[ -S $sock ]] || { echo "swtpm: no socket $sock" >&2; return 1; }
    TPM_QEMU_ARGS=(--qemu -chardev --qemu "socket,id=chrtpm,path=$sock"
        --qemu -tpmdev --qemu emulator,id=tpm0,chardev=chrtpm --qemu -device --qemu tpm-tis,tpmdev=tpm0)
}

# tpm_stop: ends the swtpm started by tpm_start or tpm_template if it still runs, and waits
# until it has gone.
tpm_stop() {
    if [[ -n ${TPM_PID:-} ]]; then
        kill "$TPM_PID" 2>/dev/null || true
        while kill -0 "$TPM_PID" 2>/dev/null; do sleep 0.1; done
        TPM_PID=
    fi
}

# tpm_extend_tree DIR: a tree for make-dracut-initrd --include: a test unit,
# test-extend-pcr16.service, that extends PCR 16 with the real TPM before systemd-cryptsetup
# runs when the kernel command line has lethe_test.extend_pcr16, so the token's PCR policy no
# longer matches (as after a firmware or boot loader change). It prints the new value
# (TPM_PCR16_EXTENDED) on the console.
tpm_extend_tree() {
    local dir=$1/etc/systemd/system
    mkdir -p "$dir/sysinit.target.wants"
    cat >"$dir/test-extend-pcr16.service" <<'UNIT'
# Test only: changes PCR 16 before the LUKS unlock (lethe_test.extend_pcr16 on the kernel
# command line), so a TPM2 token bound to PCR 16 no longer unseals.
[Unit]
Description=Test: extend PCR 16 before the LUKS unlock
DefaultDependencies=no
ConditionKernelCommandLine=lethe_test.extend_pcr16
Wants=cryptsetup-pre.target
Before=cryptsetup-pre.target systemd-cryptsetup@crypted.service

[Service]
Type=oneshot
RemainAfterExit=yes
StandardOutput=journal+console
StandardError=journal+console
Environment=TPM2TOOLS_TCTI=device:/dev/tpmrm0
# sha256 of "lethe tests: PCR 16 changed"
ExecStart=/usr/bin/tpm2_pcrextend 16:sha256=06cdb036a48b529cbd61a3f0b6d13ded77361cab53d0914d41ab0ae5494d577f
# Shown on the console: the new value (TPM_PCR16_EXTENDED in vm-tests/lib/tpm.sh).
ExecStart=/usr/bin/tpm2_pcrread sha256:16
UNIT
    ln -sfn ../test-extend-pcr16.service "$dir/sysinit.target.wants/test-extend-pcr16.service"
}

# tpm_initrd NAME: the dracut systemd initrd with TPM2 support (dracut's tpm2-tss), lethe in
# systemdAgent mode and the PCR 16 test unit, in $WORK (cached by make-dracut-initrd). Needs
# host_key and id (systemd_keys).
tpm_initrd() {
    systemd_config "$WORK/config.json" '{"systemdAgent": true}'
    tpm_extend_tree "$WORK/include"
    make_systemd_initrd "$1" "$WORK/config.json" --file "$host_key:/etc/lethe/host_key" \
        --tpm2 --include "$WORK/include"
}
