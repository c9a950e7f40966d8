# The root is the pool's top dataset, which cannot be renamed.
{ lib, ... }:
{
  imports = [ ../hosts/zfs-rollback.nix ];
  fileSystems."/".device = lib.mkForce "rpool";
  boot.initrd.lethe.rollback.archive = lib.mkForce "rpool/old_roots";
  boot.initrd.lethe.rollback.blankSnapshot = lib.mkForce null;
}
