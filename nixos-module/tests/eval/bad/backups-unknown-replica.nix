# A service replicates to a replica the host never defines.
{
  imports = [ ../hosts/forge-backups.nix ];
  lethe.datasets.services.postgresql.replicateTo = [ "offsite" ];
}
