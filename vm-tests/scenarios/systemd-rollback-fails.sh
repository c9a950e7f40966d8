# description: dracut systemd initrd: the rollback refuses (root is a plain directory, not a subvolume): lethe's message on the console, lethe-rollback fails, sysroot.mount is never mounted, emergency.target powers off; the disk is unchanged
# Needs dracut-core (scripts/setup.sh). An unencrypted disk, so the host can look at it after.
source "$VM_ROOT/lib/systemd.sh"

scenario() {
    local disk initrd mnt log=$WORK/serial.log status=0
    disk=$(make_disk disk.img --root-marker "the old root")
    # Replace the root subvolume by a plain directory holding the same marker.
    mnt=$WORK/mnt
    mkdir -p "$mnt"
    mount -o loop "$disk" "$mnt"
    btrfs -q subvolume delete "$mnt/root" >/dev/null
    mkdir "$mnt/root"
    echo "the old root" >"$mnt/root/root-marker"
    umount "$mnt"
    printf '{"version": 1, "rollback": {"device": "/dev/vda"}}\n' >"$WORK/config.json"
    initrd=$(make_systemd_initrd initrd.cpio "$WORK/config.json")
    VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 240 \
        --append "root=/dev/vda $SYSTEMD_VM_ARGS" || { echo "QEMU ended with status $? (124: timeout)"; return 1; }
    check_log "$log" \
        --want 'lethe.*/dev/vda: root: exists but is not a btrfs subvolume .*; nothing was changed' \
        --want 'Failed to start lethe-rollback.service' \
        --want 'Reached target emergency.target|Started emergency.service|emergency' \
        --refuse 'Mounted sysroot.mount' --refuse '@@STAGE2' || status=1
    mount -o loop,ro "$disk" "$mnt"
    [[ $(cat "$mnt/root/root-marker" 2>/dev/null) == "the old root" ]] || { echo "root/root-marker changed or gone"; status=1; }
    [[ $(cat "$mnt/persist/persist-marker" 2>/dev/null) == "persisted" ]] || { echo "persist/persist-marker changed or gone"; status=1; }
    [[ -z $(ls -A "$mnt/old_roots") ]] || { echo "old_roots is not empty: $(ls "$mnt/old_roots")"; status=1; }
    umount "$mnt"
    return $status
}
