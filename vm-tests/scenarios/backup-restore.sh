# description: a fresh disk restored by lethe datasets from what the forge example host's generated jobs made: sonarr from the local replica (syncoid), home-assistant from restic, contents checked by hash, once only
# Needs the restore lists of lethe's config (nixos-module: restore = [ ... ]). One boot: the
# host as it ran before (its datasets made by `lethe datasets` from the same config without
# restore lists): files in sonarr and home-assistant, a sanoid-named snapshot, the generated
# syncoid-sonarr-local command (pool backup) and restic-backups-home-assistant-offsite job
# (prepare, backup, cleanup; repository on /persist). Then a fresh disk: pool tank destroyed
# and made again, empty. The boot's `lethe datasets` (the generated config, /etc/lethe/config.json)
# restores sonarr from the local replica and defers home-assistant (its first source with data
# is restic, a network source); the generated lethe-restore-home-assistant.service's command
# restores it from restic. Both contents match by hash, both are recorded done, a second run
# changes nothing.

scenario() {
    source "$VM_ROOT/lib/zfs.sh"
    source "$VM_ROOT/lib/backups.sh"
    zfs_setup
    BACKUPS_DIR=$WORK/generated
    backups_config "$BACKUPS_DIR" || return 1
    [[ -s $BACKUPS_DIR/restore-units/home-assistant ]] ||
        { echo "the module generates no lethe-restore-home-assistant.service for the forge host: no restore lists"; return 1; }
    cat >"$WORK/run.sh" <<'RUN'
set -u
G=/nix/stage2/backup
say() { echo "@@$*"; }
on() { say "STEP $* $(cut -d' ' -f1 /proc/uptime)"; }
sum() { (cd "$1" && find . -type f | sort | xargs md5sum); }
L=/nix/stage2/lethe
C=/etc/lethe/config.json
mkdir -p /persist/zfs /etc/lethe
cp $G/lethe.json $C
# The same host before it had restore lists.
jq 'del(.datasets.services[].restore)' $C >/tmp/before.json
truncate -s 256M /persist/zfs/tank.img /persist/zfs/backup.img
zpool create tank /persist/zfs/tank.img && zpool create backup /persist/zfs/backup.img || say "FAIL zpool create"
zfs create -o canmount=off backup/forge

on the-host-as-it-ran
$L datasets --config /tmp/before.json >/tmp/out 2>&1; say "BEFORE-DATASETS-STATUS $?"
S=tank/services/sonarr H=tank/services/home-assistant
mkdir -p /var/lib/sonarr/MediaCover /persist/services/home-assistant/backups
echo "sonarr db" >/var/lib/sonarr/sonarr.db
head -c 150000 /dev/urandom >/var/lib/sonarr/MediaCover/poster.jpg
chown -R 1001:1001 /var/lib/sonarr
head -c 100000 /dev/urandom >/persist/services/home-assistant/backups/full-2026-12-01.tar
echo "not backed up: outside the job's paths" >/persist/services/home-assistant/configuration.yaml
sum /var/lib/sonarr >/persist/sonarr.md5
sum /persist/services/home-assistant/backups >/persist/hass.md5
zfs snapshot "$S@autosnap_$(date -u +%Y-%m-%d_%H:%M:%S)_hourly"
mapfile -t args <$G/syncoid/sonarr-local
run=()
for a in "${args[@]}"; do [[ $a == --exclude-snaps=* ]] || run+=("$a"); done
syncoid "${run[@]}" >/tmp/out 2>&1; say "SYNCOID-STATUS $?"
J=$G/restic/home-assistant-offsite
pw=$(cat $J/password-file) repofile=$(cat $J/repository-file)
mkdir -p "$(dirname "$pw")" "$(dirname "$repofile")"
echo "test password" >"$pw"
echo /persist/restic/offsite >"$repofile"
RESTIC_PASSWORD_FILE=$pw RESTIC_REPOSITORY_FILE=$repofile restic init >/tmp/out 2>&1; say "RESTIC-INIT-STATUS $?"
bash -c "$(cat $J/prepare)" >/tmp/out 2>&1; say "PREPARE-STATUS $?"
mapfile -t paths <$J/paths
RESTIC_PASSWORD_FILE=$pw RESTIC_REPOSITORY_FILE=$repofile RESTIC_CACHE_DIR=/tmp/restic-cache restic backup "${paths[@]}" >/tmp/out 2>&1
say "RESTIC-BACKUP-STATUS $?"
bash -c "$(cat $J/cleanup)" >/tmp/out 2>&1; say "CLEANUP-STATUS $?"

on fresh-disk
zpool destroy tank && rm /persist/zfs/tank.img && truncate -s 256M /persist/zfs/tank.img &&
    zpool create tank /persist/zfs/tank.img && say "FRESH-POOL $(zfs list -H -r -o name tank | wc -l)"
[ -e /var/lib/sonarr/sonarr.db ] || say "SONARR-EMPTY"

on boot-run
$L datasets --config $C >/tmp/out 2>&1; say "BOOT-STATUS $?"
sed 's/^/@@BOOT /' /tmp/out
(cd /var/lib/sonarr && md5sum -c --quiet /persist/sonarr.md5) && say "SONARR-RESTORED-INTACT"
say "SONARR-MOUNT $(awk '$2 == "/var/lib/sonarr" { print $1 }' /proc/mounts) owner=$(stat -c %u:%g /var/lib/sonarr/sonarr.db)"
zfs get -H -o value lethe:restore $S | sed 's/^/@@SONARR-RECORD /'
zfs get -H -o value mounted backup/forge/sonarr | sed 's/^/@@REPLICA-MOUNTED /'
zfs list -H -o name $H >/dev/null 2>&1 && say "HASS-EXISTS-AFTER-BOOT-RUN" || say "HASS-DEFERRED"

on restore-unit
mapfile -t unit <$G/restore-units/home-assistant
say "UNIT ${unit[*]}"
RESTIC_CACHE_DIR=/tmp/restic-cache "${unit[@]}" >/tmp/out 2>&1; say "UNIT-STATUS $?"
sed 's/^/@@UNIT /' /tmp/out
(cd /persist/services/home-assistant/backups && md5sum -c --quiet /persist/hass.md5) && say "HASS-RESTORED-INTACT"
[ -e /persist/services/home-assistant/configuration.yaml ] && say "HASS-HAS-UNBACKED-FILE" || say "HASS-ONLY-THE-JOB-PATHS"
say "HASS-MOUNT $(awk '$2 == "/persist/services/home-assistant" { print $1 }' /proc/mounts)"
zfs get -H -o value lethe:restore $H | sed 's/^/@@HASS-RECORD /'

on again
$L datasets --config $C >/tmp/out 2>&1; say "AGAIN-STATUS $?"
sed 's/^/@@AGAIN /' /tmp/out
"${unit[@]}" >/tmp/out 2>&1; say "AGAIN-UNIT-STATUS $?"
sed 's/^/@@AGAIN-UNIT /' /tmp/out
on done
zpool export backup; zpool export tank
RUN
    local log=$WORK/serial.log
    backups_boot "$WORK/run.sh" "$log" || return 1
    check_case the-host-as-it-ran "$log" --want '@@BEFORE-DATASETS-STATUS 0' --want '@@SYNCOID-STATUS 0' \
        --want '@@RESTIC-INIT-STATUS 0' --want '@@PREPARE-STATUS 0' --want '@@RESTIC-BACKUP-STATUS 0' --want '@@CLEANUP-STATUS 0' \
        --want '@@FRESH-POOL 1' --want '@@SONARR-EMPTY' --want '@@RUN-STATUS 0 ' --want '@@STAGE2-DONE'
    check_case sonarr-restored-from-the-local-replica "$log" --want '@@BOOT-STATUS 0' \
        --want '@@BOOT restore tank/services/sonarr from .*backup/forge/sonarr@autosnap_' \
        --want '@@SONARR-RESTORED-INTACT' --want '@@SONARR-MOUNT tank/services/sonarr owner=1001:1001' \
        --want '@@SONARR-RECORD done:local' --want '@@REPLICA-MOUNTED no'
    check_case home-assistant-deferred-then-restored-from-restic "$log" --want '@@HASS-DEFERRED' \
        --want '@@UNIT /nix/store/[0-9]{32}-lethe/bin/lethe datasets --config /etc/lethe/config.json --restore tank/services/home-assistant' \
        --want '@@UNIT-STATUS 0' --want '@@HASS-RESTORED-INTACT' --want '@@HASS-ONLY-THE-JOB-PATHS' \
        --want '@@HASS-MOUNT tank/services/home-assistant' --want '@@HASS-RECORD done:offsite'
    check_case restored-once-only "$log" --want '@@AGAIN-STATUS 0' --want '@@AGAIN-UNIT-STATUS 0' \
        --refuse '@@AGAIN(-UNIT)? (restore|create|receive)'
    cases_verdict
}
