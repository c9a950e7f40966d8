# ZFS for the VM scenarios (source it after common.sh, inside `scenario`):
#   zfs_setup           builds (once per machine, cached) zfs.ko for the test kernel and points
#                       MODULES_DIR at the kernel's modules plus zfs's (see lib/build-zfs)
#   zfs_disk_files      make-disk --file options that put zfs, zpool, their libraries, a `cp`
#                       and the lethe under test on the `nix` subvolume (/nix/zfs, as NixOS keeps
#                       zfs in /nix/store; /nix/stage2/lethe)
#   zfs_boot_json       the boot section with the zfs module loaded by stage 1
# In stage 2, put /nix/zfs/bin first in PATH.

zfs_setup() {
    ZFS_DIR=$(KERNEL_DIR=$KERNEL_DIR "$VM_ROOT/lib/build-zfs" | tail -n 1)
    MODULES_DIR=$ZFS_DIR/lib/modules/$KVER
    export ZFS_DIR MODULES_DIR
}

zfs_disk_files() {
    local f
    for f in "$ZFS_DIR"/userland/*/*; do
        printf -- '--file\n%s:nix/zfs/%s\n' "$f" "${f#"$ZFS_DIR"/userland/}"
    done
    # lethe copies a migrated directory with `cp -a`; the test stage 2 has busybox's.
    cat >"$WORK/zfs-cp" <<'CP'
#!/nix/stage2/busybox sh
exec /nix/stage2/busybox cp "$@"
CP
    chmod 0755 "$WORK/zfs-cp"
    printf -- '--file\n%s:nix/zfs/bin/cp\n' "$WORK/zfs-cp"
    printf -- '--file\n%s:nix/stage2/lethe\n' "$LETHE_BIN"
}

zfs_boot_json() {
    boot_json "$@" | sed 's/"kernelModules": \[/"kernelModules": ["zfs", /'
}
