# description: dracut systemd initrd with Debian's zfs-dracut: a LUKS root (systemd-cryptsetup) and an encrypted ZFS dataset tank/secure (keylocation=prompt, asked for as NixOS asks: systemd-ask-password piped to zfs load-key, 3 tries) wait at once with different passphrases; over SSH a passphrase without a target is refused, one wrong passphrase for the dataset costs the dataset one try and the disk none, `unlock TARGET` answers each; a second boot answers both at the interactive prompt; the dataset's content is read in the initrd and stage 2 runs on a fresh root
# Needs dracut-core, zfs-dkms, zfsutils-linux (scripts/setup.sh); zfs-dracut's module is taken
# from its .deb (lib/make-dracut-initrd --zfs). The pool is made once by a VM and cached
# (lib/zfs.sh: zfs_pool_disk).
#
# zfs-dracut loads keys only for a ZFS root (its pre-mount hook, "Encrypted ZFS password for
# DATASET"), and its zfs-import-scan.service runs after cryptsetup.target, so a data pool's key
# would never be asked for while the LUKS request waits. The initrd therefore gets the unit NixOS
# makes for a pool, zfs-import-tank.service (nixos/modules/tasks/filesystems/zfs.nix,
# createImportService): it imports the pool (-N, from /dev/disk/by-id) and, for each dataset with
# keylocation=prompt whose key is unavailable, runs
#   systemd-ask-password --timeout=0 "Enter key for $ds:" | zfs load-key "$ds"
# up to 3 times. A test unit after it mounts tank/secure read-only and prints its marker file.
source "$VM_ROOT/scenarios/unlock-ssh.sh" # expect_ssh
source "$VM_ROOT/lib/systemd.sh"
source "$VM_ROOT/lib/zfs.sh"

LUKS_PASS="correct horse"
ZFS_PASS="zfs battery staple"
ZFS_WRONG="not the zfs key"
LUKS_ASK='Please enter passphrase for disk crypted:'
ZFS_ASK='Enter key for tank/secure:'

# zfs_initrd_units DIR: the include tree: NixOS' import unit for the pool `tank` (as it makes it
# for boot.zfs.requestEncryptionCredentials = true, passwordTimeout = 0) and the test's check.
zfs_initrd_units() {
    local dir=$1 units=$1/etc/systemd/system
    mkdir -p "$units/zfs-import.target.requires" "$units/initrd.target.wants" "$dir/etc/lethe-test" \
        "$dir/etc/modules-load.d"
    echo zfs >"$dir/etc/modules-load.d/zfs.conf"
    cat >"$units/zfs-import-tank.service" <<'UNIT'
# What NixOS makes for a pool (zfs.nix: createImportService). The module comes from
# systemd-modules-load (etc/modules-load.d/zfs.conf, as NixOS' boot.initrd.kernelModules), not
# zfs-dracut's zfs-load-module.service, which is ordered after cryptsetup.target: the key would
# only be asked for once the LUKS disk is open.
[Unit]
Description=Import ZFS pool "tank"
DefaultDependencies=no
Wants=systemd-udev-settle.service
After=systemd-udev-settle.service systemd-modules-load.service systemd-ask-password-console.service
Before=zfs-import.target shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/bash /etc/lethe-test/zfs-import-tank
StandardOutput=journal+console
StandardError=journal+console
UNIT
    cat >"$dir/etc/lethe-test/zfs-import-tank" <<'SCRIPT'
# NixOS' script for pool "tank" (importLib + createImportService), with its store paths replaced
# by the initrd's programs.
pool=tank
poolReady() {
    state="$(zpool import 2>/dev/null | awk "/pool: $1/ { found = 1 }; /state:/ { if (found == 1) { print \$2; exit } }; END { if (found == 0) { print \"MISSING\" } }")"
    if [[ "$state" = "ONLINE" ]]; then return 0; else echo "Pool $1 in state $state, waiting"; return 1; fi
}
poolImported() { zpool list "$1" >/dev/null 2>/dev/null; }
poolImport() { zpool import -d /dev/disk/by-id -N $ZFS_FORCE "$1"; }
if ! poolImported "$pool"; then
    echo -n "importing ZFS pool \"$pool\"..."
    for ((i = 0; i < 60; i++)); do
        poolReady "$pool" && poolImport "$pool" && break
        sleep 1
    done
    poolImported "$pool" || poolImport "$pool"
fi
if poolImported "$pool"; then
    zfs list -rHo name,keylocation,keystatus -t volume,filesystem "$pool" | while IFS=$'\t' read -r ds kl ks; do
        {
            if [[ "$ks" != unavailable ]]; then continue; fi
            case "$kl" in
                none) ;;
                prompt)
                    tries=3
                    success=false
                    while [[ $success != true ]] && [[ $tries -gt 0 ]]; do
                        systemd-ask-password --timeout=0 "Enter key for $ds:" | zfs load-key "$ds" \
                            && success=true \
                            || tries=$((tries - 1))
                    done
                    [[ $success = true ]]
                    ;;
                *) zfs load-key "$ds" ;;
            esac
        } </dev/null
    done
    echo "Successfully imported $pool"
else
    exit 1
fi
SCRIPT
    ln -sf ../zfs-import-tank.service "$units/zfs-import.target.requires/zfs-import-tank.service"
    cat >"$units/lethe-test-zfs-check.service" <<'UNIT'
# The test's check: the dataset's key is loaded and its content readable, before initrd.target.
[Unit]
Description=lethe test: read tank/secure
DefaultDependencies=no
Requires=zfs-import-tank.service
After=zfs-import-tank.service
Before=initrd.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/bash -c 'echo "@@ZFS-KEYSTATUS $(zfs get -H -o value keystatus tank/secure)"; mkdir -p /run/zfs-check && mount -t zfs -o ro tank/secure /run/zfs-check && echo "@@ZFS-SECURE $(cat /run/zfs-check/secure-marker)" && umount /run/zfs-check'
StandardOutput=journal+console
UNIT
    ln -sf ../lethe-test-zfs-check.service "$units/initrd.target.wants/lethe-test-zfs-check.service"
}

# ssh_unlock TAG PASSPHRASE [TARGET]: `ssh host unlock [TARGET]` with the passphrase on stdin;
# its status and output go to $WORK/TAG.{status,out}.
ssh_unlock() {
    local tag=$1 pass=$2 target=${3:-} st=0
    printf '%s' "$pass" | systemd_ssh "$port" unlock ${target:+"$target"} >"$WORK/$tag.out" 2>&1 || st=$?
    echo "$st" >"$WORK/$tag.status"
    echo "ssh unlock ${target:-(no target)} [$tag]: status $st: $(tr '\n' ' ' <"$WORK/$tag.out")"
    return "$st"
}

# boot_zfs LOG: boots in the background; sets qemu; waits until both requests are seen. The
# pool's disk has a serial, so udev names it in /dev/disk/by-id (NixOS' devNodes). The LUKS
# disk's device wait has no timeout: on a loaded machine udev (and the zfs.ko load beside it)
# took longer under TCG than systemd's default 90 s before the disk appeared.
boot_zfs() {
    local log=$1
    port=$(free_port)
    VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --hostfwd "$port:22" --timeout 600 \
        --qemu -drive --qemu "file=$pool,if=none,id=pool,format=raw,cache=unsafe" \
        --qemu -device --qemu "virtio-blk-pci,drive=pool,serial=tank0" \
        --append "rd.luks.name=$uuid=crypted rd.luks.options=$uuid=x-systemd.device-timeout=0 root=/dev/mapper/crypted $SYSTEMD_VM_ARGS" \
        --background "$WORK/qemu.pid"
    qemu=$(cat "$WORK/qemu.pid")
    wait_log "$log" 'ssh: listening on port 22' "$qemu" || return 1
    wait_log "$log" "unlock: systemd asks: \"$LUKS_ASK\"" "$qemu" || return 1
    wait_log "$log" "unlock: systemd asks: \"$ZFS_ASK\"" "$qemu" || return 1
}

# The scripted boot: no target while two wait (refused), one wrong passphrase for the dataset,
# then each right one for its target.
scripted_boot() {
    local log=$1 failed=0
    boot_zfs "$log" || return 1
    # Both wait: a passphrase without a target must go to neither.
    ssh_unlock no-target "$LUKS_PASS" && failed=1
    ssh_unlock zfs-wrong "$ZFS_WRONG" tank/secure || failed=1
    # The wrong key costs the dataset one try: NixOS' loop asks again.
    if ((failed == 0)); then
        wait_log "$log" "unlock: systemd asks: \"$ZFS_ASK\"" "$qemu" 2 || return 1
        ssh_unlock zfs-right "$ZFS_PASS" tank/secure || failed=1
        ssh_unlock luks-right "$LUKS_PASS" crypted || failed=1
    fi
    if ((failed)); then
        # Nothing more will answer: end the VM instead of waiting for its timeout, once the
        # dataset's asker has said what a passphrase it got did (up to 2 minutes: the log is the
        # evidence the cases read, not a timed assertion).
        local i
        for ((i = 0; i < 120; i++)); do
            clean_log "$log" | grep -qE "Incorrect key provided|Successfully imported tank" && break
            kill -0 "$qemu" 2>/dev/null || break
            sleep 1
        done
        sleep 2
        kill "$qemu" 2>/dev/null || true
        wait "$qemu" 2>/dev/null || true
        return 0
    fi
    wait_vm "$qemu" || return 1
}

# The interactive boot: one session lists both requests and prompts for each in turn; the
# prompt waiting at the end of what the session shows decides which passphrase is typed.
interactive_boot() {
    local log=$1 from_ssh ssh_pid n seen=0 text chunk
    boot_zfs "$log" || return 1
    out=$WORK/ssh-interactive.out
    : >"$out"
    coproc SSH { systemd_ssh "$port" -tt 2>&1; }
    ssh_pid=$SSH_PID
    exec {from_ssh}<&"${SSH[0]}"
    expect_ssh 'password requests wait' || return 1
    for n in 1 2; do
        while :; do
            text=$(tr -d '\r' <"$out")
            text=${text:$seen}
            if [[ $text == *"$ZFS_ASK" || $text == *"$ZFS_ASK " ]]; then
                printf '%s\n' "$ZFS_PASS" >&"${SSH[1]}"
                break
            elif [[ $text == *"$LUKS_ASK" || $text == *"$LUKS_ASK " ]]; then
                printf '%s\n' "$LUKS_PASS" >&"${SSH[1]}"
                break
            fi
            IFS= read -r -d '' -n 1 -u "$from_ssh" chunk || { echo "ssh session ended: $(tr -d '\r' <"$out")"; return 1; }
            printf '%s' "$chunk" >>"$out"
        done
        seen=$(tr -d '\r' <"$out" | wc -c)
    done
    wait_vm "$qemu" || return 1
    kill "$ssh_pid" 2>/dev/null || true
}

scenario() {
    local host_key id disk pool initrd uuid port qemu out log1=$WORK/serial-1.log log2=$WORK/serial-2.log
    zfs_setup
    systemd_keys
    # The pool: tank on the second disk, tank/secure encrypted with its own passphrase.
    cat >"$WORK/make-pool" <<POOL
zpool create -f -o cachefile=none -O mountpoint=none tank /dev/vdb1 || echo "@@FAIL zpool create"
printf '%s' '$ZFS_PASS' | zfs create -o encryption=on -o keyformat=passphrase -o keylocation=prompt \\
    -o mountpoint=legacy tank/secure || echo "@@FAIL zfs create"
mkdir -p /mnt/secure && mount -t zfs tank/secure /mnt/secure || echo "@@FAIL mount"
echo "secret data on tank/secure" >/mnt/secure/secure-marker
umount /mnt/secure
zpool export tank && echo "@@ZFS-POOL-READY"
POOL
    pool=$WORK/pool.img
    zfs_pool_disk "$pool" "$WORK/make-pool" || return 1
    systemd_blank "$WORK/blank"
    disk=$(make_disk disk.img --luks "$LUKS_PASS" --root-marker "unlocked root" --blank "blank:$WORK/blank")
    uuid=$(luks_uuid "$disk")
    systemd_config "$WORK/config.json" '{"systemdAgent": true}'
    zfs_initrd_units "$WORK/include"
    initrd=$(make_systemd_initrd initrd.cpio "$WORK/config.json" --file "$host_key:/etc/lethe/host_key" \
        --zfs --include "$WORK/include") || return 1

    scripted_boot "$log1" || return 1
    # Two requests wait: no target is refused, naming both, and nothing is sent.
    if [[ $(cat "$WORK/no-target.status") != 0 ]] && grep -q 'tank/secure' "$WORK/no-target.out" &&
        grep -q crypted "$WORK/no-target.out"; then
        echo "CASE PASS scripted-no-target-refused"
    else
        echo "CASE FAIL scripted-no-target-refused: status $(cat "$WORK/no-target.status"): $(tr '\n' ' ' <"$WORK/no-target.out")"
        CASES_FAILED+=(scripted-no-target-refused)
    fi
    # One wrong key: exactly one failed load-key for the dataset, no failed try for the disk.
    check_case scripted-wrong-key-costs-one-dataset-try "$log1" \
        --want "Key load error: Incorrect key provided for 'tank/secure'" \
        --refuse 'Failed to activate with specified passphrase|Passphrase incorrect|No key available with this passphrase'
    local wrong
    wrong=$(clean_log "$log1" | grep -c "Incorrect key provided for 'tank/secure'" || true)
    if [[ $wrong == 1 ]]; then
        echo "CASE PASS scripted-exactly-one-dataset-try-used"
    else
        echo "CASE FAIL scripted-exactly-one-dataset-try-used: $wrong failed load-keys"
        CASES_FAILED+=(scripted-exactly-one-dataset-try-used)
    fi
    check_case scripted-both-unlocked "$log1" \
        --want "unlock: passphrase sent for \"$ZFS_ASK\"" --want "unlock: passphrase sent for \"$LUKS_ASK\"" \
        --want 'Finished systemd-cryptsetup@crypted' --want 'Successfully imported tank' \
        --want '@@ZFS-KEYSTATUS available' --want '@@ZFS-SECURE secret data on tank/secure' \
        --want 'moved root to old_roots/' --want '@@STAGE2-DONE' \
        --refuse '@@ROOT-MARKER' --refuse "$LUKS_PASS|$ZFS_PASS|$ZFS_WRONG"
    in_order "$log1" '@@ZFS-SECURE' 'Switching root' '@@STAGE2 ' || CASES_FAILED+=(scripted-zfs-before-switch-root)

    interactive_boot "$log2" || { echo "interactive: $(tr -d '\r' <"$WORK/ssh-interactive.out" 2>/dev/null)"; CASES_FAILED+=(interactive-session); }
    check_case interactive-both-unlocked "$log2" \
        --want "unlock: passphrase sent for \"$ZFS_ASK\"" --want "unlock: passphrase sent for \"$LUKS_ASK\"" \
        --want '@@ZFS-SECURE secret data on tank/secure' --want '@@OLD-ROOTS [^ ]+ [^ ]+ $' --want '@@STAGE2-DONE' \
        --refuse 'Incorrect key provided|Failed to activate with specified passphrase' \
        --refuse "$LUKS_PASS|$ZFS_PASS"
    cases_verdict
}
