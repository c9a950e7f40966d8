# Point-in-time recovery with its repository in the Nix store.
{ lib, ... }:
{
  imports = [ ../hosts/forge-backups.nix ];
  lethe.datasets.services.postgresql.pitr.repo = lib.mkForce "/nix/store/00000000000000000000000000000000-repo";
}
