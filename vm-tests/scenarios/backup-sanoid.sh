# description: real sanoid, syncoid and restic in stage 2, driven by what the NixOS module generates for the forge example host with backups: snapshots taken and pruned by the policy, sonarr replicated to a second pool, restic backing up from a snapshot
# The module's output is evaluated at test time (lib/backups.sh: sanoid.conf, syncoid's and
# restic's jobs, lethe's config); the VM runs Debian's tools from the host's /usr (9p). One
# boot: `lethe datasets` creates the forge host's datasets on pool tank; 30 hourly and 32 daily
# sanoid-named snapshots of postgresql's dataset are made with the clock set back (zfs records the creation
# time sanoid prunes by); sanoid.service's command (--cron) takes new snapshots and prunes by
# the policy: daily = 30 (the 2 older than 30 days go), hourly = 48, the host's override of the
# policy's 24 (all 30 stay; with 24, 6 would go). syncoid-
# sonarr-local's command replicates sonarr to pool backup (not mounted, its mountpoint not
# the host's); Debian 12's syncoid is 2.1, which lacks --exclude-snaps (2.2, NixOS's version):
# the full generated line is refused by it (a case), and runs without that one argument.
# restic-backups-sonarr-offsite: prepare (snapshot + read-only mount), a file written after the
# snapshot, `restic backup`, forget --prune, cleanup: the backup holds the snapshot's files only,
# the snapshot and mount are gone.

scenario() {
    source "$VM_ROOT/lib/zfs.sh"
    source "$VM_ROOT/lib/backups.sh"
    zfs_setup
    BACKUPS_DIR=$WORK/generated
    backups_config "$BACKUPS_DIR" || return 1
    cat >"$WORK/run.sh" <<'RUN'
set -u
G=/nix/stage2/backup
say() { echo "@@$*"; }
on() { say "STEP $* $(cut -d' ' -f1 /proc/uptime)"; }
mkdir -p /persist/zfs /var/cache/sanoid /run/sanoid
truncate -s 256M /persist/zfs/tank.img /persist/zfs/backup.img
zpool create tank /persist/zfs/tank.img && zpool create backup /persist/zfs/backup.img || say "FAIL zpool create"
on datasets
# The forge host's datasets as the host had them before it had restore lists (with them, a fresh
# host's run defers sonarr to its restore unit: backup-restore).
jq 'del(.datasets.services[].restore)' $G/lethe.json >/tmp/lethe.json
/nix/stage2/lethe datasets --config /tmp/lethe.json >/tmp/out 2>&1; say "DATASETS-STATUS $?"
sed 's/^/@@DATASETS /' /tmp/out
S=tank/services/sonarr
mkdir -p /var/lib/sonarr/MediaCover
echo "sonarr db" >/var/lib/sonarr/sonarr.db
head -c 200000 /dev/urandom >/var/lib/sonarr/MediaCover/poster.jpg
chown -R 1001:1001 /var/lib/sonarr
sum() { (cd "$1" && find . -type f ! -name after-snapshot | sort | xargs md5sum); }
sum /var/lib/sonarr >/tmp/sonarr.md5

on snapshots-back-in-time
# On postgresql's dataset (same policy), so that sonarr's replica below stays small.
P=tank/services/postgresql
now=$(date +%s)
# Fewer hourly snapshots than the host's 48 but more than the policy's 24: none may go. More
# daily ones than 30, the oldest older than 30 days: those go. Made oldest first, so that their
# creation times (the faked clock) are in the order of their transactions, as on a real host
# (syncoid's incremental sends every snapshot after the oldest by creation time).
{
    for i in $(seq 30); do echo "$((now - i * 3600)) hourly"; done
    for i in $(seq 32); do echo "$((now - i * 86400)) daily"; done
} | sort -n >/tmp/back-in-time
while read -r t type; do
    date -s "@$t" >/dev/null
    zfs snapshot "$P@autosnap_$(TZ=UTC printf '%(%Y-%m-%d_%H:%M:%S)T' "$t")_$type"
done </tmp/back-in-time
date -s "@$now" >/dev/null
count() { zfs list -H -t snapshot -o name -d 1 "$P" | grep -c "_$1\$"; }
say "BEFORE hourly=$(count hourly) daily=$(count daily)"
on sanoid
mapfile -t argv <$G/sanoid/argv
say "SANOID-ARGV ${argv[*]}"
grep -A7 '^\[template_services\]' $G/sanoid/sanoid.conf | tr '\n' ' ' | sed 's/^/@@SANOID-TEMPLATE /'; echo
TZ=UTC "${argv[@]}" --verbose >/tmp/out 2>&1; say "SANOID-STATUS $?"
grep -c 'pruning' /tmp/out | sed 's/^/@@SANOID-PRUNE-LINES /'
tail -n 5 /tmp/out | sed 's/^/@@SANOID /'
oldest() { # TYPE: the age in hours of the oldest snapshot of that type
    c=$(zfs list -H -p -t snapshot -o name,creation -d 1 "$P" | grep "_$1	" | cut -f2 | sort -n | head -n 1)
    echo $(((now - c) / 3600))
}
say "AFTER hourly=$(count hourly) daily=$(count daily) monthly=$(count monthly) oldest-hourly-h=$(oldest hourly) oldest-daily-h=$(oldest daily)"
for d in tank/services/home-assistant tank/services/sonarr tank/media; do
    say "TAKEN $d hourly=$(zfs list -H -t snapshot -o name -d 1 $d | grep -c _hourly)"
done

on syncoid
mapfile -t args <$G/syncoid/sonarr-local
say "SYNCOID-ARGS ${args[*]}"
zfs create -o canmount=off backup/forge
syncoid "${args[@]}" >/tmp/out 2>&1; say "SYNCOID-FULL-LINE-STATUS $?"
head -n 2 /tmp/out | sed 's/^/@@SYNCOID-FULL-LINE /'
run=()
for a in "${args[@]}"; do [[ $a == --exclude-snaps=* ]] || run+=("$a"); done
syncoid "${run[@]}" >/tmp/out 2>&1; say "SYNCOID-STATUS $?"
tail -n 3 /tmp/out | sed 's/^/@@SYNCOID /'
T=backup/forge/sonarr
src=$(zfs list -H -t snapshot -o name -d 1 $S | sed 's/.*@//' | sort | md5sum | cut -c1-8)
dst=$(zfs list -H -t snapshot -o name -d 1 $T | sed 's/.*@//' | sort | md5sum | cut -c1-8)
say "REPLICA snapshots=$(zfs list -H -t snapshot -o name -d 1 $T | wc -l) same-as-source=$([ "$src" = "$dst" ] && echo yes || echo no)"
zfs get -H -o property,value,source mounted,canmount,mountpoint $T | tr '\t' ' ' | sed 's/^/@@REPLICA-PROP /'
mkdir -p /tmp/replica
mount -t zfs -o ro "$(zfs list -H -t snapshot -o name -s creation -d 1 $T | tail -n 1)" /tmp/replica
(cd /tmp/replica && md5sum -c --quiet /tmp/sonarr.md5) && say "REPLICA-INTACT"
umount /tmp/replica
echo "a change" >/var/lib/sonarr/changed
zfs snapshot $S@autosnap_$(date -u +%Y-%m-%d_%H:%M:%S)_frequently
syncoid "${run[@]}" >/tmp/out 2>&1; say "SYNCOID-INCREMENTAL-STATUS $?"
say "REPLICA-AFTER snapshots=$(zfs list -H -t snapshot -o name -d 1 $T | wc -l) source=$(zfs list -H -t snapshot -o name -d 1 $S | wc -l)"

on restic
J=$G/restic/sonarr-offsite
pw=$(cat $J/password-file) repofile=$(cat $J/repository-file)
mkdir -p "$(dirname "$pw")" "$(dirname "$repofile")"
echo "test password" >"$pw"
echo /persist/restic/offsite >"$repofile"
export RESTIC_PASSWORD_FILE=$pw RESTIC_REPOSITORY_FILE=$repofile RESTIC_CACHE_DIR=/tmp/restic-cache
restic init >/tmp/out 2>&1; say "RESTIC-INIT-STATUS $?"
bash -c "$(cat $J/prepare)" >/tmp/out 2>&1; say "PREPARE-STATUS $?"
sed 's/^/@@PREPARE /' /tmp/out
mapfile -t paths <$J/paths
say "RESTIC-PATHS ${paths[*]}"
awk -v d="${paths[0]}" '$2 == d { print "@@BACKUP-MOUNT", $1, $3, $4 }' /proc/mounts | cut -d, -f1
zfs get -H -o value lethe:backup "$S@lethe-restic-sonarr-offsite" | sed 's/^/@@BACKUP-SNAPSHOT-PROPERTY /'
echo "written after the snapshot" >/var/lib/sonarr/after-snapshot
restic backup "${paths[@]}" >/tmp/out 2>&1; say "RESTIC-BACKUP-STATUS $?"
tail -n 2 /tmp/out | sed 's/^/@@RESTIC /'
read -ra prune <$J/prune
restic forget --prune "${prune[@]}" >/tmp/out 2>&1; say "RESTIC-FORGET-STATUS $?"
restic check >/tmp/out 2>&1; say "RESTIC-CHECK-STATUS $?"
bash -c "$(cat $J/cleanup)" >/tmp/out 2>&1; say "CLEANUP-STATUS $?"
zfs list -H -t snapshot -o name $S@lethe-restic-sonarr-offsite >/dev/null 2>&1 || say "SNAPSHOT-DESTROYED"
awk -v d="${paths[0]}" '$2 == d { found = 1 } END { exit found }' /proc/mounts && say "UNMOUNTED"
restic restore latest --target /tmp/restored >/tmp/out 2>&1; say "RESTIC-RESTORE-STATUS $?"
r=/tmp/restored${paths[0]}
(cd "$r" && md5sum -c --quiet /tmp/sonarr.md5) && say "RESTIC-CONTENT-INTACT"
[ -e "$r/after-snapshot" ] && say "RESTIC-HAS-LIVE-FILE" || say "RESTIC-FROM-SNAPSHOT-ONLY"
say "RESTIC-SNAPSHOTS $(restic snapshots --json | tr ',' '\n' | grep -c '"short_id"')"
on done
zpool export backup; zpool export tank
RUN
    local log=$WORK/serial.log
    backups_boot "$WORK/run.sh" "$log" || return 1
    check_case userland-over-9p "$log" --want '@@USERLAND .*2\.1\.0.*restic 0\.14.*pgBackRest 2\.45' --want '@@RUN-STATUS 0 ' --want '@@STAGE2-DONE'
    check_case datasets-created "$log" --want '@@DATASETS-STATUS 0' --want '@@DATASETS create  tank/services/sonarr'
    check_case sanoid-takes-and-prunes-by-the-policy "$log" --want '@@BEFORE hourly=30 daily=32' \
        --want '@@SANOID-ARGV /nix/store/[0-9]{32}-sanoid/bin/sanoid --cron --configdir /nix/stage2/backup/sanoid' \
        --want '@@SANOID-STATUS 0' --want '@@AFTER hourly=31 daily=31 monthly=1 oldest-hourly-h=30 oldest-daily-h=720' \
        --want '@@TAKEN tank/services/home-assistant hourly=1' --want '@@TAKEN tank/services/sonarr hourly=1' --want '@@TAKEN tank/media hourly=1'
    check_case syncoid-2.1-refuses-exclude-snaps "$log" --want '@@SYNCOID-ARGS .*--exclude-snaps=\^lethe-restic-' \
        --want '@@SYNCOID-FULL-LINE-STATUS [1-9]' --want '@@SYNCOID-FULL-LINE Unknown option: exclude-snaps'
    check_case syncoid-replicates-sonarr "$log" --want '@@SYNCOID-STATUS 0' --want '@@REPLICA snapshots=3 same-as-source=yes' \
        --want '@@REPLICA-PROP mounted no -' --want '@@REPLICA-PROP canmount noauto (local|received)' \
        --want '@@REPLICA-PROP mountpoint /backup/forge/sonarr (default|inherited)' --want '@@REPLICA-INTACT' \
        --want '@@SYNCOID-INCREMENTAL-STATUS 0' --want '@@REPLICA-AFTER snapshots=4 source=4'
    check_case restic-backs-up-from-the-snapshot "$log" --want '@@RESTIC-INIT-STATUS 0' --want '@@PREPARE-STATUS 0' \
        --want '@@RESTIC-PATHS /run/lethe/backup/sonarr-offsite$' \
        --want '@@BACKUP-MOUNT tank/services/sonarr@lethe-restic-sonarr-offsite zfs ro' \
        --want '@@BACKUP-SNAPSHOT-PROPERTY sonarr-offsite' --want '@@RESTIC-BACKUP-STATUS 0' \
        --want '@@RESTIC-FORGET-STATUS 0' --want '@@RESTIC-CHECK-STATUS 0' --want '@@CLEANUP-STATUS 0' \
        --want '@@SNAPSHOT-DESTROYED' --want '@@UNMOUNTED' --want '@@RESTIC-RESTORE-STATUS 0' \
        --want '@@RESTIC-CONTENT-INTACT' --want '@@RESTIC-FROM-SNAPSHOT-ONLY' --want '@@RESTIC-SNAPSHOTS 1'
    cases_verdict
}
