# A local replica whose target is inside the dataset it copies: sonarr's replica would be
# tank/services/sonarr/replicas/sonarr.
{ lib, ... }:
{
  imports = [ ../hosts/forge-backups.nix ];
  lethe.datasets.replicas.local.target = lib.mkForce "tank/services/sonarr/replicas";
}
