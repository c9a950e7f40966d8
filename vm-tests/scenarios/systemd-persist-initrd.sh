# description: dracut systemd initrd, two boots: lethe-persist-initrd.service bind-mounts the inInitrd entries (machine-id, a host key, /var/lib/nixos) below /sysroot after the store's mount and before the switch to stage 2; the second boot's stage 2 finds the first boot's machine ID, host key and UID map already in place, and stage 2's lethe persist leaves them (nothing mounted twice). LETHE_TEST_MASK_INITRD_UNIT=1 masks the unit: the scenario must then fail
# Needs dracut-core (scripts/setup.sh).
source "$VM_ROOT/lib/systemd.sh"
# shellcheck source=../lib/persist.sh
source "$VM_ROOT/lib/persist.sh"

# A check of stage 2 beside persist-check: how often each inInitrd target is mounted.
persist_initrd_check() {
    cat >"$1" <<'CHECK'
#!/nix/stage2/busybox sh
for p in /etc/machine-id /var/lib/nixos /etc/ssh/ssh_host_ed25519_key; do
    echo "@@MOUNT-COUNT $p $(/nix/stage2/busybox awk -v m="$p" '$2 == m' /proc/mounts | /nix/stage2/busybox wc -l)"
done
CHECK
    chmod +x "$1"
}

scenario() {
    local host_key id disk initrd port qemu out n status=0 mask=()
    systemd_keys
    systemd_blank "$WORK/blank"
    # The store, as a dracut host declares it: an x-initrd.mount line of the root's fstab, which
    # systemd's fstab-generator turns into sysroot-persist.mount once initrd-parse-etc.service
    # has reloaded; lethe-persist-initrd waits for it (RequiresMountsFor= from the generator).
    echo '/dev/mapper/crypted /persist btrfs subvol=persist,x-initrd.mount 0 0' >"$WORK/blank/etc/fstab"
    printf '{"version": 1, "network": {"kernelModules": ["virtio_net"], "dhcp": true}, "ssh": {"hostKeys": ["/etc/lethe/host_key"], "authorizedKeys": ["%s"]}, "unlock": {"devices": [{"name": "crypted", "device": "/dev/vda"}], "console": false}, "rollback": {"device": "/dev/mapper/crypted", "blankSnapshot": "blank", "keepAtLeast": 0}, %s}\n' \
        "$(cat "$id.pub")" "$PERSIST_JSON" >"$WORK/config.json"
    persist_initrd_check "$WORK/initrd-check"
    # shellcheck disable=SC2046 # one option per line
    disk=$(make_disk disk.img --luks "correct horse" --blank "blank:$WORK/blank" \
        $(persist_disk_files "$WORK/config.json") --file "$WORK/initrd-check:nix/stage2/check.d/06-initrd")
    # The check that this scenario can fail: an empty unit file in /etc masks the unit
    # (dracut's initrd has no systemd-debug-generator, so systemd.mask= does nothing there).
    if [[ ${LETHE_TEST_MASK_INITRD_UNIT-} == 1 ]]; then
        : >"$WORK/masked"
        mask=(--file "$WORK/masked:/etc/systemd/system/lethe-persist-initrd.service")
    fi
    initrd=$(make_systemd_initrd initrd.cpio "$WORK/config.json" --file "$host_key:/etc/lethe/host_key" "${mask[@]}")
    for n in 1 2; do
        port=$(free_port)
        VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$disk" --log "$WORK/serial-$n.log" --hostfwd "$port:22" \
            --timeout 240 --append "root=/dev/mapper/crypted $SYSTEMD_VM_ARGS" --background "$WORK/qemu.pid"
        qemu=$(cat "$WORK/qemu.pid")
        wait_log "$WORK/serial-$n.log" 'ssh: listening on port 22' "$qemu" || return 1
        out=$(printf 'correct horse' | systemd_ssh "$port" unlock 2>&1) || { echo "boot $n: ssh unlock failed: $out"; return 1; }
        wait_vm "$qemu" || return 1
    done
    local log1=$WORK/serial-1.log log2=$WORK/serial-2.log
    check_log "$log1" \
        --want 'created /persist/etc/machine-id \(0:0 0444\)' \
        --want '@@EARLY-MOUNTED /etc/machine-id' --want '@@EARLY-MOUNTED /var/lib/nixos' \
        --want '@@EARLY-LINK /etc/ssh/ssh_host_ed25519_key -> /persist/etc/ssh/ssh_host_ed25519_key' \
        --want '@@MOUNT-COUNT /etc/machine-id 1' --want '@@MOUNT-COUNT /var/lib/nixos 1' \
        --want '@@PERSIST persisted 3 directories, 2 files; [0-9]+ created, 0 adopted$' \
        --want '@@MACHINE-ID uninitialized' --want '@@BOOT first' --want '@@STAGE2-DONE' \
        --refuse '@@EARLY-MISSING' --refuse '@@PERSIST refused' \
        --refuse '@@PERSIST mounted /persist/(etc/machine-id|var/lib/nixos)' || { echo "boot 1: see $log1"; status=1; }
    # The store's mount exists only after initrd-parse-etc's reload: the unit starts after it.
    in_order "$log1" 'Mounted sysroot.mount' 'Mounted sysroot-persist.mount' 'Finished initrd-parse-etc.service' \
        'Starting lethe-persist-initrd.service' 'created /persist/etc/machine-id' \
        'Finished lethe-persist-initrd.service' 'Reached target initrd-fs.target' '@@STAGE2 ' || status=1
    check_log "$log2" \
        --want 'moved root to old_roots/' \
        --want '@@EARLY-MOUNTED /etc/machine-id' --want '@@EARLY-MOUNTED /var/lib/nixos' \
        --want '@@EARLY-MOUNTED /etc/ssh/ssh_host_ed25519_key' \
        --want '@@MOUNT-COUNT /etc/machine-id 1' --want '@@MOUNT-COUNT /var/lib/nixos 1' \
        --want '@@MOUNT-COUNT /etc/ssh/ssh_host_ed25519_key 1' \
        --want '@@MACHINE-ID 0123456789abcdef0123456789abcdef' --want '@@BOOT later' \
        --want '@@KEY host key of boot 1 600 0:0' --want '@@UIDMAP uid map of boot 1' \
        --want '@@DATA data of boot 1' --want '@@STAGE2-DONE' \
        --refuse '@@EARLY-MISSING' --refuse '@@PERSIST refused' \
        --refuse '@@PERSIST mounted /persist/(etc/|var/lib/nixos)' || { echo "boot 2: see $log2"; status=1; }
    in_order "$log2" 'Mounted sysroot.mount' 'Finished lethe-persist-initrd.service' '@@STAGE2 ' || status=1
    return $status
}
