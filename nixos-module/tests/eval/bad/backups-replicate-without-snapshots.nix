# A replica with no snapshot policy: syncoid (--no-sync-snap) would have nothing to send.
{
  imports = [ ../hosts/forge-backups.nix ];
  lethe.datasets.services.plex.replicateTo = [ "local" ];
}
