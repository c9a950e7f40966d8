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

# zfs_pool_disk OUT SCRIPT [SIZE]: a disk image OUT (default 128M) holding the pools a stage-2
# script made: SCRIPT (busybox sh, zfs and zpool in PATH) runs in the test stage 2 of a VM
# whose second disk, /dev/vdb, is OUT, with one GPT partition /dev/vdb1 for the pool (a whole
# disk vdev makes zpool partition it and wait for a udev the test stage 2 does not have); it
# must export its pools and print @@ZFS-POOL-READY.
# The host cannot make a pool (no ZFS in its kernel), so this costs one boot; the image is
# cached in ${LETHE_CACHE:-/var/cache/lethe}/zfs-pools/ by a hash of the kernel, the OpenZFS
# version, SCRIPT and this function, and copied (sparse) to OUT. Call zfs_setup first.
zfs_pool_disk() {
    local out=$1 script=$2 size=${3:-128M} cache key img
    cache=${LETHE_CACHE:-/var/cache/lethe}/zfs-pools
    key=$({ echo "$KVER $size"; cat "$ZFS_DIR/version" "$script"; declare -f zfs_pool_disk; } | sha256sum | cut -c1-32)
    img=$cache/$key.img
    mkdir -p "$cache"
    if [[ ! -s $img ]]; then
        local prep=$WORK/zfs-pool-prep disk initrd log files
        mkdir -p "$prep"
        {
            echo '#!/nix/stage2/busybox sh'
            echo 'export PATH=/nix/zfs/bin:/nix/stage2:$PATH'
            cat "$script"
        } >"$prep/check"
        chmod 0755 "$prep/check"
        mapfile -t files < <(zfs_disk_files)
        disk=$("$VM_ROOT/lib/make-disk" -o "$prep/disk.img" --size 512M \
            --file "$prep/check:nix/stage2/check.d/10-make-pool" "${files[@]}" | tail -n 1)
        rm -f "$prep/pool.img"
        truncate -s "$size" "$prep/pool.img"
        printf 'label: gpt\nstart=2048, name="zfs"\n' |
            sfdisk -q --no-reread --no-tell-kernel "$prep/pool.img" >/dev/null
        write_config "$prep/config.json" "$(zfs_boot_json)"
        initrd=$("$REPO/initrd-glue/mkinitrd" --lethe "$LETHE_BIN" --config "$prep/config.json" \
            --modules-dir "$MODULES_DIR" -o "$prep/initrd.cpio" | tail -n 1)
        log=$prep/serial.log
        VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$disk" --disk "$prep/pool.img" --log "$log" --timeout 300 ||
            { echo "zfs_pool_disk: the VM that makes the pool ended with status $? (see $log)" >&2; return 1; }
        check_log "$log" --want '@@ZFS-POOL-READY' --want '@@STAGE2-DONE' ||
            { echo "zfs_pool_disk: the pool was not made (see $log)" >&2; return 1; }
        mv "$prep/pool.img" "$img.tmp.$$" && mv "$img.tmp.$$" "$img"
        rm -f "$disk"
    fi
    cp --sparse=always "$img" "$out"
}
