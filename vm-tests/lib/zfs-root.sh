# A ZFS root for the rollback-zfs-* scenarios: lethe as /init imports `rpool`, rolls back
# rpool/local/root and mounts it. Source it after common.sh, inside `scenario`.
#
#   zfs_root_setup                 zfs.ko for the test kernel (lib/zfs.sh), the btrfs test disk
#                                  ($WORK/disk.img: stage 2, busybox, zfs userland on `nix`)
#                                  and an empty pool disk ($WORK/pool.img, /dev/vdb, the pool on
#                                  its one GPT partition /dev/vdb1)
#   zfs_root_make_pool [PASS] [SCRIPT]   boots once from the btrfs root to make the pool on
#                                  /dev/vdb1 (the host has no ZFS): rpool/local/root (legacy
#                                  mountpoint, with a root marker), rpool/local/root@blank (empty),
#                                  rpool/local/old_roots, rpool/safe/persist (a marker and 2 MiB
#                                  of random data, its md5 kept); with PASS, rpool is encrypted
#                                  (keylocation=prompt; pbkdf2iters at its minimum, 100000: each try of the default costs 18 s under TCG) with that passphrase. SCRIPT (shell, run
#                                  in that boot's stage 2 after the datasets exist) adds more.
#   $ZFS_ROOT_EXPIRED              a SCRIPT for zfs_root_make_pool: three archives lethe would
#                                  have made 60 days ago (rpool/local/old_roots/2020-01-0N_00:00:00,
#                                  lethe:archived, a child, a sanoid-style snapshot of both),
#                                  which the first rollback prunes
#   zfs_root_boot_json             the boot section of the ZFS root: rpool/local/root as /,
#                                  /nix from the btrfs disk, /persist = rpool/safe/persist
#   zfs_root_rollback_json [EXTRA] the rollback section for rpool/local/root (none with
#                                  ZFS_NO_ROLLBACK=1: to see a scenario fail without it)
#   zfs_root_initrd CONFIG [mkinitrd options]   the initrd with zfs, zpool and zfs.ko
#   zfs_root_vm LOG [boot_vm options]            boots both disks with $ZFS_ROOT_INITRD
#   zfs_root_archives_check MOUNT_OPTIONS [MORE]   writes the stage-2 check of the scenarios
#                                  that look into the archives: the root's entries and markers
#                                  (@@ROOT-ENTRIES, @@ROOT-MARKER-FOUND/-GONE, @@SETUP-MARKER-FOUND),
#                                  /persist (@@PERSIST), MORE (shell), each archive mounted with
#                                  `mount -t zfs -o MOUNT_OPTIONS` (@@ARCHIVE, @@ARCHIVES), then a
#                                  boot marker written into /
# Stage 2 of the ZFS boots runs $WORK/zfs-root-check (write it before zfs_root_setup) from the
# btrfs `nix` subvolume; /nix/zfs/bin holds zfs and zpool there.

zfs_root_archives_check() {
    local options=$1 more=${2:-}
    {
        cat <<'HEAD'
#!/nix/stage2/busybox sh
B=/nix/stage2/busybox
export PATH=/nix/zfs/bin:/nix/stage2:$PATH
$B grep -q '^rpool/local/root / zfs' /proc/mounts || exit 0
echo "@@ROOT-ENTRIES $($B ls -A / | $B tr '\n' ' ')"
if [ -e /boot-marker ]; then echo "@@ROOT-MARKER-FOUND $($B cat /boot-marker)"; else echo "@@ROOT-MARKER-GONE"; fi
[ -e /root-marker ] && echo "@@SETUP-MARKER-FOUND"
echo "@@PERSIST $($B cat /persist/persist-marker) $($B md5sum /persist/data | $B cut -d' ' -f1) $($B cat /persist/data.md5)"
HEAD
        [[ -z $more ]] || printf '%s\n' "$more"
        printf 'options=%s\n' "$options"
        cat <<'TAIL'
$B mkdir -p /tmp /mnt
n=0
for a in $(zfs list -H -o name -r -d 1 rpool/local/old_roots | $B sed 1d); do
    n=$((n + 1))
    if $B mount -t zfs -o "$options" "$a" /mnt; then
        echo "@@ARCHIVE $a: $($B cat /mnt/boot-marker 2>/dev/null || echo no-boot-marker) $($B cat /mnt/root-marker 2>/dev/null)"
        $B umount /mnt
    else
        echo "@@ARCHIVE $a: cannot mount"
    fi
done
echo "@@ARCHIVES $n"
echo "written in / by boot $($B cat /proc/sys/kernel/random/boot_id)" >/boot-marker
$B sync
TAIL
    } >"$WORK/zfs-root-check"
}

zfs_root_setup() {
    source "$VM_ROOT/lib/zfs.sh"
    zfs_setup
    local -a files
    mapfile -t files < <(zfs_disk_files)
    [[ -e $WORK/zfs-root-check ]] || printf '#!/nix/stage2/busybox sh\n' >"$WORK/zfs-root-check"
    chmod +x "$WORK/zfs-root-check"
    cat >"$WORK/zfs-make-pool" <<'MAKE'
#!/nix/stage2/busybox sh
# Runs only on the setup boot (btrfs root), never on the ZFS boots.
B=/nix/stage2/busybox
export PATH=/nix/zfs/bin:/nix/stage2:$PATH
$B grep -q ' / btrfs ' /proc/mounts || exit 0
[ -e /dev/zfs ] || { echo "@@FAIL no /dev/zfs (zfs module not loaded)"; exit 0; }
enc=
if [ -e /nix/stage2/zfs-pass ]; then
    enc="-O encryption=on -O keyformat=passphrase -O keylocation=prompt -O pbkdf2iters=100000"
fi
# A passphrase comes on stdin (zpool reads it once when stdin is not a terminal).
$B cat /nix/stage2/zfs-pass 2>/dev/null | zpool create -f -o ashift=12 -O mountpoint=none -O atime=off $enc rpool /dev/vdb1 ||
    { echo "@@FAIL zpool create"; exit 0; }
zfs create -p -o mountpoint=legacy rpool/local/root || echo "@@FAIL create root"
zfs snapshot rpool/local/root@blank
zfs create -o mountpoint=none rpool/local/old_roots || echo "@@FAIL create old_roots"
zfs create -p -o mountpoint=legacy rpool/safe/persist || echo "@@FAIL create persist"
$B mkdir -p /tmp /mnt
$B mount -t zfs rpool/local/root /mnt && echo "made by the setup boot" >/mnt/root-marker && $B umount /mnt
$B mount -t zfs rpool/safe/persist /mnt || echo "@@FAIL mount persist"
echo "persisted" >/mnt/persist-marker
$B dd if=/dev/urandom of=/mnt/data bs=1k count=2048 2>/dev/null
$B md5sum /mnt/data | $B cut -d' ' -f1 >/mnt/data.md5
$B umount /mnt
[ -x /nix/stage2/zfs-setup-more ] && /nix/stage2/zfs-setup-more
zpool export rpool && echo "@@POOL-MADE"
MAKE
    chmod +x "$WORK/zfs-make-pool"
    ZFS_ROOT_FILES=("${files[@]}" --file "$WORK/zfs-make-pool:nix/stage2/check.d/10-make-pool"
        --file "$WORK/zfs-root-check:nix/stage2/check.d/50-zfs-root")
    # One partition: `zpool create` on a whole disk partitions it and waits for udev to make
    # the partition's node, and the setup boot has no udev.
    truncate -s 512M "$WORK/pool.img"
    printf 'label: gpt\nstart=2048, name="rpool"\n' | sfdisk -q --no-reread --no-tell-kernel "$WORK/pool.img" >/dev/null
}

# shellcheck disable=SC2016 # expanded in the setup boot's stage 2
ZFS_ROOT_EXPIRED='t=$(($($B date +%s) - 60 * 86400))
for i in 1 2 3; do
    a=rpool/local/old_roots/2020-01-0${i}_00:00:00
    { zfs create -o mountpoint=legacy -o lethe:archived=$((t + i)) $a && zfs create $a/var &&
        zfs snapshot -r $a@autosnap_2020-01-0${i}_00:00:00_daily; } || echo "@@FAIL expired archive $a"
done'

zfs_root_make_pool() {
    local pass=${1:-} more=${2:-} cfg initrd disk
    local -a extra=()
    if [[ -n $pass ]]; then
        printf '%s\n' "$pass" >"$WORK/zfs-pass"
        extra+=(--file "$WORK/zfs-pass:nix/stage2/zfs-pass")
    fi
    if [[ -n $more ]]; then
        printf '#!/nix/stage2/busybox sh\nB=/nix/stage2/busybox\n%s\n' "$more" >"$WORK/zfs-setup-more"
        chmod +x "$WORK/zfs-setup-more"
        extra+=(--file "$WORK/zfs-setup-more:nix/stage2/zfs-setup-more")
    fi
    disk=$(make_disk disk.img --size 512M "${ZFS_ROOT_FILES[@]}" "${extra[@]}")
    rm -f "$WORK/zfs-pass"
    cfg=$WORK/setup-config.json
    write_config "$cfg" "$(zfs_boot_json)"
    initrd=$(make_initrd setup-initrd.cpio "$cfg")
    VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$disk" --disk "$WORK/pool.img" \
        --log "$WORK/serial-setup.log" --timeout 300 || { echo "setup boot: QEMU ended with status $?"; return 1; }
    check_log "$WORK/serial-setup.log" --want '@@POOL-MADE' --want '@@STAGE2-DONE' ||
        { echo "setup boot: the pool was not made"; return 1; }
    rm -f "$initrd"
}

zfs_root_boot_json() {
    local extra=${1:-}
    printf '{"kernelModules": ["virtio_pci", "virtio_blk", "btrfs", "zfs"], "root": {"device": "rpool/local/root", "fsType": "zfs"}, "mounts": [{"device": "/dev/vda", "mountPoint": "/nix", "options": "subvol=nix"}, {"device": "rpool/safe/persist", "mountPoint": "/persist", "fsType": "zfs"}], "init": "/nix/stage2/init"%s}' \
        "${extra:+, $extra}"
}

zfs_root_rollback_json() {
    local extra=${1:-}
    # ZFS_NO_ROLLBACK=1: no rollback section, to see a scenario fail without it.
    [[ -z ${ZFS_NO_ROLLBACK:-} ]] || return 0
    printf '"rollback": {"dataset": "rpool/local/root", "archive": "rpool/local/old_roots", "keepAtLeast": 0%s}' \
        "${extra:+, $extra}"
}

zfs_root_initrd() {
    local config=$1
    shift
    ZFS_ROOT_INITRD=$(make_initrd zfs-root-initrd.cpio "$config" --zfs-bin "$ZFS_DIR/userland/libexec" "$@")
}

zfs_root_vm() {
    local log=$1
    shift
    VM_MEM=1024 boot_vm --initrd "$ZFS_ROOT_INITRD" --disk "$WORK/disk.img" --disk "$WORK/pool.img" \
        --log "$log" --timeout "${ZFS_ROOT_TIMEOUT:-600}" "$@"
}
