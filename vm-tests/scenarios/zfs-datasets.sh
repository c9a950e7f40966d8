# description: real ZFS: the forge example host's service datasets created, drift fixed, data migrated, a restore, a bad config, the single-disk host
# Boot 1 (stage 2): file-vdev pools `tank` and `backup` are made on /persist; backup holds a
# replica of home-assistant with two snapshots; /var/lib/sonarr already holds files. `lethe
# datasets` creates the forge example host's datasets (checked with zfs get), migrates sonarr's files onto its
# dataset (nothing lost, the old directory kept), restores home-assistant from the newest
# snapshot, sets owners and modes; a second run has nothing to do. Boot 2 imports the pools
# (-N, as zfs-import does) and runs a changed config: plex's recordsize changed, postgres-wal
# removed (kept, reported), jellyfin added; a config with a bad property fails first with
# nothing changed; then, with tank exported, the same config on `rpool` with only
# parentDataset changed (the single-disk host) creates everything there. Also: a create-only
# property that differs is an error for its dataset (exit 2); a pool that is not imported is
# one error naming it (exit 2); a migration interrupted after the create is finished. Boot 1
# also: a persisted directory's own dataset (persistence ... dataset), created inside the store
# by lethe datasets and bound into place by lethe persist.

scenario() {
    source "$VM_ROOT/lib/zfs.sh"
    zfs_setup
    local services1 services2 log1 log2 disk initrd
    services1='"sonarr": {"mountpoint": "/var/lib/sonarr", "recordsize": "16K", "compression": "lz4", "owner": "sonarr", "group": "sonarr", "mode": "0750"},
        "plex": {"mountpoint": "/var/lib/plex", "recordsize": "1M", "compression": "lz4", "owner": "plex", "group": "plex"},
        "postgresql": {"mountpoint": "/var/lib/postgresql", "recordsize": "8K", "compression": "lz4", "owner": "postgres", "group": "postgres", "mode": "0700", "properties": {"atime": "off", "logbias": "latency"}},
        "postgres-wal": {"recordsize": "128K", "compression": "off"},
        "home-assistant": {"recordsize": "16K", "compression": "gzip-6", "restoreFrom": "backup/services/home-assistant", "owner": "hass", "mode": "0750"}'
    services2=${services1/'"recordsize": "1M"'/'"recordsize": "128K"'}
    services2=${services2/'"postgres-wal": {"recordsize": "128K", "compression": "off"},'/'"jellyfin": {"recordsize": "1M", "compression": "zstd-fast-1", "properties": {"backup:policy": "daily"}},'}
    mkdir -p "$WORK/cfg"
    printf '{"version": 1, "datasets": {"parentDataset": "tank/services", "parentMount": "/persist/services", "services": {%s}, "tank/media": {"mountpoint": "/srv/media", "recordsize": "1M", "compression": "zstd"}}}\n' \
        "$services1" >"$WORK/cfg/1.json"
    printf '{"version": 1, "datasets": {"parentDataset": "tank/services", "parentMount": "/persist/services", "services": {%s}}}\n' \
        "$services2" >"$WORK/cfg/2.json"
    sed 's/"logbias": "latency"/"logbias": "latency", "atimes": "on"/' "$WORK/cfg/2.json" >"$WORK/cfg/bad.json"
    sed 's|"tank/services"|"rpool/safe/persist/services"|' "$WORK/cfg/2.json" >"$WORK/cfg/rpool.json"
    sed 's/"logbias": "latency"/"logbias": "latency", "casesensitivity": "insensitive"/' "$WORK/cfg/2.json" >"$WORK/cfg/createonly.json"
    echo '{"version": 1, "datasets": {"parentDataset": "tank/services", "parentMount": "/persist/services", "services": {"radarr": {"mountpoint": "/var/lib/radarr"}}}}' >"$WORK/cfg/resume.json"
    # A persisted directory that names its own dataset (one declaration): boot 1.
    echo '{"version": 1, "persistence": {"/persist": {"directories": [{"directory": "/var/lib/pgdata", "user": "postgres", "group": "postgres", "mode": "u=rwx,g=,o=", "dataset": {"recordsize": "8K"}}]}}, "datasets": {"parentDataset": "tank/dirs", "parentMount": "/persist"}}' >"$WORK/cfg/persisted.json"
    local c
    for c in "$WORK"/cfg/{1,2,rpool,createonly,resume,persisted}.json; do "$LETHE_BIN" check-config "$c" >/dev/null || { echo "$c: rejected on the host"; return 1; }; done
    "$LETHE_BIN" check-config "$WORK/cfg/bad.json" >/dev/null 2>&1 && { echo "bad.json was accepted"; return 1; }

    cat >"$WORK/zfs-check" <<'CHECK'
#!/nix/stage2/busybox sh
B=/nix/stage2/busybox
export PATH=/nix/zfs/bin:/nix/stage2:$PATH
L=/nix/stage2/lethe
C=/nix/stage2/zfs
$B mkdir -p /persist
$B mount -t btrfs -o subvol=persist /dev/vda /persist || { echo "@@FAIL mount /persist"; exit 0; }
[ -e /dev/zfs ] || { echo "@@FAIL no /dev/zfs (zfs module not loaded)"; exit 0; }
$B mkdir -p /etc /tmp
$B cat >/etc/passwd <<EOF
root:x:0:0::/root:/bin/sh
sonarr:x:1001:1001::/var/empty:/bin/false
plex:x:1002:1002::/var/empty:/bin/false
postgres:x:1003:1003::/var/empty:/bin/false
hass:x:1004:1004::/var/empty:/bin/false
EOF
$B cat >/etc/group <<EOF
root:x:0:
sonarr:x:1001:
plex:x:1002:
postgres:x:1003:
EOF
datasets() { # CONFIG TAG [ARGS]: runs lethe datasets, its lines as @@TAG markers, then its status
    cfg=$1 tag=$2
    shift 2
    $L datasets --config $C/$cfg "$@" >/tmp/out 2>/tmp/err
    st=$?
    $B sed "s/^/@@$tag /" /tmp/out /tmp/err
    echo "@@$tag-STATUS $st"
}
get() { # POOL: the managed properties of every dataset, as @@GET markers
    zfs get -H -p -r -t filesystem -o name,property,value,source mountpoint,recordsize,compression,atime,logbias,backup:policy,mounted "$@" | $B sed 's/^/@@GET /'
}
own() { for d in "$@"; do echo "@@OWN $d $($B stat -c '%u:%g %a' $d)"; done; }

if [ ! -e /persist/zfs/tank.img ]; then
    echo "@@BOOT 1"
    $B mkdir -p /persist/zfs
    $B truncate -s 256M /persist/zfs/tank.img /persist/zfs/backup.img /persist/zfs/rpool.img
    zpool create tank /persist/zfs/tank.img || echo "@@FAIL zpool create tank"
    zpool create backup /persist/zfs/backup.img || echo "@@FAIL zpool create backup"
    zfs create -p backup/services/home-assistant
    echo "old state" >/backup/services/home-assistant/state.json
    zfs snapshot backup/services/home-assistant@autosnap_1
    echo "newest state" >/backup/services/home-assistant/state.json
    zfs snapshot backup/services/home-assistant@autosnap_2
    echo "after the last snapshot" >/backup/services/home-assistant/state.json
    # A service that ran before its dataset existed: its files must survive the move.
    $B mkdir -p /var/lib/sonarr/MediaCover/12
    echo "sonarr db" >/var/lib/sonarr/sonarr.db
    $B dd if=/dev/urandom of=/var/lib/sonarr/MediaCover/12/poster.jpg bs=1k count=300 2>/dev/null
    $B chown -R 1001:1001 /var/lib/sonarr
    $B chmod 0640 /var/lib/sonarr/sonarr.db
    (cd /var/lib/sonarr && $B find . -type f | $B sort | $B xargs $B md5sum) >/persist/sonarr.md5
    echo "@@BEFORE $($B find /var/lib/sonarr | $B wc -l) entries"
    datasets 1.json DRY --dry-run
    if ! zfs list -H -o name tank/services >/dev/null 2>&1 && [ -e /var/lib/sonarr/sonarr.db ]; then echo "@@DRY-RUN-CHANGED-NOTHING"; fi
    datasets 1.json RUN1
    get tank
    own /var/lib/sonarr /var/lib/plex /var/lib/postgresql /persist/services/home-assistant
    echo "@@RESTORED $($B cat /persist/services/home-assistant/state.json)"
    echo "@@MIGRATED-MOUNT $($B awk '$2 == "/var/lib/sonarr" { print $1, $3 }' /proc/mounts)"
    if (cd /var/lib/sonarr && $B md5sum -c -s /persist/sonarr.md5); then echo "@@MIGRATED-INTACT"; fi
    echo "@@MIGRATED-DB-OWNER $($B stat -c '%u:%g %a' /var/lib/sonarr/sonarr.db)"
    echo "@@OLD-DIR $($B ls -d /var/lib/sonarr.lethe-migrated.* 2>/dev/null | $B wc -l) $($B find /var/lib/sonarr.lethe-migrated.* -type f | $B wc -l)"
    zfs get -H -o value lethe:migration tank/services/sonarr | $B sed 's/^/@@MARK /'
    datasets 1.json NOOP
    # lethe datasets mounts the directory's dataset inside the store first, lethe persist binds it.
    datasets persisted.json PDS
    $L persist --config $C/persisted.json >/tmp/out 2>&1
    echo "@@PERSIST-STATUS $?"
    $B sed 's/^/@@PERSIST /' /tmp/out
    echo pg >/var/lib/pgdata/PG_VERSION
    echo "@@PDS-MOUNT $($B awk '$2 == "/persist/var/lib/pgdata" { print $1, $3 }' /proc/mounts)"
    echo "@@PDS-BIND $($B cat /persist/var/lib/pgdata/PG_VERSION) $($B awk '$2 == "/var/lib/pgdata" { print $1, $3 }' /proc/mounts)"
    zfs get -H -p -o name,property,value,source recordsize tank/dirs/pgdata | $B sed 's/^/@@GET /'
    own /var/lib/pgdata
    datasets persisted.json PDSNOOP
    $B umount /var/lib/pgdata
    zpool export tank && zpool export backup && echo "@@EXPORTED"
else
    echo "@@BOOT 2"
    zpool import -N -d /persist/zfs tank && zpool import -N -d /persist/zfs backup && echo "@@IMPORTED"
    get tank >/tmp/get-before
    datasets bad.json BAD
    get tank >/tmp/get-after
    $B cmp -s /tmp/get-before /tmp/get-after && echo "@@BAD-CHANGED-NOTHING"
    datasets 2.json RUN2
    get tank
    own /var/lib/sonarr /var/lib/plex /var/lib/postgresql
    echo "@@RESTORED $($B cat /persist/services/home-assistant/state.json)"
    datasets 2.json NOOP2
    datasets 2.json JSON --json --dry-run
    datasets createonly.json CREATEONLY
    # A boot interrupted mid-migration leaves the dataset at its temporary place, marked pending.
    $B mkdir -p /var/lib/radarr && echo "radarr db" >/var/lib/radarr/radarr.db
    zfs create -o mountpoint=/run/lethe/migrate/tank_services_radarr -o lethe:migration=pending:/var/lib/radarr tank/services/radarr
    datasets resume.json RESUME
    echo "@@RESUMED $($B cat /var/lib/radarr/radarr.db) $($B awk '$2 == "/var/lib/radarr" { print $1 }' /proc/mounts)"
    # The single-disk host: the same config with parentDataset changed, on its own pool.
    zpool export tank
    zpool create rpool /persist/zfs/rpool.img || echo "@@FAIL zpool create rpool"
    datasets rpool.json RPOOL
    get rpool
    datasets rpool.json NOOP3
    zpool export rpool; zpool export backup
    datasets 2.json NOPOOL
fi
$B umount /persist
CHECK
    chmod +x "$WORK/zfs-check"
    local -a files
    mapfile -t files < <(zfs_disk_files)
    for c in "$WORK"/cfg/*.json; do files+=(--file "$c:nix/stage2/zfs/$(basename "$c")"); done
    disk=$(make_disk disk.img --size 1G --file "$WORK/zfs-check:nix/stage2/check.d/40-zfs" "${files[@]}")
    write_config "$WORK/config.json" "$(zfs_boot_json)"
    initrd=$(make_initrd initrd.cpio "$WORK/config.json")
    log1=$WORK/serial-1.log log2=$WORK/serial-2.log

    # Two boots carry every case (a boot of the ZFS VM costs ~30 s); each case is checked and
    # reported on its own (check_case), from the markers of the runs it is about.
    VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$disk" --log "$log1" --timeout 300 ||
        { echo "boot 1: QEMU ended with status $?"; return 1; }
    local S=tank/services
    check_case boot-1-pools-made-and-exported "$log1" --want '@@BOOT 1' --want '@@EXPORTED' --want '@@STAGE2-DONE'
    check_case dry-run-changes-nothing "$log1" --want '@@DRY-STATUS 0' --want '@@DRY-RUN-CHANGED-NOTHING' \
        --want '@@DRY would migrate /var/lib/sonarr \(4 entries'
    check_case datasets-created-with-their-properties "$log1" \
        --want '@@RUN1 create  tank/services \(mountpoint=none\): parent' --want '@@RUN1-STATUS 0' \
        --want "@@GET $S	mountpoint	none	local" \
        --want "@@GET $S/sonarr	recordsize	16384	local" --want "@@GET $S/sonarr	mountpoint	/var/lib/sonarr	local" \
        --want "@@GET $S/plex	recordsize	1048576	local" --want "@@GET $S/postgresql	recordsize	8192	local" \
        --want "@@GET $S/postgresql	atime	off	local" --want "@@GET $S/postgresql	logbias	latency	local" \
        --want "@@GET $S/postgres-wal	compression	off	local" \
        --want "@@GET $S/postgres-wal	mountpoint	/persist/services/postgres-wal	local" \
        --want "@@GET $S/home-assistant	compression	gzip	local" \
        --want "@@GET tank/media	compression	zstd	local" --want "@@GET tank/media	mounted	yes"
    check_case owners-and-modes-set "$log1" \
        --want '@@OWN /var/lib/sonarr 1001:1001 750' --want '@@OWN /var/lib/plex 1002:1002 755' \
        --want '@@OWN /var/lib/postgresql 1003:1003 700' --want '@@OWN /persist/services/home-assistant 1004:0 750'
    check_case restored-from-the-newest-snapshot "$log1" \
        --want '@@RUN1 restore tank/services/home-assistant from backup/services/home-assistant@autosnap_2' \
        --want '@@RESTORED newest state'
    check_case existing-files-migrated-nothing-lost "$log1" --want '@@RUN1 migrate /var/lib/sonarr' \
        --want '@@MIGRATED-MOUNT tank/services/sonarr zfs' \
        --want '@@MIGRATED-INTACT' --want '@@MIGRATED-DB-OWNER 1001:1001 640' --want '@@OLD-DIR 1 2' \
        --want '@@MARK done:/var/lib/sonarr.lethe-migrated.'
    check_case second-run-has-nothing-to-do "$log1" \
        --want '@@NOOP datasets: 6 declared, all as declared' --want '@@NOOP-STATUS 0' \
        --refuse '@@NOOP (create|set|own|migrate)'
    check_case persisted-directory-own-dataset "$log1" \
        --want '@@PDS create  tank/dirs/pgdata: mountpoint=/persist/var/lib/pgdata recordsize=8192' --want '@@PDS-STATUS 0' \
        --want '@@PERSIST mounted /persist/var/lib/pgdata on /var/lib/pgdata' --want '@@PERSIST-STATUS 0' \
        --want '@@PDS-MOUNT tank/dirs/pgdata zfs' --want '@@PDS-BIND pg tank/dirs/pgdata zfs' \
        --want "@@GET tank/dirs/pgdata	recordsize	8192	local" --want '@@OWN /var/lib/pgdata 1003:1003 700' \
        --want '@@PDSNOOP datasets: 1 declared, all as declared' --want '@@PDSNOOP-STATUS 0' \
        --refuse '@@PDSNOOP (create|set|own|migrate)'

    VM_MEM=1024 boot_vm --initrd "$initrd" --disk "$disk" --log "$log2" --timeout 300 ||
        { echo "boot 2: QEMU ended with status $?"; return 1; }
    check_case boot-2-pools-imported "$log2" --want '@@BOOT 2' --want '@@IMPORTED' --want '@@STAGE2-DONE'
    check_case bad-config-changes-nothing "$log2" \
        --want '@@BAD .*properties.atimes: unknown ZFS property' --want '@@BAD-STATUS 1' --want '@@BAD-CHANGED-NOTHING'
    check_case changed-config-drift-fixed "$log2" \
        --want '@@RUN2 set     tank/services/plex recordsize=131072 \(was 1048576, local\): applies to new writes only' \
        --want '@@RUN2 create  tank/services/jellyfin: backup:policy=daily compression=zstd-fast-1 mountpoint=/persist/services/jellyfin recordsize=1048576' \
        --want '@@RUN2 mount   zfs mount -a' --want '@@RUN2-STATUS 0' \
        --want "@@GET $S/plex	recordsize	131072	local" --want "@@GET $S/jellyfin	recordsize	1048576	local" \
        --want "@@GET $S/jellyfin	backup:policy	daily	local" \
        --want '@@OWN /var/lib/sonarr 1001:1001 750' --want '@@RESTORED newest state' \
        --want '@@NOOP2-STATUS 0' --refuse '@@NOOP2 (create|set|own|migrate)'
    check_case undeclared-dataset-kept "$log2" \
        --want '@@RUN2 kept    tank/services/postgres-wal: no longer declared' \
        --want "@@GET $S/postgres-wal	recordsize	131072	local" \
        --want '@@NOOP2 datasets: 5 declared, 1 undeclared kept'
    check_case json-report "$log2" \
        --want '@@JSON +"action": "undeclared",' --want '@@JSON +"dryRun": true,' --want '@@JSON-STATUS 0'
    check_case create-only-property-is-an-error "$log2" \
        --want '@@CREATEONLY error   tank/services/postgresql: casesensitivity is sensitive, declared insensitive: ZFS sets casesensitivity only when a dataset is created' \
        --want '@@CREATEONLY-STATUS 2'
    check_case interrupted-migration-finished "$log2" \
        --want '@@RESUME migrate /var/lib/radarr \(1 entries' --want '@@RESUME-STATUS 0' \
        --want '@@RESUMED radarr db tank/services/radarr'
    check_case single-disk-host-on-rpool "$log2" \
        --want '@@RPOOL create  rpool/safe \(mountpoint=none\)' --want '@@RPOOL create  rpool/safe/persist/services/sonarr' \
        --want '@@RPOOL restore rpool/safe/persist/services/home-assistant' --want '@@RPOOL-STATUS 0' \
        --want "@@GET rpool/safe/persist/services/plex	recordsize	131072	local" \
        --want "@@GET rpool/safe/persist/services/sonarr	mountpoint	/var/lib/sonarr	local" \
        --want '@@NOOP3 datasets: 5 declared, all as declared' --want '@@NOOP3-STATUS 0' \
        --refuse '@@NOOP3 (create|set|own|migrate)'
    check_case pool-not-imported-is-one-error "$log2" \
        --want '@@NOPOOL error   tank: pool tank is not imported' --want '@@NOPOOL-STATUS 2'
    cases_verdict
}
