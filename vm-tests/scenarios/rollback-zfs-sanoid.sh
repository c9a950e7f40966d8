# description: ZFS root as /init: sanoid's autosnap_ snapshots survive the rollback (the root's move with it into the archive, those of old_roots and /persist stay where they are)
# The setup boot makes rpool (lib/zfs-root.sh) and sanoid-named snapshots: two on
# rpool/local/root, one on rpool/local/old_roots itself and one on rpool/safe/persist. One boot
# with lethe as /init rolls the root back; stage 2 lists every snapshot of rpool: the root's
# two are on its archive now (with the archived content readable through them), the others
# unchanged, and none is gone.

scenario() {
    cat >"$WORK/zfs-root-check" <<'CHECK'
#!/nix/stage2/busybox sh
B=/nix/stage2/busybox
export PATH=/nix/zfs/bin:/nix/stage2:$PATH
$B grep -q '^rpool/local/root / zfs' /proc/mounts || exit 0
zfs list -H -t snapshot -o name -r rpool | $B sed 's/^/@@SNAP /'
echo "@@SNAPS $(zfs list -H -t snapshot -o name -r rpool | $B grep -c autosnap_)"
$B mkdir -p /tmp /mnt
s=$(zfs list -H -t snapshot -o name -r rpool/local/old_roots | $B grep '@autosnap_2026-12-01_00:00:00_daily$')
if [ -n "$s" ] && $B mount -t zfs -o ro "$s" /mnt; then
    echo "@@SNAP-CONTENT $($B cat /mnt/root-marker)"
    $B umount /mnt
fi
CHECK
    source "$VM_ROOT/lib/zfs-root.sh"
    zfs_root_setup
    zfs_root_make_pool "" '
zfs snapshot rpool/local/root@autosnap_2026-12-01_00:00:00_daily
zfs snapshot rpool/local/root@autosnap_2026-12-02_00:00:00_hourly
zfs snapshot rpool/local/old_roots@autosnap_2026-12-02_00:00:00_daily
zfs snapshot rpool/safe/persist@autosnap_2026-12-02_00:00:00_daily' || return 1
    write_config "$WORK/config.json" "$(zfs_root_boot_json)" "$(zfs_root_rollback_json)"
    zfs_root_initrd "$WORK/config.json"
    local log=$WORK/serial.log
    zfs_root_vm "$log" || { echo "boot: QEMU ended with status $?"; return 1; }
    local A='rpool/local/old_roots/[0-9-]+_[0-9:]+'
    check_case root-snapshots-moved-with-the-archive "$log" \
        --want "@@SNAP $A@autosnap_2026-12-01_00:00:00_daily\$" \
        --want "@@SNAP $A@autosnap_2026-12-02_00:00:00_hourly\$" \
        --want '@@SNAP-CONTENT made by the setup boot' --refuse '@@SNAP rpool/local/root@autosnap'
    check_case other-snapshots-untouched "$log" \
        --want '@@SNAP rpool/local/old_roots@autosnap_2026-12-02_00:00:00_daily$' \
        --want '@@SNAP rpool/safe/persist@autosnap_2026-12-02_00:00:00_daily$'
    check_case none-lost "$log" --want '@@SNAPS 4$' --want '@@STAGE2-DONE'
    cases_verdict
}
