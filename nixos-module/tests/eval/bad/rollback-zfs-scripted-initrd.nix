# A ZFS root's rollback in the scripted initrd: lethe's units (and the ordering after NixOS's
# zfs-import-POOL.service) need systemd in stage 1; the scripted initrd's ZFS import is a shell
# script with no place for them.
{ lib, ... }:
{
  imports = [ ../hosts/zfs-rollback.nix ];
  boot.initrd.systemd.enable = lib.mkForce false;
}
