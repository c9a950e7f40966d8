# description: ZFS root: what the rollback reads of the pool, on real OpenZFS: one read-only channel program, the same plan as through zfs list (a clone, a volume, an encrypted root, odd values kept for the unit tests), roots list works with the root mounted, a rollback refuses it
# One boot; in stage 2, a file-vdev pool `t`: t/local/{root (legacy, @blank, a child),
# old_roots (one archive with a sanoid snapshot), clone (of root@blank), vol (a volume)};
# "t/odd one" (a space in its name and its mountpoint, mounted) with root and old_roots/x (user
# properties holding a newline, a tab, an accent and a byte that is not UTF-8, and a
# lethe:archived that is not a time); t/enc
# (encrypted, with enc/root and enc/old_roots). The root t/local/root is mounted, as on a
# booted system. Checked:
#  - the listing program (LIST_PROGRAM in agent/src/rollback/zfs/listing.rs, copied from the
#    source at test time) runs with `zfs program -n -j` and reads what the plan needs (the
#    unit tests in listing.rs check its output, kept from a run, against zfs list's);
#  - `lethe roots list --json` gives the same answer through the program as through the two
#    zfs lists it falls back to (a wrapper makes `zfs program -n` fail), for the plain and the
#    encrypted root (which makes lethe ask zfs get for the encryption root);
#  - `roots list` with the root mounted shows the plan of the next boot; `lethe rollback` with
#    the root mounted refuses, naming it, and changes nothing.
# The raw outputs are printed base64-encoded (@@RAW) so that agent/src/rollback/zfs/testdata
# can be refreshed from a run.

scenario() {
    source "$VM_ROOT/lib/zfs.sh"
    zfs_setup
    # The program, byte for byte as lethe sends it.
    sed -n '/^pub(crate) const LIST_PROGRAM: &str = r#"/,/^"#;$/p' "$REPO/agent/src/rollback/zfs/listing.rs" |
        sed '1s/^.*r#"//; $d' >"$WORK/list.lua"
    grep -q 'zfs.list.children' "$WORK/list.lua" || { echo "LIST_PROGRAM not found in listing.rs"; return 1; }
    echo '{"version": 1, "rollback": {"dataset": "t/local/root", "archive": "t/local/old_roots", "retentionDays": 30}}' >"$WORK/plain.json"
    echo '{"version": 1, "rollback": {"dataset": "t/enc/root", "archive": "t/enc/old_roots", "retentionDays": 30}}' >"$WORK/enc.json"
    "$LETHE_BIN" check-config "$WORK/plain.json" >/dev/null && "$LETHE_BIN" check-config "$WORK/enc.json" >/dev/null ||
        { echo "a config was rejected on the host"; return 1; }
    cat >"$WORK/check" <<'CHECK'
#!/nix/stage2/busybox sh
B=/nix/stage2/busybox
export PATH=/nix/zfs/bin:/nix/stage2:$PATH
$B mkdir -p /persist /tmp /mnt/root
$B mount -t btrfs -o subvol=persist /dev/vda /persist || { echo "@@FAIL mount /persist"; exit 0; }
$B truncate -s 256M /persist/t.img
zpool create -O mountpoint=none t /persist/t.img || { echo "@@FAIL zpool create"; exit 0; }
must() { "$@" || echo "@@FAIL $*"; }
must zfs create t/local
must zfs create -o mountpoint=legacy t/local/root
must zfs snapshot t/local/root@blank
must zfs create t/local/root/var
must zfs create -o canmount=off -o mountpoint=none t/local/old_roots
must zfs create -o mountpoint=legacy -o lethe:archived=1764547200 t/local/old_roots/2025-12-01_00:00:00
must zfs snapshot -r t/local/old_roots/2025-12-01_00:00:00@autosnap_2025-12-01_00:00:00_daily
must zfs clone t/local/root@blank t/local/clone
must zfs create -V 8M t/local/vol
must zfs create -o "mountpoint=/mnt/odd one" -o canmount=noauto "t/odd one"
must zfs create -o mountpoint=legacy "t/odd one/root"
must zfs create -o canmount=off -o mountpoint=none "t/odd one/old_roots"
must zfs create -o mountpoint=legacy "t/odd one/old_roots/x"
must zfs set "lethe:rollback=$($B printf 'two\nlines\tand \303\251 \377')" lethe:archived=not-a-time "t/odd one/old_roots/x"
must zfs mount "t/odd one"
echo passphrase-for-t-enc >/tmp/key
must zfs create -o encryption=on -o keyformat=passphrase -o keylocation=file:///tmp/key t/enc
must zfs create -o mountpoint=legacy t/enc/root
must zfs create -o canmount=off -o mountpoint=none t/enc/old_roots
must $B mount -t zfs t/local/root /mnt/root
raw() { echo "@@RAW $1 $($B base64 -w 0)"; }
zfs program -n -j t /nix/stage2/list.lua list t/local/root t/local/old_roots | raw program-plain
zfs program -n -j t /nix/stage2/list.lua boot t/enc/root t/enc/old_roots | raw program-enc
zfs program -n -j t /nix/stage2/list.lua list "t/odd one/root" "t/odd one/old_roots" | raw program-odd
zfs list -H -p -t filesystem,volume,snapshot -o name,type,origin,mounted,mountpoint,canmount,encryptionroot,creation,createtxg,lethe:archived,lethe:rollback -r t | raw list
$B grep ' - zfs ' /proc/self/mountinfo | raw mountinfo
zfs get -H -p -o name,value encryptionroot t/enc/root t/enc/old_roots t/enc | raw encryptionroot
count() { zfs program -n -j t /nix/stage2/list.lua "$1" t/local/root t/local/old_roots | $B grep -o '"createtxg"' | $B wc -l; }
echo "@@COUNT list $(count list) boot $(count boot)"
# The fallback: the same zfs, but `zfs program -n` fails.
{
    echo '#!/nix/stage2/busybox sh'
    echo '[ "$1 $2" = "program -n" ] && { echo "wrapper: no listing program" >&2; exit 1; }'
    echo 'exec /nix/zfs/bin/zfs "$@"'
} >/tmp/zfs-no-program
$B chmod +x /tmp/zfs-no-program
for c in plain enc; do
    /nix/stage2/lethe roots list --config /nix/stage2/$c.json --json >/tmp/$c-program.json 2>/tmp/$c-program.err ||
        { echo "@@FAIL roots list $c"; $B sed "s/^/@@ERR $c /" /tmp/$c-program.err; }
    LETHE_ZFS=/tmp/zfs-no-program /nix/stage2/lethe roots list --config /nix/stage2/$c.json --json >/tmp/$c-list.json 2>/tmp/$c-list.err ||
        { echo "@@FAIL roots list $c (zfs list)"; $B sed "s/^/@@ERR $c /" /tmp/$c-list.err; }
    $B grep -q 'listing with zfs list instead' /tmp/$c-list.err && echo "@@FELL-BACK $c"
    $B grep -q 'listing with zfs list instead' /tmp/$c-program.err && echo "@@FELL-BACK-UNASKED $c"
    # The clock moves between the two runs: leave out what it changes (the ages, and the
    # time the current root would be archived at).
    for f in program list; do
        $B grep -v '"now"\|"ageSeconds"' /tmp/$c-$f.json | $B awk '
            /^    \{/ { n = 0; inside = 1 }
            inside { line[++n] = $0; if ($0 ~ /"currentRoot": true/) current = 1
                if ($0 ~ /^    \}/) { for (i = 1; i <= n; i++) if (!(current && line[i] ~ /"archived(Utc)?":/)) print line[i]; inside = 0; current = 0 }
                next }
            { print }' >/tmp/$c-$f.cmp
    done
    if $B cmp -s /tmp/$c-program.cmp /tmp/$c-list.cmp; then echo "@@SAME $c $($B grep -c '"name"' /tmp/$c-program.json) roots"; else echo "@@DIFFERENT $c"; $B diff /tmp/$c-list.cmp /tmp/$c-program.cmp | $B sed "s/^/@@DIFF $c /"; fi
done
$B sed 's/^/@@PLAIN /' /tmp/plain-program.json | $B grep '"name"\|"nextRollback"\|"currentRoot"'
before=$(zfs list -H -o name -t all -r t | $B md5sum)
/nix/stage2/lethe rollback --config /nix/stage2/plain.json 2>&1 | $B sed 's/^/@@ROLLBACK /'
[ "$(zfs list -H -o name -t all -r t | $B md5sum)" = "$before" ] && echo "@@UNCHANGED"
$B umount /mnt/root
zfs umount "t/odd one"
zpool export t
$B umount /persist
CHECK
    chmod +x "$WORK/check"
    local disk initrd log=$WORK/serial.log files
    mapfile -t files < <(zfs_disk_files)
    disk=$(make_disk disk.img --size 1G --file "$WORK/check:nix/stage2/check.d/50-listing" \
        --file "$WORK/list.lua:nix/stage2/list.lua" --file "$WORK/plain.json:nix/stage2/plain.json" \
        --file "$WORK/enc.json:nix/stage2/enc.json" "${files[@]}")
    write_config "$WORK/config.json" "$(zfs_boot_json)"
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$disk" --log "$log" --timeout 300 ||
        { echo "QEMU ended with status $?"; return 1; }
    # list: t/local, the root, its @blank and child, old_roots, the archive and its snapshot;
    # boot: the same but the archive's snapshot (the archive is not in flight).
    check_case the-program-reads-what-the-plan-needs "$log" \
        --want '@@COUNT list 7 boot 6$' --want '@@RAW program-odd [A-Za-z0-9+/=]{100,}' --want '@@STAGE2-DONE'
    check_case roots-list-is-the-same-through-the-program-and-zfs-list "$log" \
        --want '@@SAME plain 2 roots' --want '@@SAME enc 1 roots' --want '@@FELL-BACK plain' --want '@@FELL-BACK enc' \
        --refuse '@@DIFFERENT' --refuse '@@FELL-BACK-UNASKED' --refuse '@@ERR'
    check_case roots-list-with-the-root-mounted-plans-the-next-boot "$log" \
        --want '@@PLAIN +"currentRoot": true' --want '@@PLAIN +"name": "2025-12-01_00:00:00"'
    check_case a-rollback-refuses-a-mounted-root "$log" \
        --want '@@ROLLBACK .*t/local/root: mounted \(mountpoint legacy\): .*refusing to archive a root in use; nothing was changed' \
        --want '@@UNCHANGED'
    # Keep the raw outputs beside the log, decoded, for agent/src/rollback/zfs/testdata.
    local kind
    for kind in program-plain program-enc program-odd list mountinfo encryptionroot; do
        marker_value "$log" "RAW $kind" | base64 -d >"$WORK/raw-$kind" 2>/dev/null || true
    done
    cases_verdict
}
