# A backup tool lethe does not set up.
{
  imports = [ ../hosts/forge-backups.nix ];
  lethe.datasets.services.plex.backup.borg = [ "offsite" ];
}
