# Point-in-time recovery with a tool lethe does not know.
{ lib, ... }:
{
  imports = [ ../hosts/forge-backups.nix ];
  lethe.datasets.services.postgresql.pitr.tool = lib.mkForce "barman";
}
