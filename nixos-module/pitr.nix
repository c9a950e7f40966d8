# PostgreSQL point-in-time recovery from lethe.datasets.services.<name>.pitr: pgBackRest's
# repository, stanza and backup jobs (services.pgbackrest), PostgreSQL's WAL archiving, the WAL
# on a child dataset of the data's, and the `lethe-restore-postgresql TIME` helper. Every value
# is a default the host can override.
#
# The layout: the service's dataset (recordsize 8K, PostgreSQL's page) holds the cluster
# (services.postgresql.dataDir, e.g. /var/lib/postgresql/16); its child `<dataset>/wal`
# (recordsize 128K: the WAL is written sequentially in 16 MiB segments and read back whole, so
# large records cost nothing and compress better) is mounted at `<path>/wal` and holds pg_wal
# (`initdb --waldir`, a symlink from the cluster). Both under one parent, so one `zfs snapshot
# -r` (sanoid's `recursive = "zfs"`) is atomic across data and WAL: a snapshot is a crash image
# PostgreSQL recovers from. Two siblings under the services' parent would need a recursive
# snapshot of every service to be consistent.
{ config
, lib
, pkgs
, ...
}:
let
  inherit (lib) mkDefault;
  cfg = config.lethe.datasets;
  pg = config.services.postgresql;
  withPitr = lib.filterAttrs (_: s: s.pitr != null) cfg.services;
  names = lib.attrNames withPitr;
  name = lib.head names;
  s = withPitr.${name};
  p = s.pitr;
  option = "lethe.datasets.services.${name}.pitr";
  others = lib.removeAttrs cfg [ "parentDataset" "parentMount" "services" "snapshotPolicies" "replicas" "resticRepositories" "_module" ];
  # repo: a lethe dataset's path, or an absolute path.
  repoPath =
    if cfg.services ? ${p.repo} then cfg.services.${p.repo}.path
    else if others ? ${p.repo} then others.${p.repo}.mountpoint
    else if lib.hasPrefix "/" p.repo then p.repo
    else null;
  stanza = "default";
  pgbackrest = "${pkgs.pgbackrest}/bin/pgbackrest";
  walPath = "${s.path}/wal";
  walDir = "${walPath}/${baseNameOf pg.dataDir}";
  helper = pkgs.writeShellScriptBin "lethe-restore-postgresql" ''
    # lethe-restore-postgresql TIME: PostgreSQL as it was at TIME (like "2026-12-03 14:05:00+00"),
    # from pgBackRest's backups and archived WAL. Stops PostgreSQL, restores in place (--delta:
    # only the files that differ are rewritten), replays the WAL up to TIME, promotes, starts.
    set -euo pipefail
    if [ $# -ne 1 ] || [ -z "$1" ]; then
      echo "usage: lethe-restore-postgresql TIME   (TIME like \"2026-12-03 14:05:00+00\")" >&2
      exit 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
      echo "lethe-restore-postgresql: run it as root (it stops and starts postgresql.service)" >&2
      exit 1
    fi
    systemctl stop postgresql.service
    # As the cluster's owner; --link-all keeps pg_wal a link to the WAL dataset.
    ${pkgs.util-linux}/bin/runuser -u postgres -- ${pgbackrest} --stanza=${stanza} restore \
      --type=time --target="$1" --target-action=promote --delta --link-all
    systemctl start postgresql.service
    # The server accepts (read-only) connections while it still replays the WAL: return only
    # once recovery has ended and the restored rows are what a client sees. (psql from the
    # system's PATH: NixOS's postgresql module puts the server's package there.)
    for _ in $(${pkgs.coreutils}/bin/seq 600); do
      if [ "$(${pkgs.util-linux}/bin/runuser -u postgres -- psql -Atc 'select pg_is_in_recovery()' 2>/dev/null)" = f ]; then
        echo "lethe-restore-postgresql: PostgreSQL restored to $1 and started"
        exit 0
      fi
      sleep 1
    done
    echo "lethe-restore-postgresql: PostgreSQL was started but is still recovering after 600 s: see journalctl -u postgresql.service" >&2
    exit 1
  '';
  refused = names == [ ] || lib.length names > 1 || p.tool != "pgbackrest" || repoPath == null || s.path == null;
in
{
  config = lib.mkMerge [
    (lib.mkIf (names != [ ] && !refused) {
      # Written into lethe's JSON (not lethe.datasets, whose names this module reads), as
      # defaults: the WAL dataset.
      lethe.config.datasets."${s.dataset}/wal" = lib.mapAttrs (_: mkDefault) {
        # Named, not inherited: lethe sets owner and mode only on a dataset whose mountpoint
        # it is given, and initdb --waldir needs the directory to be postgres'.
        mountpoint = walPath;
        recordsize = "128K";
        compression = "lz4";
        owner = "postgres";
        group = "postgres";
        mode = "0700";
      };
      # Atomic across data and WAL.
      services.sanoid.datasets = lib.mkIf (s.snapshots != null) { ${s.dataset}.recursive = mkDefault "zfs"; };
      services.syncoid.commands = lib.listToAttrs (map (r: lib.nameValuePair "${name}-${r}" { recursive = mkDefault true; }) s.replicateTo);

      services.postgresql = {
        initdbArgs = [ "--waldir=${walDir}" ];
        settings = {
          archive_mode = mkDefault "on";
          archive_command = mkDefault ''${pgbackrest} --stanza=${stanza} archive-push "%p"'';
        };
      };
      services.pgbackrest = {
        enable = mkDefault true;
        repos.localhost = {
          path = mkDefault repoPath;
          retention-full = mkDefault p.retentionFull;
        };
        stanzas.${stanza} = {
          instances.localhost = {
            path = mkDefault pg.dataDir;
            user = mkDefault "postgres";
          };
          jobs = {
            full = {
              schedule = mkDefault p.full;
              type = "full";
            };
          }
          // lib.optionalAttrs (p.diff != null) {
            diff = {
              schedule = mkDefault p.diff;
              type = "diff";
            };
          };
        };
      };
      # The jobs read the cluster and write the repository: both datasets exist first. They
      # run as postgres, like archive-push (PostgreSQL's archive_command): pgBackRest makes the
      # repository's directories 0750 for the user that creates them, so a second user
      # (NixOS's default is pgbackrest) could not write the WAL archive of the first.
      systemd.services = lib.listToAttrs (map
        (j: lib.nameValuePair "pgbackrest-${stanza}-${j}" {
          after = [ "lethe-datasets.service" ];
          requires = [ "lethe-datasets.service" ];
          serviceConfig = {
            User = lib.mkForce "postgres";
            Group = lib.mkForce "postgres";
          };
        })
        ([ "full" ] ++ lib.optional (p.diff != null) "diff"));
      environment.systemPackages = [ helper ];
    })
    {
      assertions = lib.optionals (names != [ ]) [
        {
          assertion = lib.length names == 1;
          message = "lethe.datasets: pitr is set on several services (${lib.concatStringsSep ", " names}): one PostgreSQL per host has it.";
        }
        {
          assertion = p.tool == "pgbackrest";
          message = "${option}.tool = \"${p.tool}\": unknown tool (lethe knows \"pgbackrest\").";
        }
        {
          assertion = repoPath != null;
          message = "${option}.repo = \"${p.repo}\": not a dataset of lethe.datasets (a service name, or a full dataset name with a mountpoint) nor an absolute path.";
        }
        {
          assertion = s.path != null;
          message = "${option}: the dataset has no mountpoint path (the WAL dataset is mounted below it).";
        }
        {
          assertion = !(lib.hasPrefix "${builtins.storeDir}/" (toString repoPath));
          message = "${option}.repo: the repository must not be in the Nix store.";
        }
      ];
    }
  ];
}
