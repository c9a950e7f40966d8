# A service restores from a source the host never defines.
{
  imports = [ ../hosts/forge-backups.nix ];
  lethe.datasets.services.postgresql.restore = [ "tape" ];
}
