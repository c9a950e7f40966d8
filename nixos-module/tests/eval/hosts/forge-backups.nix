# The forge example host with its services' snapshots, replicas and backups: one snapshot
# policy, a local replica on a second pool and one on the NAS over SSH, and an off-site restic
# repository. backups.nix turns these lines into services.sanoid, services.syncoid and
# services.restic settings (expected/forge-backups.wiring.json, "backups").
{
  imports = [ ../../../examples/forge.nix ];
  lethe.datasets = {
    snapshotPolicies.services = {
      hourly = 24;
      daily = 30;
      monthly = 6;
    };
    replicas = {
      local.target = "backup/forge";
      nas = {
        target = "syncoid@nas:tank/replicas/forge";
        sshKey = "/persist/etc/lethe/syncoid_ed25519_key";
      };
    };
    resticRepositories.offsite = {
      repositoryFile = "/persist/etc/restic/offsite.repository";
      passwordFile = "/persist/etc/restic/offsite.password";
      pruneOpts = [
        "--keep-daily 7"
        "--keep-weekly 5"
        "--keep-monthly 12"
      ];
    };
    services = {
      sonarr = {
        snapshots = "services";
        replicateTo = [
          "local"
          "nas"
        ];
        backup.restic = [ "offsite" ];
        # Empty on a fresh host: restored from the first of these that has data.
        restore = [
          "local"
          "nas"
          "offsite"
        ];
      };
      home-assistant = {
        snapshots = "services";
        replicateTo = [ "local" ];
        backup.restic = [
          {
            repository = "offsite";
            paths = [ "/persist/services/home-assistant/backups" ];
          }
        ];
        restore = [
          "local"
          "offsite"
        ];
      };
      postgresql = {
        snapshots = "services";
        replicateTo = [ "local" ];
        # Point-in-time recovery: pgBackRest's repository on a dataset of its own; the WAL moves
        # to the child dataset tank/services/postgresql/wal.
        pitr = {
          tool = "pgbackrest";
          repo = "pgbackrest";
          full = "Sun 01:00";
          diff = "Mon..Sat 01:00";
        };
      };
      # pgBackRest's repository, written by PostgreSQL's archive_command and by the backup
      # jobs, all as postgres.
      pgbackrest = {
        recordsize = "1M";
        compression = "lz4";
        mountpoint = "/var/lib/pgbackrest";
        owner = "postgres";
        group = "postgres";
        mode = "0700";
      };
    };
    # A dataset outside parentDataset, named in full, takes the same fields.
    "tank/media" = {
      mountpoint = "/srv/media";
      snapshots = "services";
      replicateTo = [ "nas" ];
    };
  };
  # Everything generated is a default: the host's own value wins (48, not the policy's 24).
  services.sanoid.templates.services.hourly = 48;
}
