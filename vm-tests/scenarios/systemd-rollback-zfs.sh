# description: dracut systemd initrd with Debian's zfs-dracut and a ZFS root: lethe-rollback.service runs after the pool's import and the root's key loading (zfs-dracut's pre-mount hook, from a key file) and before sysroot.mount, over two boots: each old root archived into rpool/local/old_roots with its content, the fresh root cloned from a blank snapshot, a sanoid-named snapshot of the root kept in its archive, rpool/safe/persist untouched
# The setup boot (lethe as /init on the btrfs disk, lib/zfs-root.sh) makes an encrypted rpool:
# rpool/local/root (a root marker, mountpoint=/ canmount=noauto: zfs-dracut mounts the root
# with -o zfsutil, which a legacy mountpoint refuses), its sanoid-named snapshot,
# rpool/local/blank@fresh (os-release, busybox and an /sbin/init that mounts /nix and /persist
# and runs the test stage 2: systemd switches only into a root that has them),
# rpool/local/old_roots, rpool/safe/persist. The pool's key is read from a file in the initrd
# (keylocation=file://), which zfs-dracut loads in its pre-mount hook (dracut-pre-mount.service),
# after zfs-import.target: the rollback needs the key to create the fresh root under the
# encrypted rpool/local. Boot with root=zfs:rpool/local/root; stage 2 writes a marker into /.
source "$VM_ROOT/lib/systemd.sh"

ZFS_PASS="zfs root key for the dracut boot"

scenario() {
    source "$VM_ROOT/lib/zfs-root.sh"
    # The archive keeps the root's mountpoint=/: mount(8) needs zfsutil for it.
    zfs_root_archives_check ro,zfsutil "$(cat <<'MORE'
zfs list -H -t snapshot -o name -r rpool | $B sed 's/^/@@SNAP /'
echo "@@KEY $(zfs get -H -o value encryption,keystatus rpool/local/root | $B tr '\n' ' ')$(zfs get -H -o value keylocation rpool)"
MORE
)"
    zfs_root_setup
    local more
    more=$(cat <<'MORE'
export PATH=/nix/zfs/bin:/nix/stage2:$PATH
zfs set keylocation=file:///etc/zfs/rpool.key rpool || echo "@@FAIL keylocation"
zfs set canmount=noauto rpool/local/root && zfs set mountpoint=/ rpool/local/root || echo "@@FAIL root mountpoint"
zfs snapshot rpool/local/root@autosnap_2026-12-01_00:00:00_daily || echo "@@FAIL autosnap"
zfs create -o mountpoint=legacy rpool/local/blank || echo "@@FAIL create blank"
$B mount -t zfs rpool/local/blank /mnt || echo "@@FAIL mount blank"
for d in etc bin sbin nix persist mnt tmp dev proc sys run; do $B mkdir -p /mnt/$d; done
printf 'NAME="lethe test root"\nID=lethe-test\n' >/mnt/etc/os-release
$B cp /nix/stage2/busybox /mnt/bin/busybox
{
    echo '#!/bin/busybox sh'
    echo 'B=/bin/busybox'
    echo '$B mount -t btrfs -o subvol=nix /dev/vda /nix || echo "@@FAIL mount /nix"'
    echo '$B mount -t zfs rpool/safe/persist /persist || echo "@@FAIL mount /persist"'
    echo 'exec /nix/stage2/init "$@"'
} >/mnt/sbin/init
$B chmod 0755 /mnt/sbin/init
$B umount /mnt
zfs snapshot rpool/local/blank@fresh || echo "@@FAIL blank snapshot"
MORE
)
    local t0=$SECONDS
    zfs_root_make_pool "$ZFS_PASS" "$more" || return 1
    echo "setup boot: $((SECONDS - t0)) s"
    # The key file, as zpool create read the passphrase (one line).
    printf '%s\n' "$ZFS_PASS" >"$WORK/rpool.key"
    printf '{"version": 1, "rollback": {"dataset": "rpool/local/root", "archive": "rpool/local/old_roots", "blankSnapshot": "rpool/local/blank@fresh", "keepAtLeast": 0}}\n' \
        >"$WORK/config.json"
    # ZFS_NO_ROLLBACK=1: no rollback section, to see the scenario fail without it.
    [[ -z ${ZFS_NO_ROLLBACK:-} ]] || echo '{"version": 1}' >"$WORK/config.json"
    local initrd
    initrd=$(make_systemd_initrd initrd.cpio "$WORK/config.json" --zfs --file "$WORK/rpool.key:/etc/zfs/rpool.key") ||
        return 1
    local args="rd.shell=0 rd.emergency=poweroff systemd.show_status=1 rd.udev.log_level=err \
systemd.journald.forward_to_console=1 root=zfs:rpool/local/root rw"
    local log1=$WORK/serial-1.log log2=$WORK/serial-2.log
    VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$WORK/disk.img" --disk "$WORK/pool.img" --log "$log1" \
        --append "$args" --timeout 900 || { echo "boot 1: QEMU ended with status $?"; return 1; }
    check_case boot-1-rolled-back-after-the-key "$log1" \
        --want 'root archived as rpool/local/old_roots/[0-9-]+_[0-9:]+' \
        --want '@@ROOT-MARKER-GONE' --want '@@ROOT-ENTRIES (bin|dev|etc|mnt|nix|persist|proc|root|run|sbin|sys|tmp|usr|var| )+$' \
        --want '@@KEY aes-256-gcm available file:///etc/zfs/rpool.key$' \
        --refuse '@@SETUP-MARKER-FOUND' --refuse 'listing with zfs list instead' --want '@@STAGE2-DONE'
    if in_order "$log1" 'Finished.*dracut pre-mount hook' 'root archived as rpool/local/old_roots/' \
        'Mounted.*/sysroot'; then
        echo "CASE PASS key-loaded-then-rollback-then-sysroot-mount"
    else
        echo "CASE FAIL key-loaded-then-rollback-then-sysroot-mount"
        CASES_FAILED+=(key-loaded-then-rollback-then-sysroot-mount)
    fi
    VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$WORK/disk.img" --disk "$WORK/pool.img" --log "$log2" \
        --append "$args" --timeout 900 || { echo "boot 2: QEMU ended with status $?"; return 1; }
    local md5
    md5=$(marker_value "$log2" PERSIST | cut -d' ' -f2)
    check_case boot-2-fresh-root-empty "$log2" --want '@@ROOT-MARKER-GONE' \
        --want '@@ROOT-ENTRIES (bin|dev|etc|mnt|nix|persist|proc|root|run|sbin|sys|tmp|usr|var| )+$' --want '@@STAGE2-DONE'
    check_case old-roots-archived-with-their-content "$log2" \
        --want '@@ARCHIVE rpool/local/old_roots/[0-9-]+_[0-9:]+: written in / by boot' \
        --want '@@ARCHIVE rpool/local/old_roots/[0-9-]+_[0-9:]+: no-boot-marker made by the setup boot' \
        --want '@@ARCHIVES 2'
    check_case sanoid-snapshot-kept-in-its-archive "$log2" \
        --want '@@SNAP rpool/local/old_roots/[0-9-]+_[0-9:]+@autosnap_2026-12-01_00:00:00_daily$' \
        --want '@@SNAP rpool/local/blank@fresh$'
    check_case persist-untouched "$log2" --want "@@PERSIST persisted $md5 $md5\$" \
        --want '@@PERSIST persisted [0-9a-f]{32} [0-9a-f]{32}$'
    cases_verdict
}
