# A restic path outside the dataset: restic reads a snapshot of the dataset alone.
{ lib, ... }:
{
  imports = [ ../hosts/forge-backups.nix ];
  lethe.datasets.services.sonarr.backup.restic = lib.mkForce [
    {
      repository = "offsite";
      paths = [
        "/var/lib/sonarr/Backups"
        "/var/lib/plex"
        "../plex"
      ];
    }
  ];
}
