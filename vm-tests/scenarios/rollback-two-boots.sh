# description: btrfs rollback over two boots: / forgotten, /persist kept, one archive, a 40-day-old archive pruned, a snapper snapshot beside it kept
# Boot 1 starts from an empty root (nothing to archive: the fresh root is kept) and writes a
# marker into / and into /persist. Between the boots, the host adds an archive lethe would have
# named, old_roots/2020-01-01_00:00:00 (with a nested subvolume), whose mtime is 40 days back,
# and a snapper-style snapshot old_roots/1 just as old, which is not lethe's and must stay. Boot 2: lethe archives boot 1's root, deletes
# ancient, creates a fresh root; stage 2 finds the / marker gone and the /persist marker kept;
# afterwards the host finds exactly one archive in old_roots, holding boot 1's marker.

scenario() {
    local disk initrd log1 log2 mnt names
    cat >"$WORK/rollback-check" <<'CHECK'
#!/nix/stage2/busybox sh
B=/nix/stage2/busybox
$B mkdir -p /persist
$B mount -t btrfs -o subvol=persist /dev/vda /persist || { echo "@@FAIL mount /persist"; exit 0; }
if [ -e /boot-marker ]; then echo "@@ROOT-MARKER-FOUND $($B cat /boot-marker)"; else echo "@@ROOT-MARKER-GONE"; fi
if [ -e /persist/boot-marker ]; then echo "@@PERSIST-MARKER-FOUND $($B cat /persist/boot-marker)"; else echo "@@PERSIST-MARKER-NONE"; fi
echo "written in / by boot $($B cat /proc/sys/kernel/random/boot_id)" >/boot-marker
[ -e /persist/boot-marker ] || echo "written in /persist by boot 1" >/persist/boot-marker
$B sync
$B umount /persist
CHECK
    chmod +x "$WORK/rollback-check"
    disk=$(make_disk disk.img --file "$WORK/rollback-check:nix/stage2/check.d/30-rollback")
    mnt=$WORK/mnt
    mkdir -p "$mnt"
    # An empty root, as a freshly installed host has it: boot 1 must not archive it.
    mount -o loop "$disk" "$mnt"
    rm -f "$mnt/root/root-marker"
    umount "$mnt"

    write_config "$WORK/config.json" "$(boot_json)" \
        '"rollback": {"device": "/dev/vda", "keepAtLeast": 0}'
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    log1=$WORK/serial-1.log log2=$WORK/serial-2.log

    boot_vm --initrd "$initrd" --disk "$disk" --log "$log1" --timeout 90 ||
        { echo "boot 1: QEMU ended with status $?"; return 1; }
    check_log "$log1" --want 'lethe: .*root is still fresh' --want '@@ROOT-MARKER-GONE' \
        --want '@@PERSIST-MARKER-NONE' --want '@@STAGE2-DONE' || { echo "boot 1 failed"; return 1; }

    mount -o loop "$disk" "$mnt"
    [[ -z $(ls -A "$mnt/old_roots") ]] || { echo "boot 1 archived something: $(ls "$mnt/old_roots")"; umount "$mnt"; return 1; }
    [[ -e $mnt/root/boot-marker ]] || { echo "boot 1 wrote no / marker"; umount "$mnt"; return 1; }
    local ancient=2020-01-01_00:00:00
    btrfs -q subvolume create "$mnt/old_roots/$ancient"
    btrfs -q subvolume create "$mnt/old_roots/$ancient/nested"
    echo old >"$mnt/old_roots/$ancient/nested/file"
    touch -d "@$(($(date +%s) - 40 * 86400))" "$mnt/old_roots/$ancient"
    btrfs -q subvolume create "$mnt/old_roots/1"
    echo "snapper's" >"$mnt/old_roots/1/info.xml"
    touch -d "@$(($(date +%s) - 40 * 86400))" "$mnt/old_roots/1"
    umount "$mnt"

    boot_vm --initrd "$initrd" --disk "$disk" --log "$log2" --timeout 90 ||
        { echo "boot 2: QEMU ended with status $?"; return 1; }
    check_log "$log2" --want 'lethe: .*moved root to old_roots/' \
        --want 'lethe: .*deleted old_roots/2020-01-01_00:00:00 with 1 nested subvolume' \
        --want 'lethe: .*old_roots/1: left alone: a subvolume not named by lethe' \
        --want '@@ROOT-MARKER-GONE' --want '@@PERSIST-MARKER-FOUND written in /persist by boot 1' \
        --want '@@STAGE2-DONE' || { echo "boot 2 failed"; return 1; }

    mount -o loop "$disk" "$mnt"
    [[ $(cat "$mnt/old_roots/1/info.xml" 2>/dev/null) == "snapper's" ]] || { echo "old_roots/1 (not lethe's) was touched"; umount "$mnt"; return 1; }
    names=$(ls -A "$mnt/old_roots" | grep -vx 1)
    local ok=1
    [[ $(wc -l <<<"$names") == 1 && $names != "$ancient" ]] || { echo "old_roots after boot 2: $names"; ok=0; }
    ((ok)) && { grep -q 'written in / by boot' "$mnt/old_roots/$names/boot-marker" || { echo "the archive lacks boot 1's marker"; ok=0; }; }
    btrfs subvolume list "$mnt" | grep -q "$ancient" && { echo "$ancient's subvolumes are left"; ok=0; }
    umount "$mnt"
    ((ok))
}
