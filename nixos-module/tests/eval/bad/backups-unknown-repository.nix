# A service backs up to a restic repository the host never defines.
{
  imports = [ ../hosts/forge-backups.nix ];
  lethe.datasets.services.plex.backup.restic = [ "nas" ];
}
