# A blank snapshot on another pool: a clone stays in its snapshot's pool.
{ lib, ... }:
{
  imports = [ ../hosts/zfs-rollback.nix ];
  boot.initrd.lethe.rollback.blankSnapshot = lib.mkForce "tank/blank@empty";
}
