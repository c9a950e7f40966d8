# Point-in-time recovery into a repository that is neither a lethe dataset nor a path.
{ lib, ... }:
{
  imports = [ ../hosts/forge-backups.nix ];
  lethe.datasets.services.postgresql.pitr.repo = lib.mkForce "pgbackrest-repo";
}
