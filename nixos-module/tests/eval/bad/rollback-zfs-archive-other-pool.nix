# The archive on another pool than the root: zfs rename cannot move a dataset between pools.
{ lib, ... }:
{
  imports = [ ../hosts/zfs-rollback.nix ];
  boot.initrd.lethe.rollback.archive = lib.mkForce "tank/old_roots";
}
