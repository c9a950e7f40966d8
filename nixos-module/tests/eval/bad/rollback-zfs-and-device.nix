# A btrfs device on a host whose root is ZFS.
{ lib, ... }:
{
  imports = [ ../hosts/zfs-rollback.nix ];
  boot.initrd.lethe.rollback.device = lib.mkForce "/dev/mapper/crypted";
}
