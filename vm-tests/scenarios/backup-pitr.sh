# description: PostgreSQL 15 point-in-time recovery with pgBackRest 2.45 as the NixOS module generates it for the forge example host: full backup, rows inserted, a time noted, the table dropped, lethe-restore-postgresql TIME brings the rows back
# One boot: `lethe datasets` makes the forge host's postgresql dataset, its WAL child
# (tank/services/postgresql/wal) and pgBackRest's repository dataset; initdb with the module's
# initdb arguments (the WAL on the child dataset), PostgreSQL with the module's settings
# (archive_mode, archive_command: pgbackrest archive-push), /etc/pgbackrest/pgbackrest.conf as
# generated; the generated pgbackrest-default-full job (stanza-create, backup --type=full, as
# postgres). Then 100 rows, a time, the table dropped, the WAL archived; the generated
# lethe-restore-postgresql helper restores to that time: the 100 rows are back once recovery has
# ended; and (its own case) already when the helper returns.
# Stand-in: the test stage 2 has no systemd, so `systemctl stop|start postgresql.service` (which
# the helper runs) is a shell function running pg_ctl as postgres (lib/backups-stage2's PATH).

scenario() {
    source "$VM_ROOT/lib/zfs.sh"
    source "$VM_ROOT/lib/backups.sh"
    zfs_setup
    BACKUPS_DIR=$WORK/generated
    backups_config "$BACKUPS_DIR" || return 1
    [[ -s $BACKUPS_DIR/pitr/lethe-restore-postgresql ]] ||
        { echo "the module generates no lethe-restore-postgresql for the forge host: no pitr"; return 1; }
    cat >"$WORK/run.sh" <<'RUN'
set -u
G=/nix/stage2/backup
say() { echo "@@$*"; }
on() { say "STEP $* $(cut -d' ' -f1 /proc/uptime)"; }
mkdir -p /persist/zfs /etc/pgbackrest /run/postgresql /nix/stage2/bin
truncate -s 256M /persist/zfs/tank.img
zpool create tank /persist/zfs/tank.img || say "FAIL zpool create"
on datasets
jq 'del(.datasets.services[].restore)' $G/lethe.json >/tmp/lethe.json
/nix/stage2/lethe datasets --config /tmp/lethe.json >/tmp/out 2>&1; say "DATASETS-STATUS $?"
grep -E 'postgresql|pgbackrest' /tmp/out | sed 's/^/@@DATASETS /'
cp $G/pitr/pgbackrest.conf /etc/pgbackrest/pgbackrest.conf
DATA=$(sed -n 's/^pg1-path=//p' /etc/pgbackrest/pgbackrest.conf)
PGBIN=/usr/lib/postgresql/15/bin
chown postgres:postgres /run/postgresql
# Stand-in for systemd's postgresql.service (see the scenario's header).
cat >/nix/stage2/bin/systemctl <<SH
#!/usr/bin/bash
case "\$1 \$2" in
    "stop postgresql.service") exec runuser -u postgres -- $PGBIN/pg_ctl -D $DATA -m fast -w stop ;;
    "start postgresql.service") exec runuser -u postgres -- $PGBIN/pg_ctl -D $DATA -w -l /tmp/postgresql.log start ;;
    *) echo "systemctl stand-in: \$*: not supported" >&2; exit 1 ;;
esac
SH
chmod +x /nix/stage2/bin/systemctl
export PATH=/nix/stage2/bin:$PATH PGHOST=/run/postgresql
as_pg() { runuser -u postgres -- "$@"; }
psql() { as_pg $PGBIN/psql -X -q -t -A -v ON_ERROR_STOP=1 -d postgres "$@"; }

# The WAL dataset is declared with owner postgres, mode 0700: initdb (as postgres) makes its
# directory there.
say "WAL-OWNER $(stat -c '%U:%G %a' /var/lib/postgresql/wal)"
if [ "$(stat -c %U /var/lib/postgresql/wal)" != postgres ]; then
    # Named, so the rest of the recovery is still tried: a host would stop here.
    say "WORKAROUND chown postgres:postgres /var/lib/postgresql/wal (lethe datasets did not)"
    chown postgres:postgres /var/lib/postgresql/wal && chmod 0700 /var/lib/postgresql/wal
fi
on initdb
mapfile -t initdb_args <$G/pitr/initdb-args
say "INITDB-ARGS ${initdb_args[*]}"
as_pg $PGBIN/initdb -D "$DATA" --no-locale -E UTF8 -A trust "${initdb_args[@]}" >/tmp/out 2>&1; say "INITDB-STATUS $?"
tail -n 3 /tmp/out | sed 's/^/@@INITDB /'
{
    echo "# lethe's NixOS module (services.postgresql.settings):"
    cat $G/pitr/postgresql.conf
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '/run/postgresql'"
} >>"$DATA/postgresql.conf"
say "PG-WAL $(readlink "$DATA/pg_wal") on $(awk '$2 == "/var/lib/postgresql/wal" { print $1 }' /proc/mounts)"
systemctl start postgresql.service >/tmp/out 2>&1; say "PG-START-STATUS $?"
psql -c "show archive_command" | sed 's/^/@@ARCHIVE-COMMAND /'

on full-backup
mapfile -t pre <$G/pitr/full.ExecStartPre
mapfile -t full <$G/pitr/full.ExecStart
user=$(cat $G/pitr/full.User)
say "FULL-JOB ${pre[*]} ; ${full[*]} as $user"
runuser -u "$user" -- "${pre[@]}" >/tmp/out 2>&1; say "STANZA-CREATE-STATUS $?"
tail -n 2 /tmp/out | sed 's/^/@@STANZA /'
runuser -u "$user" -- "${full[@]}" >/tmp/out 2>&1; say "FULL-BACKUP-STATUS $?"
tail -n 2 /tmp/out | sed 's/^/@@FULL /'

on rows
psql -c "create table orders (id int primary key, item text)" -c "insert into orders select i, 'item ' || i from generate_series(1, 100) i"
say "ROWS-BEFORE $(psql -c 'select count(*) from orders')"
sleep 2
target=$(date -u '+%Y-%m-%d %H:%M:%S+00')
say "TARGET $target"
sleep 2
psql -c "drop table orders"
psql -c "select count(*) from orders" >/dev/null 2>&1 || say "TABLE-DROPPED"
# The drop's WAL segment archived (pgbackrest check switches the segment and waits for it).
as_pg pgbackrest --stanza=default check >/tmp/out 2>&1; say "CHECK-STATUS $?"

on restore
bash $G/pitr/lethe-restore-postgresql "$target" >/tmp/out 2>&1; say "HELPER-STATUS $?"
tail -n 4 /tmp/out | sed 's/^/@@HELPER /'
# What a user sees when the helper has returned: pg_ctl (like systemd's start of a hot-standby
# capable server) returns once connections are accepted, which can be before recovery ends.
say "IN-RECOVERY-AT-RETURN $(psql -c 'select pg_is_in_recovery()' 2>&1)"
say "ROWS-AT-RETURN $(psql -c 'select count(*) from orders' 2>&1)"
for i in $(seq 300); do [ "$(psql -c 'select pg_is_in_recovery()' 2>&1)" = f ] && break; sleep 1; done
say "RECOVERY-ENDED $(psql -c 'select pg_is_in_recovery()' 2>&1)"
say "ROWS-AFTER $(psql -c 'select count(*) from orders' 2>&1)"
say "ROW-42 $(psql -c 'select item from orders where id = 42' 2>&1)"
say "PG-WAL-AFTER $(readlink "$DATA/pg_wal")"
systemctl stop postgresql.service >/dev/null 2>&1
on done
zpool export tank
RUN
    local log=$WORK/serial.log
    backups_boot "$WORK/run.sh" "$log" || return 1
    check_case postgresql-with-the-generated-settings "$log" --want '@@DATASETS-STATUS 0' \
        --want '@@DATASETS create  tank/services/postgresql/wal' --want '@@INITDB-STATUS 0' \
        --want '@@PG-WAL /var/lib/postgresql/wal/.* on tank/services/postgresql/wal' --want '@@PG-START-STATUS 0' \
        --want '@@ARCHIVE-COMMAND /nix/store/[0-9]{32}-pgbackrest/bin/pgbackrest --stanza=default archive-push "%p"' \
        --want '@@RUN-STATUS 0 ' --want '@@STAGE2-DONE'
    check_case wal-dataset-owned-by-postgres "$log" --want '@@WAL-OWNER postgres:postgres 700' --refuse '@@WORKAROUND'
    check_case full-backup-by-the-generated-job "$log" --want '@@STANZA-CREATE-STATUS 0' --want '@@FULL-BACKUP-STATUS 0'
    check_case rows-back-at-the-time "$log" --want '@@ROWS-BEFORE 100' --want '@@TABLE-DROPPED' --want '@@CHECK-STATUS 0' \
        --want '@@HELPER-STATUS 0' --want '@@RECOVERY-ENDED f' --want '@@ROWS-AFTER 100$' --want '@@ROW-42 item 42' \
        --want '@@PG-WAL-AFTER /var/lib/postgresql/wal/'
    check_case restored-when-the-helper-returns "$log" --want '@@IN-RECOVERY-AT-RETURN f' --want '@@ROWS-AT-RETURN 100$'
    cases_verdict
}
