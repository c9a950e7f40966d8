# A typo in the rollback device: nothing opens /dev/mapper/cryptroot.
{ lib, ... }:
{
  imports = [ ../../../examples/forge.nix ];
  boot.initrd.lethe.rollback.device = lib.mkForce "/dev/mapper/cryptroot";
}
