# description: ZFS root as /init over two boots: rpool imported without udev, rpool/local/root archived into rpool/local/old_roots with its content, the fresh root empty, rpool/safe/persist untouched
# A setup boot (btrfs root) makes rpool on a second disk: rpool/local/root (legacy mountpoint,
# a root marker), @blank, rpool/local/old_roots (three expired archives, pruned by boot 1), rpool/safe/persist (a marker, 2 MiB of random
# data and its md5). Then two boots with lethe as /init on the ZFS root: each imports rpool
# (zpool import -N, no cache file), rolls back rpool/local/root, mounts it and rpool/safe/persist,
# and stage 2 writes a marker into / . Before them, a boot without the pool's disk ends in the
# failure state naming the pool, with nothing changed. After boot 2: the root is empty (boot 1's marker gone),
# the newest archive under rpool/local/old_roots holds boot 1's marker, /persist is as made.

scenario() {
    source "$VM_ROOT/lib/zfs-root.sh"
    zfs_root_archives_check ro
    zfs_root_setup
    local t0=$SECONDS
    zfs_root_make_pool "" "$ZFS_ROOT_EXPIRED" || return 1
    echo "setup boot: $((SECONDS - t0)) s"
    # The pool's disk missing: the failure state names the pool and what was there, and the
    # boot powers off with nothing changed (boot 1 below still finds the setup boot's root).
    local log0=$WORK/serial-0.log
    write_config "$WORK/config-0.json" \
        "$(zfs_root_boot_json '"deviceTimeoutSeconds": 3, "onFailure": "poweroff", "failureDelaySeconds": 1')" \
        "$(zfs_root_rollback_json)"
    zfs_root_initrd "$WORK/config-0.json"
    VM_MEM=1024 boot_vm --initrd "$ZFS_ROOT_INITRD" --disk "$WORK/disk.img" --log "$log0" --timeout 120 ||
        { echo "boot 0: QEMU ended with status $? (124: the failure state did not power off)"; return 1; }
    check_case missing-pool-is-the-failure-state "$log0" --allow-failure \
        --want 'lethe: BOOT FAILED: step [0-9]+/[0-9]+ "import the ZFS pools": zpool import -N -o cachefile=none .* rpool: no pool "rpool" found on the disks within 3 s \(block devices present: vda;' \
        --want 'lethe: the system cannot start; powering off in 1 s' --refuse '@@STAGE2'
    write_config "$WORK/config.json" "$(zfs_root_boot_json)" "$(zfs_root_rollback_json)"
    zfs_root_initrd "$WORK/config.json"
    local log1=$WORK/serial-1.log log2=$WORK/serial-2.log
    zfs_root_vm "$log1" || { echo "boot 1: QEMU ended with status $?"; return 1; }
    check_case boot-1-imported-rolled-back-mounted "$log1" \
        --want 'import the ZFS pools: rpool \(imported\)' \
        --want 'lethe: rollback done: root archived as rpool/local/old_roots/[0-9-]+_[0-9:]+, fresh root created' \
        --want 'mount the root filesystem: rpool/local/root on /sysroot' \
        --want '@@ROOT zfs ' --want '@@ROOT-MARKER-GONE' --refuse '@@SETUP-MARKER-FOUND' \
        --want '@@STAGE2-DONE'
    # The three expired archives the setup made: one channel program, all gone by boot 2.
    check_case expired-archives-pruned-in-one-program "$log1" \
        --want 'lethe: zfs program rpool - rpool/local/old_roots/2020-01-0[123]_00:00:00 ' \
        --want 'lethe: destroyed rpool/local/old_roots/2020-01-01_00:00:00 with its children and snapshots' \
        --want 'lethe: destroyed rpool/local/old_roots/2020-01-03_00:00:00 with its children and snapshots' \
        --refuse 'one archive at a time' --refuse 'lethe: zfs destroy ' --refuse 'listing with zfs list instead'
    zfs_root_vm "$log2" || { echo "boot 2: QEMU ended with status $?"; return 1; }
    local md5
    md5=$(marker_value "$log2" PERSIST | cut -d' ' -f2)
    check_case boot-2-fresh-root-empty "$log2" --want '@@ROOT-MARKER-GONE' \
        --want '@@ROOT-ENTRIES (dev|nix|persist|proc|run|sys| )+$' --want '@@STAGE2-DONE'
    check_case old-root-archived-with-its-content "$log2" \
        --want '@@ARCHIVE rpool/local/old_roots/[0-9-]+_[0-9:]+: written in / by boot' \
        --want '@@ARCHIVE rpool/local/old_roots/[0-9-]+_[0-9:]+: no-boot-marker made by the setup boot' \
        --want '@@ARCHIVES 2'
    check_case persist-untouched "$log2" --want "@@PERSIST persisted $md5 $md5\$" \
        --want '@@PERSIST persisted [0-9a-f]{32} [0-9a-f]{32}$'
    cases_verdict
}
