# description: mounts inside a persisted directory, over two boots with rollback: /var/lib persisted, /var/lib/private bound by stage 1 (inInitrd) and a real ZFS dataset mounted at /var/lib/plex stay mounted on top of lethe's bind; the three keep their content across lethe persist and the reboot (md5 before and after), nothing is kept aside, and the store gets no copy of the dataset
# Boot 1 (a fresh root): stage 1 creates and binds /var/lib/private; stage 2 makes a file-vdev
# pool on /persist, a dataset mounted at /var/lib/plex, writes into both, runs lethe persist
# (twice: the second finds everything in place), then writes /var/lib/state through lethe's bind
# and records the md5 of the three. Boot 2 (the root rolled back): stage 1 binds the child again,
# the pool is imported and the dataset mounted, lethe persist binds /var/lib, and the md5 match.
# shellcheck source=../lib/persist.sh
source "$VM_ROOT/lib/persist.sh"

scenario() {
    source "$VM_ROOT/lib/zfs.sh"
    zfs_setup
    local disk initrd log1=$WORK/serial-1.log log2=$WORK/serial-2.log boot
    local persistence='"persistence": {"/persist": {"directories": ["/var/lib", {"directory": "/var/lib/private", "mode": "0700", "inInitrd": true}]}}'
    boot=$(zfs_boot_json | sed 's|"mounts": \[|"mounts": [{"device": "/dev/vda", "mountPoint": "/persist", "options": "subvol=persist"}, |')
    write_config "$WORK/config.json" "$boot" '"rollback": {"device": "/dev/vda", "keepAtLeast": 0}, '"$persistence"
    persist_mounts_inside_check >"$WORK/mounts-inside-check"
    chmod +x "$WORK/mounts-inside-check"
    local -a files
    mapfile -t files < <(zfs_disk_files)
    disk=$(make_disk disk.img --size 1G --file "$WORK/mounts-inside-check:nix/stage2/check.d/40-mounts-inside" \
        --file "$WORK/config.json:nix/stage2/lethe-config.json" "${files[@]}")
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")

    VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$disk" --log "$log1" --timeout 300 ||
        { echo "boot 1: QEMU ended with status $?"; return 1; }
    check_log "$log1" --want '@@BOOT 1' --want '@@EARLY-MOUNTED /var/lib/private' \
        --want 'mount the inInitrd persisted paths: persisted 1 directory, 0 files; [0-9]+ created' \
        --want '@@PERSIST mounted /persist/var/lib on /var/lib' \
        --want '@@PERSIST mounted /var/lib/plex again on top of /var/lib' \
        --want '@@PERSIST mounted /var/lib/private again on top of /var/lib' \
        --want '@@PERSIST-STATUS 0' --want '@@AGAIN persisted 2 directories, 0 files; 0 created, 0 adopted$' \
        --want '@@AGAIN-STATUS 0' --want '@@INSIDE-INTACT' \
        --want '@@FS /var/lib /dev/vda btrfs' --want '@@FS /var/lib/private /dev/vda btrfs' \
        --want '@@FS /var/lib/plex tank/plex zfs' --want '@@PLEX-MOUNTS 1' --want '@@STORE-PLEX 0' \
        --want '@@EXPORTED' --want '@@STAGE2-DONE' \
        --refuse '@@FAIL' --refuse '@@KEPT-ASIDE' --refuse '@@PERSIST (refused|failed)' --refuse '@@AGAIN (created|mounted|adopted)' ||
        { echo "boot 1: see $log1"; return 1; }

    VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$disk" --log "$log2" --timeout 300 ||
        { echo "boot 2: QEMU ended with status $?"; return 1; }
    check_log "$log2" --want 'moved root to old_roots/' --want '@@BOOT 2' --want '@@ROOT-FRESH' \
        --want '@@EARLY-MOUNTED /var/lib/private' --want '@@IMPORTED' \
        --want '@@PERSIST mounted /persist/var/lib on /var/lib' \
        --want '@@PERSIST mounted /var/lib/plex again on top of /var/lib' \
        --want '@@PERSIST mounted /var/lib/private again on top of /var/lib' \
        --want '@@PERSIST-STATUS 0' --want '@@AGAIN-STATUS 0' --want '@@ALL-INTACT' \
        --want '@@FS /var/lib /dev/vda btrfs' --want '@@FS /var/lib/private /dev/vda btrfs' \
        --want '@@FS /var/lib/plex tank/plex zfs' --want '@@PLEX-MOUNTS 1' --want '@@STORE-PLEX 0' \
        --want '@@EXPORTED' --want '@@STAGE2-DONE' \
        --refuse '@@FAIL' --refuse '@@KEPT-ASIDE' --refuse '@@PERSIST (refused|failed|kept)' ||
        { echo "boot 2: see $log2"; return 1; }
}

# The stage-2 check (busybox): see the description at the top.
persist_mounts_inside_check() {
    cat <<'CHECK'
#!/nix/stage2/busybox sh
B=/nix/stage2/busybox
export PATH=/nix/zfs/bin:/nix/stage2:$PATH
L=/nix/stage2/lethe
C=/nix/stage2/lethe-config.json
mounted() { $B awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; }
fs() { $B awk -v m="$1" '$2 == m { t = $1 " " $3 } END { print t }' /proc/mounts; }
sums() { (cd /var/lib && $B md5sum "$@"); }
persist() {
    $L persist --config $C >/tmp/out 2>&1
    echo "@@$1-STATUS $?"
    $B sed "s/^/@@$1 /" /tmp/out
}
report() {
    for m in /var/lib /var/lib/private /var/lib/plex; do echo "@@FS $m $(fs $m)"; done
    echo "@@PLEX-MOUNTS $($B awk '$2 == "/var/lib/plex"' /proc/mounts | $B wc -l)"
    # The dataset's data is in the dataset: the store holds only the place it is mounted on.
    echo "@@STORE-PLEX $($B ls -A /persist/var/lib/plex | $B wc -l)"
    [ -e /persist/.lethe-conflict ] && echo "@@KEPT-ASIDE $($B find /persist/.lethe-conflict | $B head -5)"
}
if mounted /var/lib/private; then echo "@@EARLY-MOUNTED /var/lib/private"; else echo "@@EARLY-MISSING /var/lib/private"; fi
$B mkdir -p /etc /tmp
printf 'root:x:0:0::/root:/bin/sh\n' >/etc/passwd
printf 'root:x:0:\n' >/etc/group
if [ ! -e /persist/zfs/tank.img ]; then
    echo "@@BOOT 1"
    $B mkdir -p /persist/zfs
    $B truncate -s 128M /persist/zfs/tank.img
    zpool create -m none tank /persist/zfs/tank.img || echo "@@FAIL zpool create"
    zfs create -o mountpoint=/var/lib/plex tank/plex || echo "@@FAIL zfs create"
    $B dd if=/dev/urandom of=/var/lib/plex/library.db bs=1k count=300 2>/dev/null
    echo "the child's secret" >/var/lib/private/secret
    sums private/secret plex/library.db >/persist/md5-inside
    persist PERSIST
    persist AGAIN
    if sums -c -s /persist/md5-inside; then echo "@@INSIDE-INTACT"; else echo "@@FAIL inside changed"; fi
    # A service writes into the persisted directory once it is in place.
    echo "written after lethe persist, boot 1" >/var/lib/state
    sums state private/secret plex/library.db >/persist/md5-all
else
    echo "@@BOOT 2"
    [ -e /var/lib/state ] || echo "@@ROOT-FRESH"
    zpool import -N -d /persist/zfs tank && zfs mount tank/plex && echo "@@IMPORTED"
    persist PERSIST
    persist AGAIN
fi
report
if sums -c -s /persist/md5-all; then echo "@@ALL-INTACT"; else sums state private/secret plex/library.db | $B sed 's/^/@@SUM /'; fi
zpool export tank && echo "@@EXPORTED"
CHECK
}
