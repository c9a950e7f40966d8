# description: dracut systemd initrd with the config the NixOS module writes (no boot section; fileSystems' btrfs mounts in rollback.stage2Mounts): /home mounted by subvolid= is root/home, inside the rolled-back root; lethe-rollback refuses it by subvolume id with both names in its message, sysroot.mount is never mounted, emergency.target powers off; the disk is unchanged
# Needs dracut-core (scripts/setup.sh). An unencrypted disk, so the host can look at it after.
source "$VM_ROOT/lib/systemd.sh"

scenario() {
    local disk initrd mnt id log=$WORK/serial.log status=0
    disk=$(make_disk disk.img --root-marker "the old root")
    mnt=$WORK/mnt
    mkdir -p "$mnt"
    mount -o loop "$disk" "$mnt"
    btrfs -q subvolume create "$mnt/root/home" >/dev/null
    echo "alice's notes" >"$mnt/root/home/notes"
    id=$(btrfs inspect-internal rootid "$mnt/root/home")
    umount "$mnt"
    # Only the disk knows what subvolid= names: check-config accepts this, the guard does not.
    printf '{"version": 1, "rollback": {"device": "/dev/vda", "stage2Mounts": [{"device": "/dev/vda", "mountPoint": "/nix", "fsType": "btrfs", "options": "subvol=nix"}, {"device": "/dev/vda", "mountPoint": "/home", "fsType": "btrfs", "options": "x-initrd.mount,subvolid=%s"}]}}\n' \
        "$id" >"$WORK/config.json"
    initrd=$(make_systemd_initrd initrd.cpio "$WORK/config.json")
    VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 240 \
        --append "root=/dev/vda $SYSTEMD_VM_ARGS" || { echo "QEMU ended with status $? (124: timeout)"; return 1; }
    check_log "$log" \
        --want "root \\(rollback.subvolume\\) contains root/home \\(subvolume id $id\\), which rollback.stage2Mounts\\[1\\] mounts at /home" \
        --want 'Failed to start lethe-rollback.service' \
        --refuse 'Mounted sysroot.mount' --refuse '@@STAGE2' || status=1
    mount -o loop,ro "$disk" "$mnt"
    [[ $(cat "$mnt/root/home/notes" 2>/dev/null) == "alice's notes" ]] || { echo "root/home/notes changed or gone"; status=1; }
    [[ $(cat "$mnt/root/root-marker" 2>/dev/null) == "the old root" ]] || { echo "root/root-marker changed or gone"; status=1; }
    [[ -z $(ls -A "$mnt/old_roots" 2>/dev/null) ]] || { echo "old_roots is not empty: $(ls "$mnt/old_roots")"; status=1; }
    umount "$mnt"
    return $status
}
