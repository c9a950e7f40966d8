# description: ZFS root as /init: power cuts at random points of the rollback (QEMU killed), then a clean boot: the job finished, a root exists, the old root kept in one archive, /persist intact
# The setup boot makes rpool (lib/zfs-root.sh; the root holds a marker, /persist random data
# and its md5, three expired archives: the pruning is one of the steps a cut can hit). Then ZFS_CUTS (default 4) boots are killed by the harness (SIGKILL to QEMU: no
# flush, no export) a random 0..ZFS_CUT_MS (default 400) ms after a random one (1..4) of the
# rollback's zfs commands started; where each was cut is printed. A last boot runs to stage 2, which reports: / is fresh, exactly one archive holds
# the setup boot's root (nothing young lost, nothing archived twice), /persist's data matches
# its md5, and no `lethe:rollback` mark of an unfinished step is left on any dataset.

scenario() {
    cat >"$WORK/zfs-root-check" <<'CHECK'
#!/nix/stage2/busybox sh
B=/nix/stage2/busybox
export PATH=/nix/zfs/bin:/nix/stage2:$PATH
$B grep -q '^rpool/local/root / zfs' /proc/mounts || exit 0
[ -e /root-marker ] && echo "@@SETUP-MARKER-IN-ROOT"
echo "@@PERSIST $($B md5sum /persist/data | $B cut -d' ' -f1) $($B cat /persist/data.md5)"
$B mkdir -p /tmp /mnt
n=0
for a in $(zfs list -H -o name -r -d 1 rpool/local/old_roots | $B sed 1d); do
    if $B mount -t zfs -o ro "$a" /mnt; then
        [ -e /mnt/root-marker ] && n=$((n + 1)) && echo "@@HOLDS-SETUP-ROOT $a"
        $B umount /mnt
    else
        echo "@@ARCHIVE-UNMOUNTABLE $a"
    fi
done
echo "@@SETUP-ROOT-ARCHIVES $n"
zfs list -H -o name -r rpool | $B sed 's/^/@@DATASET /'
# lethe:rollback marks a step in flight (lethe:archived, an archive's time, stays).
zfs get -H -r -s local -o name,property,value lethe:rollback rpool | $B sed 's/^/@@MARK /'
CHECK
    source "$VM_ROOT/lib/zfs-root.sh"
    zfs_root_setup
    zfs_root_make_pool "" "$ZFS_ROOT_EXPIRED" || return 1
    write_config "$WORK/config.json" "$(zfs_root_boot_json)" "$(zfs_root_rollback_json)"
    zfs_root_initrd "$WORK/config.json"
    # Each cut waits for the rollback's K-th zfs command (K random, 1..4: lethe logs each one
    # as it starts it), then a random 0..ZFS_CUT_MS ms more: points spread over the rollback
    # whatever the machine's speed. A boot whose rollback has fewer commands runs to the end.
    local i k delay qemu log last cuts=${ZFS_CUTS:-4} max=${ZFS_CUT_MS:-400}
    for ((i = 1; i <= cuts; i++)); do
        log=$WORK/serial-cut-$i.log
        k=$((1 + RANDOM % 4)) delay=$((RANDOM % max))
        zfs_root_vm "$log" --background "$WORK/qemu.pid"
        qemu=$(cat "$WORK/qemu.pid")
        local how="not cut: the rollback had fewer than $k zfs commands"
        if wait_log "$log" 'lethe: zfs (set|rename|create|clone|promote|inherit|destroy|program) ' "$qemu" "$k" 2>/dev/null; then
            sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
            # $qemu is `timeout`'s PID: SIGKILL goes to QEMU itself, its child (a SIGKILL to
            # timeout would leave QEMU running).
            pkill -KILL -P "$qemu" 2>/dev/null || true
            how="QEMU killed ${delay} ms after zfs command $k of the rollback"
        fi
        wait "$qemu" 2>/dev/null || true
        last=$(clean_log "$log" | grep -oE 'lethe: zfs [a-z]+ [^ ]+|step [0-9]+/[0-9]+ [a-z /]+|@@STAGE2-DONE' | tail -n 1 || true)
        echo "cut $i: $how; last line: ${last:-?}"
    done
    log=$WORK/serial-clean.log
    zfs_root_vm "$log" || { echo "clean boot: QEMU ended with status $?"; return 1; }
    local md5
    md5=$(marker_value "$log" PERSIST | cut -d' ' -f1)
    check_case clean-boot-finished-the-job "$log" \
        --want 'lethe: rollback done: ' --want 'roll back the root subvolume: rollback done' \
        --want 'mount the root filesystem: rpool/local/root on /sysroot' --want '@@STAGE2-DONE' \
        --refuse '@@MARK ' --refuse '@@SETUP-MARKER-IN-ROOT' --refuse '@@DATASET rpool/local/old_roots/2020-'
    check_case old-root-kept-once "$log" --want '@@SETUP-ROOT-ARCHIVES 1$' --refuse '@@ARCHIVE-UNMOUNTABLE'
    check_case persist-intact "$log" --want "@@PERSIST $md5 $md5\$" --want '@@PERSIST [0-9a-f]{32} '
    cases_verdict
}
