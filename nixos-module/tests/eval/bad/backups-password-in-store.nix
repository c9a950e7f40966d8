# Secrets as Nix paths (copied into the world-readable store) or store paths.
{ lib, ... }:
{
  imports = [ ../hosts/forge-backups.nix ];
  lethe.datasets.resticRepositories.offsite.passwordFile = lib.mkForce ../../keys/restic-password;
  lethe.datasets.replicas.nas.sshKey = lib.mkForce "/nix/store/00000000000000000000000000000000-keys/syncoid_ed25519_key";
}
