# The option declarations of snapshots, replicas and backups, read by datasets.nix (they live in
# lethe.datasets; backups.nix turns them into sanoid, syncoid and restic settings):
#   perDataset  the fields a service (lethe.datasets.services.<name>) or a full-name dataset
#               takes: which named policies apply to it
#   policies    the policies, named once per host at the top of lethe.datasets
# Secret files (SSH keys, restic passwords, repository files) are strings naming a file on the
# host; a Nix path is accepted by the type only so that backups.nix can refuse it by name (it
# would be copied into the world-readable store).
{ lib }:
let
  inherit (lib) mkOption types;
  file = types.either types.str types.path;
  count =
    what:
    mkOption {
      type = types.ints.unsigned;
      default = 0;
      description = "How many ${what} snapshots sanoid keeps (0: none).";
    };
  resticBackup = types.coercedTo types.str (repository: { inherit repository; }) (
    types.submodule {
      options = {
        repository = mkOption {
          type = types.str;
          description = "The name of a repository of lethe.datasets.resticRepositories.";
        };
        paths = mkOption {
          type = types.listOf types.str;
          default = [ ];
          description = ''
            What to back up, inside the dataset: absolute paths under its mountpoint or paths
            relative to its root (default: the whole dataset).
          '';
        };
      };
    }
  );
in
{
  perDataset = {
    restore = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [
        "local"
        "nas"
        "offsite"
      ];
      description = ''
        Where to restore this dataset from when `lethe datasets` finds it missing (or empty and
        never restored), in order of preference: names of lethe.datasets.replicas (a local pool,
        or a host over SSH) and of lethe.datasets.resticRepositories (one this dataset backs up
        to). The first source that has data is used; when every source answers that it holds
        nothing, the dataset is created empty; when one cannot be asked, nothing is created and
        the service does not start. Network sources run in `lethe-restore-<name>.service`, after
        `network-online.target` and before the units of `restoreBefore`, which require it.
      '';
    };
    pitr = mkOption {
      default = null;
      description = ''
        PostgreSQL point-in-time recovery for this service's dataset (the PostgreSQL service's
        dataset: services.postgresql.dataDir lives on it). lethe adds a child dataset
        `<dataset>/wal` (recordsize 128K, mounted at `<path>/wal`) for the write-ahead log
        (`initdb --waldir`), so a recursive snapshot of the dataset holds data and WAL from one
        instant; it generates services.pgbackrest (the repository, the `default` stanza, the
        backup jobs) and PostgreSQL's `archive_command`, and installs
        `lethe-restore-postgresql TIME`.
      '';
      type = types.nullOr (
        types.submodule {
          options = {
            tool = mkOption {
              type = types.str;
              example = "pgbackrest";
              description = "The backup tool: `pgbackrest` is the one lethe knows.";
            };
            repo = mkOption {
              type = types.str;
              example = "pgbackrest";
              description = ''
                Where pgBackRest keeps its repository: the name of a lethe dataset
                (a service of lethe.datasets.services, or a full-name dataset), whose path is
                used, or an absolute path.
              '';
            };
            full = mkOption {
              type = types.str;
              example = "Sun 01:00";
              description = "When a full backup runs (systemd OnCalendar).";
            };
            diff = mkOption {
              type = types.nullOr types.str;
              default = null;
              example = "Mon..Sat 01:00";
              description = "When a differential backup runs (systemd OnCalendar); none when null.";
            };
            retentionFull = mkOption {
              type = types.ints.positive;
              default = 2;
              description = "How many full backups pgBackRest keeps (repo1-retention-full), with the WAL to replay them.";
            };
          };
        }
      );
    };
    restoreBefore = mkOption {
      type = types.nullOr (types.listOf types.str);
      default = null;
      description = ''
        The units that must not start before the restore (they `Requires=` and order after
        `lethe-restore-<name>.service`). Default: `<name>.service` for a service, none for a
        full-name dataset.
      '';
    };
    snapshots = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "The snapshot policy (a name of lethe.datasets.snapshotPolicies) sanoid applies to this dataset.";
    };
    replicateTo = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Replicas (names of lethe.datasets.replicas) syncoid sends this dataset's snapshots to; needs `snapshots`.";
    };
    backup = mkOption {
      type = types.attrsOf (types.listOf resticBackup);
      default = { };
      example = lib.literalExpression ''{ restic = [ "offsite" ]; }'';
      description = ''
        Backups by tool: `restic` is the one tool today. Each entry names a repository of
        lethe.datasets.resticRepositories, or is `{ repository; paths; }`. restic reads a ZFS
        snapshot of the dataset, mounted read-only under `/run/lethe/backup/<job>`.
      '';
    };
  };

  policies = {
    snapshotPolicies = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            hourly = count "hourly";
            daily = count "daily";
            monthly = count "monthly";
            yearly = count "yearly";
          };
        }
      );
      default = { };
      example = lib.literalExpression "{ services = { hourly = 24; daily = 30; monthly = 6; }; }";
      description = "Snapshot policies by name: each becomes a sanoid template (`services.sanoid.templates.<name>`).";
    };
    replicas = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            target = mkOption {
              type = types.str;
              example = "syncoid@nas:backup/forge";
              description = ''
                Where replicas go: a local dataset (`backup/forge`) or `user@host:pool/path`. A
                dataset's replica is `<target>/<service name>` (a full-name dataset's: its name
                with `/` as `-`); its parent must exist.
              '';
            };
            sshKey = mkOption {
              type = types.nullOr file;
              default = null;
              description = "The SSH private key syncoid logs in with, for a remote target: a file on the host, never a Nix path.";
            };
          };
        }
      );
      default = { };
      description = "Replica targets by name, for syncoid (services.syncoid.commands).";
    };
    resticRepositories = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            repository = mkOption {
              type = types.nullOr types.str;
              default = null;
              example = "sftp:backup@nas:/srv/restic/forge";
              description = "The repository's URL or path (or give repositoryFile).";
            };
            repositoryFile = mkOption {
              type = types.nullOr file;
              default = null;
              description = "A file on the host holding the repository's URL (when the URL holds credentials).";
            };
            passwordFile = mkOption {
              type = file;
              description = "A file on the host holding the repository's password, never a Nix path.";
            };
            pruneOpts = mkOption {
              type = types.listOf types.str;
              default = [ ];
              example = [
                "--keep-daily 7"
                "--keep-weekly 5"
              ];
              description = "Options of `restic forget --prune`, run after each backup (none: nothing is pruned).";
            };
          };
        }
      );
      default = { };
      description = "restic repositories by name (`services.restic.backups.<job>`, one job per dataset and repository).";
    };
  };
}
