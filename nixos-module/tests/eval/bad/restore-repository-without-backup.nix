# A restic repository this dataset never backs up to holds nothing to restore it from.
{
  imports = [ ../hosts/forge-backups.nix ];
  lethe.datasets.services.postgresql.restore = [ "offsite" ];
}
