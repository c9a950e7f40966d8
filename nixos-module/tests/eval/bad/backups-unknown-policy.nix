# A service names a snapshot policy the host never defines.
{
  imports = [ ../hosts/forge-backups.nix ];
  lethe.datasets.services.plex.snapshots = "hourly";
}
